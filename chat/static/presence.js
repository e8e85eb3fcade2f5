// Who is in the room shown and who is typing there: the presence frames handed to the
// people panel (people.js), the "is typing..." line, and our own typing told to others.

import { learnName } from "./names.js";
import { presenceChanged, presenceListed } from "./people.js";
import { connected } from "./socket.js";
import { learnStatus, learnStatuses } from "./status.js";
import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

// Typing: we say so at most this often while the person types, and show someone else's
// "is typing..." this long after their last word of it (the server passes on at most 3
// per 2 seconds per user).
const TYPING_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 5000;

// Who is in the room shown as we enter it: one frame, the panel drawn once.
export function presenceList(frame) {
  if (frame.RoomID !== state.shown) return;
  for (const person of frame.Users) learnName(person.UID, person.Username);
  learnStatuses(frame.Users.map((person) => [person.UID, person.Status ?? null]));
  presenceListed(frame.RoomID, frame.Users);
}

// People arrived in the room shown or left it since the last such frame.
export function presenceChanges(frame) {
  if (frame.RoomID !== state.shown) return;
  for (const change of frame.Changes) {
    learnName(change.UID, change.Username);
    if (change.Online) learnStatus(change.UID, change.Status ?? null);
    if (!change.Online) stoppedTyping(change.UID);
  }
  presenceChanged(frame.RoomID, frame.Changes);
}

// Someone else in the room shown is typing: say so until they stop saying it.
export function someoneTyping(frame) {
  if (frame.RoomID !== state.shown || frame.UID === state.me.uid) return;
  clearTimeout(state.typing.get(frame.UID)?.timer);
  const timer = setTimeout(() => stoppedTyping(frame.UID), TYPING_SHOWN_MS);
  state.typing.set(frame.UID, { name: frame.Username, timer });
  showTyping();
}

export function stoppedTyping(uid) {
  const typing = state.typing.get(uid);
  if (typing === undefined) return;
  clearTimeout(typing.timer);
  state.typing.delete(uid);
  showTyping();
}

function showTyping() {
  const names = [...state.typing.values()].map(({ name }) => name).sort();
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing...`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing...`;
  else if (names.length > 2) text = "several people are typing...";
  $("#typing").textContent = text;
}

// The person is typing in the room shown: tell the others, at most every TYPING_EVERY_MS.
export function typingHere() {
  const now = Date.now();
  if (state.shown === null || state.room !== state.shown) return;   // not in it yet
  if (now - state.typingSentAt < TYPING_EVERY_MS) return;
  if (connected()) {
    state.ws.send(JSON.stringify({ Type: "typing" }));
    state.typingSentAt = now;
  }
}
