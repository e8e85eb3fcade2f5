// Running a room (docs/PROTOCOL.md, "Running a room"): the caller's role in each room
// (GET /rooms/details' "Role", then the role frames), the person menu a moderator opens
// from the people panel (roles, mute, remove, ban), Report on others' messages, Leave,
// and the removed and role frames. The server decides every permission; the page only
// offers what the caller's role allows, and says the server's refusal when it refuses.

import { confirmAction } from "./confirm.js";
import { memberRole, roleChanged, showPeopleAgain } from "./people.js";

// Who may act on whom: a higher rank than theirs (an operator acts as an owner).
const RANK = { member: 0, moderator: 1, owner: 2 };
const ROLES = ["owner", "moderator", "member"];

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpModeration): { api(method, path, body), me() -> our UID,
// shown() -> the RoomID shown, group(roomId) -> whether it is a group room (not the
// lobby or a direct conversation), roomName(roomId), gone(roomId) -> the page forgets
// a room it is no longer in, changed(roomId) -> our role there changed, notice(text) }.
let lent = null;
const roles = new Map();   // RoomID -> our role there
let chosen = null;          // { roomId, uid, name } of the person the menu is open on

export function setUpModeration(lentByApp) {
  lent = lentByApp;
  for (const button of document.querySelectorAll("#person-menu [data-mute]")) {
    button.addEventListener("click", () => {
      const seconds = Number(button.dataset.mute);
      act("PUT", "mutes", { Seconds: seconds, Reason: reason() },
        ({ Until }) => `${chosen.name} is muted until ${clock(Until)}.`);
    });
  }
  $("#person-unmute").addEventListener("click", () => {
    act("DELETE", "mutes", undefined, () => `${chosen.name} may speak again.`);
  });
  // Removing someone and a ban are asked first (confirm.js): one click does neither.
  $("#person-remove").addEventListener("click", async () => {
    const { name, roomId, uid } = chosen;
    const question = `Remove ${name} from ${lent.roomName(roomId)}? They can join it again if it is public.`;
    if (!(await confirmAction(question, "Remove")) || chosen?.uid !== uid) return;
    act("DELETE", "members", { Reason: reason() }, () => `${name} was removed.`);
  });
  $("#person-ban").addEventListener("click", async () => {
    const { name, roomId, uid } = chosen;
    const question = `Ban ${name} from ${lent.roomName(roomId)}? They are taken out and cannot come back until the ban is lifted.`;
    if (!(await confirmAction(question, "Ban")) || chosen?.uid !== uid) return;
    act("PUT", "bans", { Reason: reason() }, () => `${name} is banned.`);
  });
  $("#person-menu-close").addEventListener("click", () => closeMenu({ focus: true }));
  $("#person-menu").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeMenu({ focus: true });
  });
  $("#leave-room").addEventListener("click", askLeave);
  $("#leave-cancel").addEventListener("click", () => $("#leave-dialog").close());
  $("#leave-confirm").addEventListener("click", leave);
}

// The rooms as GET /rooms/details lists them: our role in each. (A server without roles
// says none: a group room's creator is taken for its owner, as before.)
export function rolesFrom(rooms) {
  roles.clear();
  for (const room of rooms) {
    const role = room.Role ?? (room.CreatorUID === lent.me() ? "owner" : "member");
    roles.set(room.RoomID, role);
  }
}

export const roleIn = (roomId) => roles.get(roomId) ?? "member";

// Whether we moderate the room (a moderator or owner of a group room).
export const moderates = (roomId) => lent.group(roomId) && RANK[roleIn(roomId)] >= RANK.moderator;

export const owns = (roomId) => lent.group(roomId) && roleIn(roomId) === "owner";

// The room shown changed (or our role in it): the header's Leave, and no menu left open.
export function showRoomActions(roomId) {
  $("#leave-room").hidden = !lent.group(roomId);
  if (chosen !== null && chosen.roomId !== roomId) closeMenu({ focus: false });
}

// --- the person menu ---

// Whether our role in the room is above `role` (an owner may still change another
// owner's role: the menu shows only that then).
const outranks = (roomId, role) => RANK[roleIn(roomId)] > RANK[role];

