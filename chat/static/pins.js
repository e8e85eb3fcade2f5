// A room's pinned messages (docs/PROTOCOL.md, "Pinned messages"): the room header's
// "Pinned (n)" button opens the list, newest pin first, and choosing one shows the
// message in its context, as a search result does; moderators and owners get Pin or
// Unpin among each message's actions (and so in a phone's "⋯" menu, which holds them).
// The list is read from GET /room/{roomID}/pins when a room is shown, and again when a
// `pins` frame, or the edit or deletion of a pinned message, says it changed. As
// everywhere, user text goes in with textContent only.

import { describeFiles } from "./attachments.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpPins): { api(method, path), shown() -> the RoomID shown,
// moderates(roomId) -> whether we may pin there, open(roomId, messageId), error(text) }.
let lent = null;

// The room whose pins the page holds, and its pinned MessageIDs.
const pins = { roomId: null, ids: new Set() };
// The read of the list in flight, if any, and whether another is wanted after it.
let reading = null;
let readAgain = false;

const LONGEST_TEXT = 200;   // characters of a pinned message's text the list shows

export function setUpPins(lentByApp) {
  lent = lentByApp;
  $("#pins-open").addEventListener("click", () => togglePanel());
  $("#pins-close").addEventListener("click", () => togglePanel(false, { focus: true }));
  $("#pins-panel").addEventListener("keydown", (event) => {
    if (event.key === "Escape") togglePanel(false, { focus: true });
  });
  // A click elsewhere on the page closes the list, as it closes a menu.
  document.addEventListener("click", (event) => {
    if ($("#pins-panel").hidden || event.target.closest?.("#pins-panel, #pins-open")) return;
    togglePanel(false);
  });
}

function togglePanel(open = $("#pins-panel").hidden, { focus = false } = {}) {
  $("#pins-panel").hidden = !open;
  $("#pins-open").setAttribute("aria-expanded", String(open));
  if (open) $("#pins .pin, #pins-close")?.focus();
  else if (focus && $("#pins-open").getClientRects().length > 0) $("#pins-open").focus();
}

// The room shown changed, or our role in it: its list is read again, and each message
// offers Pin or Unpin as our role now allows.
export function showPins(roomId) {
  if (roomId !== pins.roomId) {
    pins.roomId = roomId;
    pins.ids = new Set();
    togglePanel(false);
    showList([]);
  }
  for (const item of document.querySelectorAll("#messages li[data-id]")) showPinButton(item);
  readPins();
}

// A `pins` frame of any room, or an `edited` or `deleted` one (the list shows a message
// as it is now; a deleted one is pinned no more).
export function pinsChanged(frame) {
  if (frame.RoomID !== pins.roomId) return;
  if (frame.Type !== "pins" && !pins.ids.has(frame.MessageID)) return;
  if (frame.Type === "pins") {
    if (frame.Pinned) pins.ids.add(frame.MessageID);
    else pins.ids.delete(frame.MessageID);
    const item = $(`#messages li[data-id="${frame.MessageID}"]`);
    if (item !== null) showPinButton(item);
  }
  readPins();
}

// One read at a time; frames that arrive meanwhile ask for one more after it.
async function readPins() {
  if (reading !== null) {
    readAgain = true;
    return;
  }
  const roomId = pins.roomId;
  if (roomId === null) return;
  reading = lent.api("GET", `/room/${roomId}/pins`);
  try {
    const listed = await reading;
    if (roomId === pins.roomId) {
      pins.ids = new Set(listed.map((pin) => pin.Message.MessageID));
      showList(listed);
      for (const item of document.querySelectorAll("#messages li[data-id]")) showPinButton(item);
    }
  } catch {
    // Not a room we may read any more (removed meanwhile): nothing pinned to show.
  } finally {
    reading = null;
  }
  if (readAgain) {
    readAgain = false;
    readPins();
  }
}

function showList(listed) {
  $("#pins-count").textContent = String(listed.length);
  $("#pins-open").hidden = listed.length === 0;
  $("#pins").replaceChildren(...listed.map(pinItem));
  $("#pins-status").textContent = listed.length === 0 ? "No pinned messages." : "";
  if (listed.length === 0) togglePanel(false);
}

// One pinned message: a button that shows it in its room.
function pinItem(pin) {
  const message = pin.Message;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = message.DisplayName ?? message.Username;
  const when = document.createElement("time");
  when.dateTime = message.CreatedAt;
  when.textContent = new Date(message.CreatedAt)
    .toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  const text = document.createElement("span");
  text.className = "snippet";
  const body = message.Text.length > LONGEST_TEXT
    ? `${message.Text.slice(0, LONGEST_TEXT)}…`
    : message.Text;
  const files = describeFiles(message.Files);
  text.textContent = files ? `${body} ${files}` : body;
  const by = document.createElement("span");
  by.className = "pinned-by";
  by.textContent = pin.PinnedBy ? `pinned by ${pin.PinnedBy.Username}` : "pinned";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "pin";
  button.append(who, when, text, by);
  button.addEventListener("click", () => {
    togglePanel(false);
    lent.open(message.RoomID, message.MessageID);
  });
  const item = document.createElement("li");
  item.dataset.id = String(message.MessageID);
  item.append(button);
  return item;
}

// A message's Pin or Unpin, for those who may pin in the room shown (none on a
// tombstone). timeline.js calls it as it puts each message on the page.
export function showPinButton(item) {
  const actions = item.querySelector(".actions");
  if (actions === null) return;
  let button = actions.querySelector(".pin-button");
  if (!lent.moderates(lent.shown()) || item.classList.contains("deleted")) {
    button?.remove();
    return;
  }
  if (button === null) {
    button = document.createElement("button");
    button.type = "button";
    button.className = "pin-button";
    button.addEventListener("click", () => setPin(item, button.dataset.pinned !== "true"));
    actions.append(button);
  }
  const pinned = pins.ids.has(Number(item.dataset.id));
  const author = item.querySelector(".name")?.textContent ?? "this";
  button.dataset.pinned = String(pinned);
  button.textContent = pinned ? "Unpin" : "Pin";
  button.setAttribute("aria-label", `${pinned ? "Unpin" : "Pin"} ${author}'s message`);
}

async function setPin(item, pinned) {
  const roomId = lent.shown();
  const messageId = Number(item.dataset.id);
  try {
    await lent.api(pinned ? "PUT" : "DELETE", `/messages/${roomId}/${messageId}/pin`);
  } catch (error) {
    lent.error(error.message);
    return;
  }
  // The pins frame says so too (to every member); the answer shows it here at once.
  pinsChanged({ Type: "pins", RoomID: roomId, MessageID: messageId, Pinned: pinned });
}
