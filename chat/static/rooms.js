// The room list and moving between rooms: the side panel's list (GET /rooms/details),
// entering a room and what the page shows once in it, leaving one, a message brought
// into view in its room; the invite and create-room forms, and the side panel folding
// away on a narrow screen.

import { showInAddress } from "./address.js";
import { api } from "./api.js";
import { levelsFrom, roomShown } from "./attention.js";
import { showFound } from "./context.js";
import { switchDraft } from "./drafts.js";
import { loadDirectory } from "./directory.js";
import { addToGroup, groupLabel, isGroupDirect, showGroupAdd } from "./group-direct.js";
import { focusComposer } from "./keyboard.js";
import { owns, rolesFrom, showRoomActions } from "./moderation.js";
import { showRoomLink } from "./links.js";
import { findUser, learnName, suggestPeople } from "./names.js";
import { clearError, clearNotice, showError, showNotice } from "./notices.js";
import { showPeopleOf } from "./people.js";
import { showPins } from "./pins.js";
import { stoppedTyping } from "./presence.js";
import { closeReports, showReportsButton } from "./reports.js";
import { roomsDescribed, showRoomInfo } from "./room-settings.js";
import { closeSaved } from "./saved.js";
import { closeSearch } from "./search.js";
import { resendTo } from "./sending.js";
import { send } from "./socket.js";
import { state } from "./state.js";
import { showThreads } from "./threads.js";
import { HISTORY_PAGE, loadRoom } from "./timeline.js";
import { loadUnread, sendRead, showUnread } from "./unread.js";

const $ = (selector) => document.querySelector(selector);

// One request for the whole list, however many rooms (GET /rooms/details: each room
// described, a direct conversation with its two users' names). The list is built aside
// and swapped in at once: loads may overlap (a first direct message arriving during
// another), and each must show a whole list, never a mix.
export async function loadRooms() {
  try {
    const rooms = await api("GET", "/rooms/details");
    levelsFrom(rooms);
    rolesFrom(rooms);
    roomsDescribed(rooms);
    state.lobby = rooms[0].RoomID;
    state.rooms = new Set(rooms.map(({ RoomID }) => RoomID));
    state.groups.clear();
    const items = [];
    for (const room of rooms) {
      const id = room.RoomID;
      let label = room.Name;
      if (Array.isArray(room.UIDs)) {
        state.direct.set(id, room.UIDs);
        for (const { UID, Username } of room.Users) learnName(UID, Username);
        const other = room.UIDs[0] === state.me.uid ? room.UIDs[1] : room.UIDs[0];
        label = `with ${state.names.get(other)}`;
      } else if (Array.isArray(room.Members)) {
        label = groupLabel(room);   // a group conversation: named after its members
        if (id === state.shown) $("#room-name").textContent = label;
      }
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.room = String(id);
      const direct = state.direct.has(id) || isGroupDirect(id);
      button.dataset.kind = direct ? "direct" : "group";
      button.textContent = label;
      if (room.IsPrivate && !direct) {
        // A private group room carries a lock: only those invited can see or join it.
        const lock = document.createElement("span");
        lock.className = "lock";
        lock.textContent = "🔒";
        lock.title = "private";
        lock.setAttribute("role", "img");
        lock.setAttribute("aria-label", "private");
        button.prepend(lock);
      }
      button.setAttribute("aria-current", String(id === state.room));
      button.addEventListener("click", () => enter(id));
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.room = String(id);
      const item = document.createElement("li");
      item.append(button, badge);
      items.push(item);
    }
    $("#rooms").replaceChildren(...items);
    showUnread();
    loadUnread();
    loadDirectory();
  } catch (error) {
    showError(error.message);
  }
}

// A room as the list shows it: { name, kind ("group" or "direct") }.
export function listedRoom(roomId) {
  const listed = document.querySelector(`#rooms button[data-room="${roomId}"]`);
  return { name: listed?.textContent.replace("🔒", "") ?? "a room", kind: listed?.dataset.kind };
}

export function enter(roomId) {
  clearError();
  clearNotice();
  closeSearch();
  closeReports();
  closeSaved();
  if (send(enterFrame(roomId))) state.room = roomId;
}

// Presence as lists: a room of hundreds is one frame, drawn once. The room's newest page
// comes in "entered" (Page): a switch is one round trip, and the page meets the live
// messages exactly (docs/PROTOCOL.md). Not when a message is to be shown in its
// context: that page is asked for over HTTP once entered (pageAround).
export function enterFrame(roomId) {
  const frame = { Type: "enter", RoomID: roomId, Presence: "list" };
  if (state.focusOnEntry === null) frame.Page = HISTORY_PAGE;
  return frame;
}

