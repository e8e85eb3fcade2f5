// A room's settings and what they do to the composer (docs/PROTOCOL.md, "Running a
// room"): its topic under its name; the Settings dialog (PUT /room/{id}/settings: Name
// and Private and the retention in days for owners, Topic, Slow mode and link previews for
// moderators too; the room's incoming webhooks below, webhooks.js, and its slash commands
// and outgoing webhooks, room-commands.js); the room frames that
// change them live; and the composer's status line: slow mode (with a countdown after
// each of our messages, or from an error's RetryAfter), a mute (the composer closed
// until its time: the muted frame, or a refusal naming it), a direct conversation with
// an erased account (closed for good: the room list's "Closed", or a refusal), and an
// archived room (read-only until unarchived: a banner over it, the composer closed;
// archiving and deleting are room-ends.js's).

import { clock } from "./moderation.js";
import { setUpRoomCommands, showRoomCommands } from "./room-commands.js";
import { setUpRoomEnds, showRoomEnds } from "./room-ends.js";
import { setUpWebhooks, showWebhooks } from "./webhooks.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpRoomSettings): { api(method, path, body), shown() -> the
// RoomID shown, moderates(roomId), owns(roomId), relist() -> the room list asked for
// again (a new name, a lock), renamed(roomId, name) -> the header says the new name }.
let lent = null;
const rooms = new Map();   // RoomID -> the room as the server last described it
const mutes = new Map();   // RoomID -> { until: ms, by } of our mutes in force
const waits = new Map();   // RoomID -> when (ms) slow mode lets us send there again
const closed = new Set();  // RoomIDs of direct conversations whose other account was erased
let ticking = null;        // the countdown's interval, while one runs in the room shown

const MUTED = /^you are muted in room (\d+) until (\S+)$/;
// A direct message to an erased account, refused (HTTP 410, an error frame on /ws).
const ERASED = /^UID \d+'s account was deleted/;
const IN_ROOM = /in room (\d+)/;
// A change to an archived room, refused (HTTP 409, an error frame on /ws).
const ARCHIVED = /^room (\d+) is archived/;
// A room's settings when the server does not say (a server without them).
const UNSET = {
  Name: "", Topic: "", IsPrivate: false, SlowModeSeconds: 0, RetentionDays: null, LinkPreviews: true,
};

export function setUpRoomSettings(lentByApp) {
  lent = lentByApp;
  setUpWebhooks({ api: lentByApp.api });
  setUpRoomCommands({ api: lentByApp.api });
  setUpRoomEnds({ api: lentByApp.api, room: (roomId) => rooms.get(roomId), changed: roomChanged });
  $("#room-settings").addEventListener("click", openSettings);
  $("#settings-cancel").addEventListener("click", () => $("#settings-dialog").close());
  $("#settings-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveSettings();
  });
}

// The rooms as GET /rooms/details describes them (Topic and SlowModeSeconds among it).
export function roomsDescribed(list) {
  for (const room of list) {
    rooms.set(room.RoomID, { ...rooms.get(room.RoomID), ...room });
    // "Closed": a direct conversation with an erased account, read-only from now on.
    if (room.Closed) closed.add(room.RoomID);
  }
}

// The room shown (again, or our role in it changed): its topic, Settings for its
// moderators, and the composer as slow mode and mutes say.
export function showRoomInfo(roomId) {
  const topic = rooms.get(roomId)?.Topic ?? "";
  $("#room-topic").textContent = topic;
  $("#room-topic").hidden = topic === "";
  $("#room-settings").hidden = !lent.moderates(roomId);
  showComposer();
}

// --- the settings dialog ---

function openSettings() {
  const roomId = lent.shown();
  const room = rooms.get(roomId) ?? {};
  const form = $("#settings-form");
  form.dataset.room = String(roomId);
  form.elements.name.value = room.Name ?? "";
  form.elements.topic.value = room.Topic ?? "";
  form.elements.private.checked = Boolean(room.IsPrivate);
  form.elements.slow.value = String(room.SlowModeSeconds ?? 0);
  form.elements.previews.checked = room.LinkPreviews ?? true;
  form.elements.retention.value = room.RetentionDays == null ? "" : String(room.RetentionDays);
  // A moderator changes the topic and slow mode; the name, privacy and retention are the
  // owners'.
  const owner = lent.owns(roomId);
  form.elements.name.disabled = !owner;
  form.elements.private.disabled = !owner;
  form.elements.retention.disabled = !owner;
  $("#settings-error").hidden = true;
  $("#settings-dialog").showModal();
  (owner ? form.elements.name : form.elements.topic).focus();
  showWebhooks(roomId);   // its moderators' incoming webhooks, below the settings
  showRoomCommands(roomId);   // and its slash commands and outgoing webhooks
  showRoomEnds(roomId, owner);   // and, for its owners, archiving and deleting it
}

// Only what changed is sent (a moderator's request must not carry the owners' fields).
async function saveSettings() {
  const form = $("#settings-form");
  const roomId = Number(form.dataset.room);
  const room = rooms.get(roomId) ?? {};
  const wanted = {
    Name: form.elements.name.value.trim(),
    Topic: form.elements.topic.value.trim(),
    IsPrivate: form.elements.private.checked,
    SlowModeSeconds: Number(form.elements.slow.value),
    LinkPreviews: form.elements.previews.checked,
    // Empty: the room keeps its messages as long as the server does (null).
    RetentionDays: form.elements.retention.value === "" ? null : Number(form.elements.retention.value),
  };
  const changes = {};
  for (const [field, value] of Object.entries(wanted)) {
    if (value !== (room[field] ?? UNSET[field])) changes[field] = value;
  }
  if (Object.keys(changes).length === 0) return $("#settings-dialog").close();
  try {
    const answer = await lent.api("PUT", `/room/${roomId}/settings`, changes);
    roomChanged({ ...answer, RoomID: roomId });
    $("#settings-dialog").close();
  } catch (error) {
    $("#settings-error").textContent = error.message;
    $("#settings-error").hidden = false;
  }
}

