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
// here, typing), names.js (people by name), direct.js (direct conversations) and
// directory.js (public rooms, joining).

import { setUpAccount } from "./account.js";
import { setUpAddress } from "./address.js";
import { api } from "./api.js";
import { setUpAttachments } from "./attachments.js";
import { setUpAttention } from "./attention.js";
import { setUpChanges, showDeletesAgain } from "./changes.js";
import { setUpContext } from "./context.js";
import { openDirect, setUpDirect } from "./direct.js";
import { setUpDirectory } from "./directory.js";
import { resumeSession, setUpLogin } from "./login.js";
import { decoratePerson, moderates, owns, setUpModeration } from "./moderation.js";
import { showError, showNotice } from "./notices.js";
import { setUpPeople, showPeopleAgain } from "./people.js";
import { requoted, setUpReplies } from "./replies.js";
import { setUpReports } from "./reports.js";
import { setUpRoomSettings } from "./room-settings.js";
import {
  leftRoom, listedRoom, loadRooms, openMessage, setUpRooms, showRunning,
} from "./rooms.js";
import { keepNewestInView } from "./scrolling.js";
import { setUpSearch } from "./search.js";
import { setUpSending } from "./sending.js";
import { renewNow } from "./session.js";
import { send } from "./socket.js";
import { state } from "./state.js";
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
});

setUpPeople({
  api,
  me: () => state.me?.uid,
  avatar,
  open: openDirect,
  decorate: decoratePerson,
});

// Running a room: roles, the person menu, reports, leaving (moderation.js), settings and
// the composer's slow mode and mutes (room-settings.js), the reports view (reports.js).
const roomName = (roomId) => listedRoom(roomId).name;
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

// Your account: your data, and deleting the account (account.js). Once deleted, the
// session is gone on the server already: the page only forgets it and starts again.
setUpAccount({
  api,
  erased: (message) => {
    sessionStorage.setItem("chat.notice", message);
    state.leaving = true;
    if (state.ws) state.ws.close(1000, "account deleted");
    location.reload();
  },
});

document.addEventListener("DOMContentLoaded", () => {
  setUpLogin();       // the login form, Log out
  setUpTimeline();    // Load older messages
  setUpRooms();       // the side panel's button, the invite and create-room forms
  setUpAddress();     // back, forward, an address typed
  setUpSending();     // the send form and its composer
  keepNewestInView($("#messages"));
  setUpDirectory();   // a link to a room
  setUpDirect();      // Write to (a name)

  const notice = sessionStorage.getItem("chat.notice");
  if (notice) {
    sessionStorage.removeItem("chat.notice");
    showError(notice);
  }
  setUpAttention({
    api,
    me: () => state.me?.uid,
    shown: () => state.shown,
    recount: loadUnread,
    roomName: (roomId) => listedRoom(roomId).name,
    open: openMessage,
    notice: showNotice,
    error: showError,
  });

  resumeSession();
});
