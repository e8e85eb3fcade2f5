// The room in the page's address (#/room/12): where the page opens, the address kept to
// the room shown, and back, forward or an address typed followed to a room of ours.

import { showNotice } from "./notices.js";
import { enter, loadRooms } from "./rooms.js";
import { state } from "./state.js";

// The room the page shows is in its address (#/room/12): a reload comes back to it, and
// back and forward move between the rooms visited.
function roomInAddress() {
  const match = /^#\/room\/(\d+)$/.exec(location.hash);
  return match ? Number(match[1]) : null;
}

export function showInAddress(roomId, { replace }) {
  const address = `#/room/${roomId}`;
  if (location.hash === address) return;
  if (replace) history.replaceState(null, "", address);
  else history.pushState(null, "", address);
}

// Where the page opens: the room in its address if the caller is (still) a member, else
// the lobby, saying why.
export function firstRoom() {
  const wanted = roomInAddress();
  if (wanted === null) return state.lobby;
  if (state.lobby === null || state.rooms.has(wanted)) return wanted;
  showNotice("The room in the address is not one of your rooms (any more): here is the lobby.");
  return state.lobby;
}

// Back, forward, or an address typed or pasted: go to that room if it is one of ours
// (asking again first: it may be a room we were invited to since the list was made).
// Each such move is a turn; one overtaken by a later move while it asked gives way to it.
// The page's own address changes (showInAddress) are not moves: the first room being
// entered while we ask must not make us drop what the person typed.
async function followAddress() {
  const turn = ++state.addressTurn;
  const wanted = roomInAddress();
  if (state.me === null || wanted === null || wanted === state.room) return;
  if (!state.rooms.has(wanted)) await loadRooms();
  if (turn !== state.addressTurn || wanted === state.room) return;   // moved on meanwhile
  if (state.rooms.has(wanted)) {
    enter(wanted);
  } else {
    showNotice("That room is not one of your rooms: staying here.");
    if (state.shown !== null) showInAddress(state.shown, { replace: true });
  }
}

// Back and forward, and an address typed (once the page is loaded: app.js).
export function setUpAddress() {
  window.addEventListener("popstate", followAddress);
  window.addEventListener("hashchange", followAddress);
}