// --- frames ---

// A room, muted or unmuted frame: returns whether it was one.
export function settingsFrame(frame) {
  if (frame.Type === "room") {
    roomChanged(frame);
  } else if (frame.Type === "muted") {
    muted(frame.RoomID, frame.Until, frame.By);
  } else if (frame.Type === "unmuted") {
    mutes.delete(frame.RoomID);
    showComposer();
  } else {
    return false;
  }
  return true;
}

function roomChanged(frame) {
  const before = rooms.get(frame.RoomID) ?? {};
  rooms.set(frame.RoomID, { ...before, ...frame });
  if (before.Name !== frame.Name || before.IsPrivate !== frame.IsPrivate) lent.relist();
  if (frame.RoomID !== lent.shown()) return;
  if (frame.Name !== undefined) lent.renamed(frame.RoomID, frame.Name);
  showRoomInfo(frame.RoomID);
}

function muted(roomId, until, by) {
  const time = Date.parse(until);
  if (!(time > Date.now())) return;
  mutes.set(roomId, { until: time, by });
  // Lifted by itself at its time (the server's refusals end then too).
  setTimeout(() => {
    if (mutes.get(roomId)?.until !== time) return;
    mutes.delete(roomId);
    showComposer();
  }, Math.min(time - Date.now() + 500, 2 ** 31 - 1));
  showComposer();
}

// An error frame refusing one of our messages for slow mode (RetryAfter) or a mute:
// the composer says so and waits (or closes).
export function refused(frame) {
  const roomId = Number(IN_ROOM.exec(frame.Error)?.[1] ?? lent.shown());
  const mute = MUTED.exec(frame.Error);
  const archived = ARCHIVED.exec(frame.Error ?? "");
  if (archived !== null) {
    // Archived before its room frame reached us: read-only from now on all the same.
    roomChanged({ RoomID: Number(archived[1]), Archived: true });
  } else if (ERASED.test(frame.Error ?? "")) {
    closed.add(lent.shown());   // erased while the page was open
    showComposer();
  } else if (mute !== null) muted(Number(mute[1]), mute[2]);
  else if (Number(frame.RetryAfter) > 0) wait(roomId, Number(frame.RetryAfter));
}

// One of our messages was stored in a room with slow mode that holds us: the next may go
// SlowModeSeconds from now.
export function ourMessageStored(frame) {
  const seconds = rooms.get(frame.RoomID)?.SlowModeSeconds ?? 0;
  if (seconds > 0 && !lent.moderates(frame.RoomID)) wait(frame.RoomID, seconds);
}

function wait(roomId, seconds) {
  waits.set(roomId, Math.max(waits.get(roomId) ?? 0, Date.now() + seconds * 1000));
  showComposer();
}

// Whether a message may be sent to the room now (else the composer says why).
export function mayPost(roomId) {
  return !mutes.has(roomId) && !closed.has(roomId) && !isArchived(roomId) && secondsLeft(roomId) === 0;
}

const isArchived = (roomId) => rooms.get(roomId)?.Archived === true;

const secondsLeft = (roomId) => Math.max(0, Math.ceil(((waits.get(roomId) ?? 0) - Date.now()) / 1000));

// What writes in the room shown, closed while nothing may be written there: the
// composer, attaching a file and picking an emoji, and the thread panel's reply (the
// room's rules hold in its threads).
const WRITING_CONTROLS = ["#composer", "#attach", "#emoji-button", "#thread-composer",
  "#thread-also", "#thread-attach"];

// The composer's status line, the composer and its Send button, for the room shown.
function showComposer() {
  const roomId = lent.shown();
  const mute = mutes.get(roomId);
  const left = secondsLeft(roomId);
  const slow = rooms.get(roomId)?.SlowModeSeconds ?? 0;
  const status = $("#composer-status");
  let text = "";
  const archived = isArchived(roomId);
  $("#archived-banner").hidden = !archived;
  const shut = closed.has(roomId) || archived;
  if (archived) {
    text = "This room is archived: you can read it, not write in it.";
  } else if (closed.has(roomId)) {
    text = "This person's account was deleted: the conversation is closed. You can still read it.";
  } else if (mute !== undefined) {
    text = `You are muted here until ${clock(mute.until)}${mute.by ? ` (by ${mute.by.Username})` : ""}: you can read, not write.`;
  } else if (left > 0) {
    text = `Slow mode: you may send again in ${left} s.`;
  } else if (slow > 0) {
    text = lent.moderates(roomId)
      ? `Slow mode is on (${duration(slow)}); it does not hold moderators back.`
      : `Slow mode: one message every ${duration(slow)}.`;
  }
  status.textContent = text;
  status.hidden = text === "";
  status.dataset.kind = archived ? "archived" : shut ? "closed" : mute !== undefined ? "muted" : left > 0 ? "waiting" : "slow";
  const silenced = mute !== undefined || shut;
  for (const control of WRITING_CONTROLS) $(control).disabled = silenced;
  $("#send-form button[type=submit]").disabled = silenced || left > 0;
  // The countdown runs while there is something to count down in the room shown.
  if (left > 0 && ticking === null) {
    ticking = setInterval(showComposer, 1000);
  } else if (left === 0 && ticking !== null) {
    clearInterval(ticking);
    ticking = null;
  }
}

function duration(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
