// The room in the page's address (#/room/12): where the page opens, the address kept to
// the room shown, and back, forward or an address typed followed to a room of ours.

import { showNotice } from "./notices.js";
import { enter, loadRooms, openMessage } from "./rooms.js";
import { state } from "./state.js";

// The room the page shows is in its address (#/room/12): a reload comes back to it, and
// back and forward move between the rooms visited. A link to a message (Copy link,
// links.js) adds it: #/room/12/message/345.
const ADDRESS = /^#\/room\/(\d+)(?:\/message\/(\d+))?$/;

export function roomInAddress() {
  const match = ADDRESS.exec(location.hash);
  return match ? Number(match[1]) : null;
}

function messageInAddress() {
  const match = ADDRESS.exec(location.hash);
  return match?.[2] ? Number(match[2]) : null;
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
  if (state.lobby === null || state.rooms.has(wanted)) {
    // A link to a message: the room opens on it.
    if (messageInAddress() !== null && state.focusOnEntry === null) state.focusOnEntry = messageInAddress();
    return wanted;
  }
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
  const message = messageInAddress();
  if (state.me === null || wanted === null || (wanted === state.room && message === null)) return;
  if (!state.rooms.has(wanted)) await loadRooms();
  if (turn !== state.addressTurn || (wanted === state.room && message === null)) return;   // moved on meanwhile
  if (state.rooms.has(wanted)) {
    if (message !== null) {
      await openMessage(wanted, message);
      if (wanted === state.shown) showInAddress(wanted, { replace: true });
    } else {
      enter(wanted);
    }
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