// people.js lists someone in the room shown: a moderator gets a menu button beside
// each person they outrank (an owner, beside everyone).
export function decoratePerson(item, uid, name, role) {
  const roomId = lent.shown();
  if (uid === lent.me() || !moderates(roomId)) return;
  if (!outranks(roomId, role) && !owns(roomId)) return;
  const button = document.createElement("button");
  button.type = "button";
  // Its "⋯" is the style sheet's: the item's text stays the person's name.
  button.className = "person-menu-button";
  button.title = `Moderate ${name}`;
  button.setAttribute("aria-label", `Moderate ${name}`);
  button.setAttribute("aria-controls", "person-menu");
  const open = chosen !== null && chosen.uid === uid;
  button.setAttribute("aria-expanded", String(open));
  button.addEventListener("click", () => {
    if (chosen !== null && chosen.uid === uid) closeMenu({ focus: false });
    else openMenu(roomId, uid, name);
  });
  item.append(button);
}

function openMenu(roomId, uid, name) {
  chosen = { roomId, uid, name };
  $("#person-menu-heading").textContent = `Moderating ${name}`;
  $("#person-menu-status").textContent = "";
  $("#moderation-reason").value = "";
  showChosen();
  $("#person-menu").hidden = false;
  showPeopleAgain();   // the buttons' aria-expanded
  [...$("#person-menu").querySelectorAll("button")].find((button) => button.offsetParent !== null)?.focus();
  loadMute();
}

function closeMenu({ focus }) {
  const was = chosen;
  chosen = null;
  $("#person-menu").hidden = true;
  showPeopleAgain();
  if (focus && was !== null) {
    document.querySelector(`#here li[data-uid="${was.uid}"] .person-menu-button`)?.focus();
  }
}

// The chosen person's role, and the role buttons an owner gets.
function showChosen() {
  const role = memberRole(chosen.uid) ?? "member";
  $("#person-menu-state").textContent = `Role: ${role}.`;
  $("#person-sanctions").hidden = !outranks(chosen.roomId, role);
  const buttons = owns(chosen.roomId)
    ? ROLES.filter((other) => other !== role).map((other) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "plain";
      button.textContent = `Make ${other}`;
      button.addEventListener("click", () => {
        act("PUT", "members", { Role: other }, () => `${chosen.name} is now ${article(other)} ${other}.`);
      });
      return button;
    })
    : [];
  $("#person-roles").replaceChildren(...buttons);
  $("#person-roles").hidden = buttons.length === 0;
}

// Whether the chosen person is muted (GET /room/{id}/mutes): said, with Unmute.
async function loadMute() {
  const { roomId, uid } = chosen;
  $("#person-unmute").hidden = true;
  let mutes;
  try {
    mutes = await lent.api("GET", `/room/${roomId}/mutes`);
  } catch {
    return;   // the menu works without it: Mute replaces a mute
  }
  if (chosen === null || chosen.uid !== uid) return;
  const mute = mutes.find(({ UID }) => UID === uid);
  if (mute === undefined) return;
  $("#person-menu-state").textContent += ` Muted until ${clock(mute.Until)}.`;
  $("#person-unmute").hidden = false;
}

// One action on the chosen person: `what` is the route's collection (members, mutes,
// bans); the status line says what happened, or the server's refusal.
async function act(method, what, body, said) {
  const { roomId, uid } = chosen;
  const status = $("#person-menu-status");
  status.textContent = "";
  try {
    const answer = await lent.api(method, `/room/${roomId}/${what}/${uid}`, body);
    if (chosen === null || chosen.uid !== uid) return;
    status.textContent = said(answer);
    if (what === "members" && method === "PUT") {
      roleChanged(roomId, uid, answer.Role ?? body.Role);
      showChosen();
    }
    if (what === "mutes") loadMute();
    if ((method === "DELETE" && what === "members") || what === "bans") {
      $("#person-roles").hidden = true;   // they are gone: nothing more to do on them
    }
  } catch (error) {
    if (chosen !== null && chosen.uid === uid) status.textContent = error.message;
  }
}

const reason = () => $("#moderation-reason").value.trim();
const article = (role) => (role === "owner" ? "an" : "a");

