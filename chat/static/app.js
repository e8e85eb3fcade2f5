// The browser client: one page, one WebSocket (the room protocol on /ws), the HTTP API
// for everything else. User text is only ever put into the page with textContent (or as
// text nodes: markdown.js, which formats messages, builds its elements itself), and the
// page's Content-Security-Policy forbids inline scripts.
//
// This module starts the page and wires its modules together: it lends each feature
// module what it needs (its setUp...), and sets up the page's own parts once it is loaded.
// Those are in modules of their own, by concern: state.js (the state they share), api.js
// (HTTP), notices.js (errors, notices, the connection's state), login.js, address.js
// (the room in the address), socket.js (the WebSocket and its frames), rooms.js (the room
// list, entering a room), timeline.js (a room's messages), sending.js (the composer and
// our messages until confirmed), unread.js (counts and read markers), presence.js (who is
// here, typing), names.js (people by name), direct.js (direct conversations),
// directory.js (public rooms, joining), status.js (statuses beside names, ours),
// threads.js (threads: their summaries, the thread panel) and thread-list.js (the
// threads followed: the Threads view).

import { setUpAccount } from "./account.js";
import { setUpAdmin } from "./admin.js";
import { roomInAddress, setUpAddress } from "./address.js";
import { api } from "./api.js";
import { setUpAttachments } from "./attachments.js";
import { setUpAttention } from "./attention.js";
import { setUpChanges, showDeletesAgain } from "./changes.js";
import { setUpContext } from "./context.js";
import { openDirect, setUpDirect } from "./direct.js";
import { setUpDirectory } from "./directory.js";
import { setUpDrafts } from "./drafts.js";
import { openLinkPage, setUpEmail } from "./email.js";
import { isGroupDirect } from "./group-direct.js";
import { focusComposer, setUpKeyboard } from "./keyboard.js";
import { logout, resumeSession, setUpLogin } from "./login.js";
import { setUpSingleSignOn } from "./single-sign-on.js";
import { decoratePerson, moderates, owns, setUpModeration } from "./moderation.js";
import { showOffline, startOffline } from "./offline.js";
import { showError, showNotice } from "./notices.js";
import { setUpPeople, showPeopleAgain } from "./people.js";
import { setUpPhone } from "./phone.js";
import { setUpPins } from "./pins.js";
import { setUpPreviews } from "./previews.js";
import { requoted, setUpReplies } from "./replies.js";
import { closeReports, setUpReports } from "./reports.js";
import { setUpRoomSettings } from "./room-settings.js";
import {
  enter, leftRoom, listedRoom, loadRooms, openMessage, setUpRooms, showMenu, showRunning,
} from "./rooms.js";
import { setUpReading } from "./reading.js";
import { keepNewestInView } from "./scrolling.js";
import { closeSaved, setUpSaved } from "./saved.js";
import { closeSearch, setUpSearch } from "./search.js";
import { setUpSending } from "./sending.js";
import { doNotDisturb, setUpStatus, shownAs, statusBadge } from "./status.js";
import { renewNow, signOut } from "./session.js";
import { send } from "./socket.js";
import { state } from "./state.js";
import { addThemeSwitch } from "./theme.js";
import { closeThreadList, setUpThreadList, threadsChanged } from "./thread-list.js";
import { openThread, setUpThreads } from "./threads.js";
import { addMessages, avatar, changed, loadRoom, setUpTimeline } from "./timeline.js";
import { loadUnread } from "./unread.js";

const $ = (selector) => document.querySelector(selector);

setUpChanges({
  me: () => state.me.uid,
  room: () => state.shown,
  send,
  api,
  names: state.names,
  // The author, or a moderator or owner of a group room (the server says so too).
  mayDelete: (author) => author === state.me.uid || moderates(state.shown),
  changed: requoted,
});

setUpAttachments({ token: () => state.token, renew: renewNow });
setUpPreviews({ mayRemove: (author) => author === state.me.uid || moderates(state.shown) });
setUpReplies({ show: (messageId) => openMessage(state.shown, messageId) });

setUpContext({
  api,
  add: (messages) => addMessages(messages, { follow: false }),
  changed,
  latest: () => loadRoom(state.shown),
  error: showError,
});

setUpSearch({
  api,
  shown: () => state.shown,
  room: listedRoom,
  open: openMessage,
  openThread: openThreadIn,
});

