// The directory of public rooms (GET /rooms/public, asked for again when one is created)
// and joining a room: from the directory, or by a link to it (or its name) in the side
// panel.

import { api } from "./api.js";
import { parseLink } from "./links.js";
import { clearError, showError } from "./notices.js";
import { enter, listedRoom, loadRooms, openMessage } from "./rooms.js";
import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

// A public room was created (by anyone, anywhere): list it, once for a burst.
export function directoryChanged() {
  if (state.directoryTimer !== null) return;
  state.directoryTimer = setTimeout(() => {
    state.directoryTimer = null;
    loadDirectory();
  }, 250);
}

// The public rooms the caller is not in, with their member counts, the busiest first (as
// the server orders them): a click joins one and goes in.
export async function loadDirectory() {
  try {
    const rooms = await api("GET", "/rooms/public");
    const items = rooms.filter(({ RoomID }) => !state.rooms.has(RoomID)).map((room) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = room.Name;
      button.title = "join this room";
      button.addEventListener("click", () => join(room.RoomID));
      const members = document.createElement("span");
      members.className = "members";
      members.textContent = room.Members === 1 ? "1 member" : `${room.Members} members`;
      const item = document.createElement("li");
      item.append(button, members);
      return item;
    });
    $("#directory").replaceChildren(...items);
    $("#directory-heading").hidden = items.length === 0;
  } catch {
    // The directory is a help: the next load asks again.
  }
}

// Join a room (unless already in it, invited since the list was made, say) and go in;
// to the message `messageId` in it, if one is given (a link to a message).
async function join(roomId, messageId = null) {
  clearError();
  try {
    if (!state.rooms.has(roomId)) await loadRooms();
    if (!state.rooms.has(roomId)) {
      await api("PUT", "/join", { RoomID: roomId });
      await loadRooms();
    }
    if (messageId === null) enter(roomId);
    else openMessage(roomId, messageId);
    return true;
  } catch (error) {
    showError(error.message);
    return false;
  }
}

// The room called `name` (case aside): one of ours, or else a public one; its RoomID, or
// null.
async function roomNamed(name) {
  const wanted = name.trim().toLowerCase();
  const ours = [...state.rooms].find((roomId) => listedRoom(roomId).name.trim().toLowerCase() === wanted);
  if (ours !== undefined) return ours;
  const rooms = await api("GET", "/rooms/public");
  return rooms.find(({ Name }) => Name.toLowerCase() === wanted)?.RoomID ?? null;
}

// The side panel's form for a link to a room (once the page is loaded: app.js).
export function setUpDirectory() {
  $("#join-room-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const form = event.target;
    const text = form.elements.room.value;
    // A link to a room or a message (Copy link: …/#/room/12, …/#/room/12/message/345),
    // for private rooms and sharing; or a room's name (one of ours, or a public one).
    const link = parseLink(text);
    if (link !== null) {
      if (await join(link.roomId, link.messageId)) form.reset();
      return;
    }
    let roomId;
    try {
      roomId = await roomNamed(text);
    } catch (error) {
      return showError(error.message);
    }
    if (roomId === null) {
      return showError(`No room called "${text.trim()}" that you can join: paste a link to it (its Copy link).`);
    }
    if (await join(roomId)) form.reset();
  });
}