// A time as the person reads it: "14:05", or with the day if not today.
export function clock(when) {
  const time = new Date(when);
  const today = time.toDateString() === new Date().toDateString();
  return today
    ? time.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" })
    : time.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

// --- reporting a message ---

// Report, on someone else's message: a reason, then POST /reports; the message says
// it was reported (the moderators see it in their reports view, reports.js).
export function addReport(item, message) {
  if (message.UID === lent.me() || message.Deleted) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "report-button";
  button.textContent = "Report";
  button.setAttribute("aria-label", `Report ${message.Username}'s message`);
  button.addEventListener("click", () => askReport(item, message.MessageID));
  item.querySelector(".actions")?.append(button);
}

function askReport(item, messageId) {
  const asked = item.querySelector(".report");
  if (asked !== null) return asked.querySelector("input").focus();
  const form = document.createElement("form");
  form.className = "confirm report";
  form.setAttribute("aria-label", "Report this message");
  const label = document.createElement("label");
  label.textContent = "Why? ";
  const input = document.createElement("input");
  input.name = "reason";
  input.maxLength = 500;
  input.autocomplete = "off";
  input.placeholder = "spam, abuse...";
  label.append(input);
  const send = document.createElement("button");
  send.type = "submit";
  send.className = "danger";
  send.textContent = "Report it";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "plain";
  cancel.textContent = "Cancel";
  cancel.addEventListener("click", () => form.remove());
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") form.remove();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = document.createElement("span");
    note.className = "reported";
    note.setAttribute("role", "status");
    try {
      await lent.api("POST", "/reports", { MessageID: messageId, Reason: input.value.trim() });
      note.textContent = "Reported: the room's moderators will look at it.";
    } catch (error) {
      note.classList.add("problem");
      note.textContent = error.message;
    }
    item.querySelector(".reported")?.remove();
    form.replaceWith(note);
  });
  form.append(label, send, cancel);
  item.append(form);
  input.focus();
}

// --- leaving ---

function askLeave() {
  const roomId = lent.shown();
  $("#leave-question").textContent = `Leave ${lent.roomName(roomId)}? `
    + "Its messages will not be shown to you any more.";
  $("#leave-dialog").dataset.room = String(roomId);
  $("#leave-dialog").showModal();
  $("#leave-cancel").focus();
}

async function leave() {
  const roomId = Number($("#leave-dialog").dataset.room);
  $("#leave-dialog").close();
  const name = lent.roomName(roomId);
  try {
    await lent.api("DELETE", `/room/${roomId}/members/me`);
  } catch (error) {
    return lent.error(error.message);
  }
  // The removed frame says so too (to our other tabs as well): whichever comes first.
  gone(roomId, `You left ${name}.`);
}

// --- frames ---

// A removed, room-deleted or role frame: returns whether it was one.
export function moderationFrame(frame) {
  if (frame.Type === "removed") {
    const name = lent.roomName(frame.RoomID);
    const byUs = frame.By?.UID === lent.me();
    const why = frame.Reason ? `: ${frame.Reason}` : ".";
    const who = frame.By?.Username ?? "A moderator";
    // A ban says so, and until when (the room is gone from the directory until then).
    const banned = frame.Until ? `until ${clock(frame.Until)}` : "permanently";
    gone(frame.RoomID, byUs ? `You left ${name}.`
      : frame.Banned ? `${who} banned you from ${name} ${banned}${why}`
        : `${who} removed you from ${name}${why}`);
  } else if (frame.Type === "room-deleted") {
    // Its owners deleted it (room-ends.js): gone from the list and out of view.
    gone(frame.RoomID, `${lent.roomName(frame.RoomID)} was deleted by its owners.`);
  } else if (frame.Type === "role") {
    if (frame.UID === lent.me()) {
      roles.set(frame.RoomID, frame.Role);
      if (chosen !== null && chosen.roomId === frame.RoomID) closeMenu({ focus: false });
      lent.changed(frame.RoomID);
      if (frame.RoomID === lent.shown()) {
        lent.notice(`You are now ${article(frame.Role)} ${frame.Role} of ${lent.roomName(frame.RoomID)}.`);
      }
    }
    roleChanged(frame.RoomID, frame.UID, frame.Role);
    if (chosen !== null && chosen.uid === frame.UID) showChosen();
  } else {
    return false;
  }
  return true;
}

function gone(roomId, notice) {
  if (!roles.has(roomId)) return;   // told already (the answer and the frame both say it)
  roles.delete(roomId);
  if (chosen !== null && chosen.roomId === roomId) closeMenu({ focus: false });
  lent.gone(roomId, notice);
}
