// Unread counts and read markers: each room's badge (GET /rooms/unread, asked again as
// frames say something changed), and the read frame that tells the server (and our
// other tabs) how far the room shown has been read.

import { api } from "./api.js";
import { counted, showMentions } from "./attention.js";
import { send } from "./socket.js";
import { state } from "./state.js";

// Messages in rooms other than the one shown do not come on the socket: an activity frame
// says something arrived in one, and the counts are asked for then (attention.js).
const READ_AFTER_MS = 500;

// The counts of the first answer, as the server gave them (the room shown's too): a room
// entered before the page had any waits for them, for its "New messages" line.
let answered = null;
export const firstCounts = new Promise((resolve) => { answered = resolve; });

// The counts as the server has them (an answer overtaken by a later one is dropped: it
// may predate a read frame the later one counts).
export async function loadUnread() {
  const asked = ++state.unreadAsked;
  try {
    const counts = await api("GET", "/rooms/unread");
    answered(new Map(counts.map(({ RoomID, Unread }) => [RoomID, Unread])));
    if (asked !== state.unreadAsked) return;
    state.unread = new Map(counts.map(({ RoomID, Unread }) => [RoomID, Unread]));
    counted(counts);
    // The room shown is being read: whatever the server counted there is on the page
    // (or about to be), and its read frame may not be stored yet.
    if (state.shown !== null) state.unread.set(state.shown, 0);
    showUnread();
  } catch {
    // Counts are a help: the next load asks again.
  } finally {
    if (asked === state.unreadAsked) state.unreadAnswered = asked;
  }
}

// Each room's badge: its unread count, none for the room shown (it is being read); its
// mentions of you beside it, and the count in the tab's title (attention.js).
export function showUnread() {
  // A room we have read and just left may have been counted before our read frame was
  // stored: it shows none until the frame is told back (which asks again).
  const isRead = (roomId) => roomId === state.shown || state.readUntold.has(roomId);
  for (const badge of document.querySelectorAll("#rooms .badge")) {
    const roomId = Number(badge.dataset.room);
    const count = isRead(roomId) ? 0 : state.unread.get(roomId) ?? 0;
    badge.textContent = count >= 1000 ? "999+" : String(count);
    badge.title = `${badge.textContent} unread`;
    badge.hidden = count === 0;
  }
  showMentions(state.unread, isRead);
}

// A message arrived for a room that is not shown (a direct one: group rooms' come only
// to the socket in them).
export function countUnread(roomId) {
  state.unread.set(roomId, Math.min((state.unread.get(roomId) ?? 0) + 1, 1000));
  showUnread();
}

// The newest message seen in the room (state.seenId, reading.js) is read: tell the
// server (it keeps the marker for GET /rooms/unread and tells our other tabs). A burst
// (scrolling through a busy room) makes one read frame, READ_AFTER_MS after the first,
// for the newest seen by then.
export function markRead() {
  state.unread.set(state.shown, 0);
  showUnread();
  if (state.readTimer === null) state.readTimer = setTimeout(sendRead, READ_AFTER_MS);
}

// Send the read frame markRead put off, now (also before the page leaves the room).
export function sendRead() {
  clearTimeout(state.readTimer);
  state.readTimer = null;
  const roomId = state.shown;
  const seen = state.seenId;
  if (roomId === null || seen <= (state.readSent.get(roomId) ?? 0)) return;
  if (send({ Type: "read", RoomID: roomId, MessageID: seen })) {
    state.readSent.set(roomId, seen);
    state.readUntold.set(roomId, seen);
  }
}
