// The directory of public rooms (GET /rooms/public, asked for again when one is created)
// and joining a room: from the directory, or by a link to it pasted in the side panel.

import { api } from "./api.js";
import { clearError, showError } from "./notices.js";
import { enter, loadRooms } from "./rooms.js";
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

// Join a room (unless already in it, invited since the list was made, say) and go in.
async function join(roomId) {
  clearError();
  try {
    if (!state.rooms.has(roomId)) await loadRooms();
    if (!state.rooms.has(roomId)) {
      await api("PUT", "/join", { RoomID: roomId });
      await loadRooms();
    }
    enter(roomId);
    return true;
  } catch (error) {
    showError(error.message);
    return false;
  }
}

// The side panel's form for a link to a room (once the page is loaded: app.js).
export function setUpDirectory() {
  $("#join-room-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const form = event.target;
    // A link to a room (…/#/room/12), for private rooms and sharing: public ones are in
    // the directory, by name.
    const number = /(\d+)\s*$/.exec(form.elements.room.value);
    if (number === null) return showError("Paste a link to a room (…/#/room/…).");
    if (await join(Number(number[1]))) form.reset();
  });
}
