// Statuses (docs/PROTOCOL.md, "A user's status"): what people say of themselves for a
// while ("🌴 On holiday", away, do not disturb). Ours is set and cleared from the account
// screen (PUT and DELETE /me/status); everyone's is shown beside their name in the people
// panel and on their messages (an emoji whose tooltip says the rest), learnt from presence
// frames, from the room's members (GET /room/{id}/members, people.js) and from
// {"Type": "status"} frames as it changes or ends: never a request per person. While ours
// says "dnd", the page shows no desktop notifications (doNotDisturb: attention.js asks).

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpStatus): { api(method, path, body), me() -> our UID,
// changed() -> the people panel drawn again }.
let lent = null;

const statuses = new Map();   // UID -> their status ({ Emoji, Text, Presence, Until }) or null
let own = null;               // our status, or null
let ownEnds = null;           // the timer that forgets ours when its Until passes

const SHOWN_AS = { away: "away", dnd: "do not disturb" };
const MINUTE_MS = 60_000;

export function setUpStatus(lentByApp) {
  lent = lentByApp;
  $("#account").addEventListener("click", fillForm);   // after account.js reset the forms
  $("#status-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  $("#status-clear").addEventListener("click", clear);
}

// Our own status, as GET /profile said at sign-in (login.js).
export function ownStatus(status) {
  learnStatus(lent.me(), status);
}

// Whether we asked not to be disturbed, and that still holds.
export const doNotDisturb = () => own !== null && own.Presence === "dnd" && !ended(own);

// {"Type": "status", "UID", "Status"}: someone's status changed or ended.
export function statusFrame(frame) {
  learnStatus(frame.UID, frame.Status ?? null);
}

// A person's status as a presence frame or a profile says it (null: none).
export function learnStatus(uid, status) {
  learnStatuses([[uid, status]]);
}

// Several people's statuses at once ([[UID, status or null], ...]: a presence list, a
// page of members): the people panel is drawn again once, if any of them changed.
export function learnStatuses(pairs) {
  let changed = false;
  for (const [uid, status] of pairs) {
    const before = JSON.stringify(statuses.get(uid) ?? null);
    statuses.set(uid, status);
    if (uid === lent.me()) showOwn(status);
    if (JSON.stringify(status) === before) continue;
    changed = true;
    for (const item of document.querySelectorAll(`#messages li[data-uid="${uid}"]`)) {
      showAuthorStatus(item, uid);
    }
  }
  if (changed) lent.changed();
}

// How the people panel says a person is: "away", "do not disturb", or null (as presence
// says).
export function shownAs(uid) {
  const status = current(uid);
  return status === null ? null : SHOWN_AS[status.Presence] ?? null;
}

// The emoji of a person's status, its words in its tooltip; null without one.
export function statusBadge(uid) {
  const status = current(uid);
  if (status === null || (!status.Emoji && !status.Text)) return null;
  const badge = document.createElement("span");
  badge.className = "status-badge";
  badge.textContent = status.Emoji || "💬";
  badge.title = described(status);
  badge.setAttribute("role", "img");
  badge.setAttribute("aria-label", `status: ${described(status)}`);
  return badge;
}

// A message's author shown with their status, beside their name (once we know it).
export function showAuthorStatus(item, uid) {
  item.querySelector(".name .status-badge")?.remove();
  const badge = statusBadge(uid);
  if (badge !== null) item.querySelector(".name")?.append(badge);
}

function current(uid) {
  const status = statuses.get(uid) ?? null;
  return status === null || ended(status) ? null : status;
}

const ended = (status) => status.Until !== null && new Date(status.Until) <= new Date();

// "🌴 On holiday, away, until 17:30".
function described(status) {
  const parts = [[status.Emoji, status.Text].filter(Boolean).join(" ")];
  if (SHOWN_AS[status.Presence]) parts.push(SHOWN_AS[status.Presence]);
  if (status.Until) parts.push(`until ${until(status.Until)}`);
  return parts.filter(Boolean).join(", ");
}

function until(iso) {
  const when = new Date(iso);
  const time = when.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  if (when.toDateString() === new Date().toDateString()) return time;
  return `${when.toLocaleDateString([], { weekday: "short", month: "short", day: "numeric" })} ${time}`;
}

// Ours, beside our name in the header; forgotten when its Until passes (the server's
// frame says so too, but a page asleep may have missed it).
function showOwn(status) {
  own = status;
  clearTimeout(ownEnds);
  if (status?.Until) {
    ownEnds = setTimeout(() => showOwn(null), Math.max(0, new Date(status.Until) - new Date()));
  }
  const mine = $("#my-status");
  mine.replaceChildren();
  const badge = status === null ? null : statusBadge(lent.me());
  if (badge !== null) mine.append(badge);
  mine.hidden = badge === null && (status === null || status.Presence === "auto");
  if (badge === null && status !== null) mine.textContent = SHOWN_AS[status.Presence] ?? "";
}

function fillForm() {
  const form = $("#status-form").elements;
  form.emoji.value = own?.Emoji ?? "";
  form.text.value = own?.Text ?? "";
  form.presence.value = own?.Presence ?? "auto";
  form.until.value = "";
  $("#status-said").textContent = own === null ? "You have no status." : `Now: ${described(own)}.`;
  $("#status-clear").hidden = own === null;
}

// The end of a "Clear after" choice, as an ISO time (null: never).
function clearAfter(choice) {
  const now = new Date();
  if (choice === "") return null;
  if (choice === "today") {
    return new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1).toISOString();
  }
  if (choice === "week") {   // the end of Sunday
    const days = 7 - ((now.getDay() + 6) % 7);
    return new Date(now.getFullYear(), now.getMonth(), now.getDate() + days).toISOString();
  }
  return new Date(now.getTime() + Number(choice) * MINUTE_MS).toISOString();
}

async function save() {
  const form = $("#status-form").elements;
  const said = $("#status-said");
  const body = {
    Emoji: form.emoji.value.trim() || null,
    Text: form.text.value.trim(),
    Presence: form.presence.value,
    Until: clearAfter(form.until.value),
  };
  said.textContent = "";
  try {
    const status = await lent.api("PUT", "/me/status", body);
    learnStatus(lent.me(), status);
    said.textContent = `Status set: ${described(status)}.`;
    $("#status-clear").hidden = false;
  } catch (error) {
    said.textContent = error.message;
  }
}

async function clear() {
  const said = $("#status-said");
  try {
    await lent.api("DELETE", "/me/status");
    learnStatus(lent.me(), null);
    $("#status-form").reset();
    said.textContent = "Status cleared.";
    $("#status-clear").hidden = true;
  } catch (error) {
    said.textContent = error.message;
  }
}