export async function entered(roomId, name, newest) {
  // Entering the room already shown means we are back after a reconnect.
  const sameRoom = roomId === state.shown;
  // How many were unread there (before it counts as the room read now), for the "New
  // messages" line: null while the page has no counts yet (timeline.js waits for them).
  const unread = state.unreadAnswered > 0 ? state.unread.get(roomId) ?? 0 : null;
  if (!sameRoom) {
    sendRead();   // what was read in the room we leave, before we leave it
    switchDraft(state.shown, roomId);   // what was being written there stays there
    focusComposer({ first: state.shown === null });   // the person writes where they went
  }
  // A move of the person's own is a step in the history; the first room, or the same
  // one again after a reconnection, replaces the address.
  showInAddress(roomId, { replace: state.shown === null || sameRoom });
  showMenu(false);
  state.room = roomId;
  state.shown = roomId;
  roomShown(roomId);
  // The server follows "entered" with the people present (again, after a reconnect).
  showPeopleOf(roomId, { lobby: roomId === state.lobby });
  for (const uid of [...state.typing.keys()]) stoppedTyping(uid);
  // A direct conversation has no name: it is called after the other person, as listed.
  const listed = document.querySelector(`#rooms button[data-room="${roomId}"]`);
  $("#room-name").textContent = name ?? listed?.textContent ?? "a conversation";
  for (const button of document.querySelectorAll("#rooms button")) {
    button.setAttribute("aria-current", String(Number(button.dataset.room) === roomId));
  }
  showUnread();
  showRunning(roomId);
  // Its threads' summaries; the thread panel closed, or read again after a reconnection.
  showThreads(roomId);
  if (state.reconnected) {
    // "entered" means this socket hears every direct message from now on: the
    // conversations begun while we were away, and their unread counts, are asked for.
    state.reconnected = false;
    loadRooms();
  }
  if (sameRoom) {
    // Back after a reconnect: what we missed follows on the socket (we asked with
    // SinceID); our unconfirmed messages go out again.
    resendTo(roomId);
    return;
  }
  const focus = state.focusOnEntry;
  state.focusOnEntry = null;
  await loadRoom(roomId, focus, focus === null ? newest : null, unread);
}

// What the room shown offers as our role there allows (again when it changes): Invite
// (its owners: the server says so too), Leave, Settings, Reports; the room's topic and
// the composer's state (slow mode, a mute).
export function showRunning(roomId) {
  $("#invite-form").hidden = !owns(roomId) && !isGroupDirect(roomId);
  showGroupAdd(roomId);
  showRoomActions(roomId);
  showReportsButton(roomId);
  showRoomInfo(roomId);
  showRoomLink(roomId);
  showPins(roomId);
}

// A room we are no longer in (we left it, or were removed or banned, here or in another
// tab): off the list, and if the page was there, to the lobby, saying why.
export async function leftRoom(roomId, notice) {
  state.rooms.delete(roomId);
  if (state.room === roomId || state.shown === roomId) enter(state.lobby);
  showNotice(notice);
  await loadRooms();
}

// Bring a message into view in its room (a search result, a notification, a quote):
// entering the room if need be, and showing the page around it if it is not on the page.
export async function openMessage(roomId, messageId) {
  if (roomId === state.shown) {
    if ($(`#messages li[data-id="${messageId}"]`) !== null) return showFound(messageId);
    return loadRoom(roomId, messageId);
  }
  if (!state.rooms.has(roomId)) await loadRooms();
  if (!state.rooms.has(roomId)) return showNotice("That conversation is not one this page shows.");
  state.focusOnEntry = messageId;
  enter(roomId);
}

// Someone invited us into a room: it is one of ours now, listed at once.
export async function invited(frame) {
  await loadRooms();
  // Gone there meanwhile (its address was followed): nothing left to say.
  if (state.room === frame.RoomID) return;
  // A group conversation has no name: it is called after its members, as listed.
  if (frame.Name === null) showNotice(`${frame.By.Username} added you to the conversation ${listedRoom(frame.RoomID).name}.`);
  else showNotice(`${frame.By.Username} invited you to ${frame.Name}.`);
}

// The side panel (rooms, people) on a narrow screen, where it folds away; on a wide one
// it is always shown and the button that folds it is not.
export function showMenu(open) {
  $("#chat-view").dataset.menu = open ? "open" : "closed";
  $("#menu").setAttribute("aria-expanded", String(open));
  if (open) delete $("#menu").dataset.news;
}

// The side panel's button, and the invite and create-room forms (app.js).
export function setUpRooms() {
  $("#menu").addEventListener("click", () => showMenu($("#chat-view").dataset.menu !== "open"));

  $("#invite-form input[name=name]").addEventListener("input", (event) => {
    suggestPeople(event.target);
  });
  $("#invite-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    clearNotice();
    const form = event.target;
    const name = form.elements.name.value.trim();
    const roomId = state.shown;
    try {
      const uid = await findUser(name);
      if (uid === null) return showError(`No one is called "${name}".`);
      if (isGroupDirect(roomId)) await addToGroup(roomId, uid);
      else await api("PUT", "/invite", { RoomID: roomId, UID: uid });
      form.reset();
      showNotice(`${state.names.get(uid) ?? name} is ${isGroupDirect(roomId) ? "added" : "invited"}.`);
    } catch (error) {
      showError(error.message);
    }
  });

  $("#create-room-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const form = event.target;
    const asked = { Name: form.elements.name.value, IsPrivate: form.elements.private.checked };
    try {
      const { RoomID } = await api("POST", "/create-room", asked);
      // Emptied for the next room, unless the next one is being written already (the
      // room list can show this one, from its frame, before this answer comes).
      const { name, private: isPrivate } = form.elements;
      if (name.value === asked.Name && isPrivate.checked === asked.IsPrivate) form.reset();
      await loadRooms();
      enter(RoomID);
    } catch (error) {
      showError(error.message);
    }
  });
}