// A thread's panel in its room (a search result), once the room search.js opens at the
// result is shown (its "entered", 5 s at most): threads.js would enter it again.
async function openThreadIn(roomId, rootId) {
  for (let waited = 0; state.shown !== roomId && waited < 5000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (state.shown === roomId) openThread(roomId, rootId);
}

// Saved messages (saved.js): Save on each message, the list from the account screen.
setUpSaved({ api, room: listedRoom, open: openMessage, error: showError });
// Pinned messages (pins.js): the header's list, and Pin or Unpin for moderators.
setUpPins({ api, shown: () => state.shown, moderates, open: openMessage, error: showError });
// Threads (threads.js): Thread (reply in thread), the summaries under roots, the thread
// panel; the threads followed (thread-list.js), each opening in its room's panel.
setUpThreads({
  api,
  avatar,
  enter,
  showRoom: () => {
    closeSearch();
    closeReports();
    closeSaved();
  },
});
setUpThreadList({ api, room: listedRoom, open: openThread, fold: () => showMenu(false) });

setUpPeople({
  api,
  me: () => state.me?.uid,
  avatar,
  open: openDirect,
  decorate: decoratePerson,
  away: shownAs,        // "away", "do not disturb" by their status (status.js)
  badge: statusBadge,
});

// Running a room: roles, the person menu, reports, leaving (moderation.js), settings and
// the composer's slow mode and mutes (room-settings.js), the reports view (reports.js).
// (A group conversation is called after its members: "the conversation with bob, cat".)
const roomName = (roomId) => `${isGroupDirect(roomId) ? "the conversation " : ""}${listedRoom(roomId).name}`;
const isGroup = (roomId) => roomId !== null && roomId !== state.lobby && !state.direct.has(roomId);
setUpModeration({
  api,
  me: () => state.me?.uid,
  shown: () => state.shown,
  group: isGroup,
  roomName,
  gone: leftRoom,
  changed: (roomId) => {
    if (roomId !== state.shown) return;
    showRunning(roomId);
    showDeletesAgain();
    showPeopleAgain();
  },
  notice: showNotice,
  error: showError,
});
setUpRoomSettings({
  api,
  shown: () => state.shown,
  moderates,
  owns,
  relist: loadRooms,
  renamed: (roomId, name) => { if (roomId === state.shown) $("#room-name").textContent = name; },
});
setUpReports({ api, shown: () => state.shown, moderates, open: openMessage, roomName });

// Your account (account.js): display name, picture, password, sessions, your data, and
// deleting the account. Once deleted, the session is gone on the server already: the
// page only forgets it (nothing may sign it out to the login page any more), and
// account.js shows the page that says so.
setUpAccount({
  api,
  erased: () => {
    state.accountDeleted = true;
    state.leaving = true;
    if (state.ws) state.ws.close(1000, "account deleted");
    signOut();
  },
  signedOut: logout,
});
// The operators' console (admin.js), for operators only.
setUpAdmin({ api, me: () => state.me?.uid });
// Statuses (status.js): ours set in the account screen, everyone's beside their name.
// After setUpAccount: its Account button empties the screen's forms, then ours fills in.
setUpStatus({ api, me: () => state.me?.uid, changed: showPeopleAgain });

document.addEventListener("DOMContentLoaded", () => {
  setUpLogin();       // the login form, Log out
  setUpSingleSignOn(showError);   // "Sign in with ..." links, a failed sign-in's reason
  setUpTimeline();    // Load older messages
  setUpRooms();       // the side panel's button, the invite and create-room forms
  setUpAddress();     // back, forward, an address typed
  setUpSending();     // the send form and its composer
  setUpDrafts({ me: () => state.me?.uid ?? null, shown: () => state.shown });
  keepNewestInView($("#messages"));
  setUpReading();     // what is seen, the "N new messages" button
  setUpDirectory();   // a link to a room
  setUpDirect();      // Write to (a name)
  setUpPhone();       // a phone's menus: search, the room's tools, each message's actions
  setUpKeyboard({
    rooms: () => [...document.querySelectorAll("#rooms button[data-kind=group]")]
      .map((button) => ({ id: Number(button.dataset.room), name: listedRoom(button.dataset.room).name })),
    people: () => [...state.names]
      .filter(([uid, name]) => uid !== state.me?.uid && name !== `#${uid}`)
      .map(([uid, name]) => ({ uid, name })),
    search: async (prefix) => (await api("GET", `/users?prefix=${encodeURIComponent(prefix)}`))
      .filter(({ UID }) => UID !== state.me?.uid)
      .map(({ UID, Username }) => ({ uid: UID, name: Username })),
    enter: (roomId) => {
      closeThreadList();
      if (roomId !== state.room) enter(roomId);
      else focusComposer();
    },
    openDirect,
    closePanel: () => {
      if ($("#chat-view").dataset.menu !== "open" || $("#menu").offsetParent === null) return false;
      showMenu(false);
      $("#menu").focus();
      return true;
    },
  });
  addThemeSwitch($("#appearance"));  // the account screen's theme switch

  const notice = sessionStorage.getItem("chat.notice");
  if (notice) {
    sessionStorage.removeItem("chat.notice");
    showError(notice);
  }
  setUpAttention({
    api,
    me: () => state.me?.uid,
    shown: () => state.shown,
    // Activity elsewhere: the rooms' counts, and the followed threads' (a reply there).
    recount: () => {
      loadUnread();
      threadsChanged();
    },
    roomName: (roomId) => listedRoom(roomId).name,
    open: openMessage,
    notice: showNotice,
    error: showError,
    quiet: doNotDisturb,   // our status says do not disturb: no desktop notifications
  });

  startOffline();     // the service worker, and the files it serves offline
  setUpEmail();       // the account screen's address, Forgot password?
  if (openLinkPage()) return;   // a mailed link's page: no session is resumed under it
  resumeSession(() => showOffline({
    show: (messages) => addMessages(messages),
    roomInAddress,
  }));
});
