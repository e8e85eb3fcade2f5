// The operators' console (#admin-dialog), its tabs, and its Accounts tab over /admin/users (docs/PROTOCOL.md, "The
// operators' console"): search every account, page through them, and run one:
// deactivate or reactivate it, make it an operator or take that away, log it out
// everywhere. Shown to operators only (their own profile says "Operator": true); the
// server checks the role on every request anyway. The page at /admin opens it once
// signed in.

import { setUpAdminAudit, showAudit } from "./admin-audit.js";
import { setUpAdminReports, showReports } from "./admin-reports.js";
import { setUpAdminRooms, showRooms, showServer } from "./admin-rooms.js";
import { confirmAction } from "./confirm.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends: { api, me() -> our UID }.
let lent = null;
// The search shown (its text, and the `after` of its next page: null, the last) and the
// account open below it (its UID: null, none).
let search = { q: "", next: null };
let openUid = null;
// Only the newest search is drawn: an older answer arriving last would show stale rows.
let searches = 0;

export function setUpAdmin(lentByApp) {
  lent = lentByApp;
  $("#admin").addEventListener("click", openConsole);
  $("#admin-close").addEventListener("click", () => $("#admin-dialog").close());
  $("#admin-search").addEventListener("submit", (event) => {
    event.preventDefault();
    find($("#admin-search").elements.q.value.trim(), false);
  });
  $("#admin-more").addEventListener("click", () => find(search.q, true));
  $("#admin-active").addEventListener("click", toggleActive);
  $("#admin-operator").addEventListener("click", toggleOperator);
  $("#admin-logout").addEventListener("click", logOutEverywhere);
  $("#admin-reset").addEventListener("click", makeResetLink);
  $("#admin-reset-copy").addEventListener("click", () => {
    navigator.clipboard?.writeText($("#admin-reset-url").textContent).catch(() => {});
  });
  setUpAdminRooms({ api: lent.api });
  setUpAdminAudit({ api: lent.api });
  setUpAdminReports({ api: lent.api });
  $("#admin-user-audit").addEventListener("click", () => {
    if (openUid !== null) choose($("#admin-tab-audit"), openUid);
  });
  const tabs = [...document.querySelectorAll("#admin-tabs [role=tab]")];
  for (const [index, tab] of tabs.entries()) {
    tab.addEventListener("click", () => choose(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      const next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      choose(next);
    });
  }
}

// One tab of the console shown, its panel read afresh (the audit log: of `uid`, if given).
function choose(chosen, uid) {
  for (const tab of document.querySelectorAll("#admin-tabs [role=tab]")) {
    const selected = tab === chosen;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !selected;
  }
  if (chosen.id === "admin-tab-rooms") showRooms();
  else if (chosen.id === "admin-tab-server") showServer();
  else if (chosen.id === "admin-tab-audit") showAudit(uid);
  else if (chosen.id === "admin-tab-reports") showReports();
  else find(search.q, false);
}

// Signed in: show the Admin button to an operator, and open the console at /admin.
export function adminSignedIn(operator) {
  $("#admin").hidden = !operator;
  if (operator && location.pathname === "/admin") openConsole();
}

function openConsole() {
  const dialog = $("#admin-dialog");
  if (!dialog.open) dialog.showModal();
  $("#admin-user").hidden = true;
  openUid = null;
  choose($("#admin-tab-users"));
  $("#admin-search").elements.q.focus();
}

async function find(q, more) {
  const read = ++searches;
  const params = new URLSearchParams({ q, limit: "50" });
  if (more && search.next !== null) params.set("after", String(search.next));
  let page;
  try {
    page = await lent.api("GET", `/admin/users?${params}`);
  } catch (error) {
    if (read === searches) $("#admin-status").textContent = error.message;
    return;
  }
  if (read !== searches) return;
  search = { q, next: page.Next };
  const rows = page.Users.map(userRow);
  const body = $("#admin-users tbody");
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  $("#admin-more").hidden = page.Next === null;
  const shown = body.children.length;
  $("#admin-status").textContent = shown === 0
    ? (q ? `No account matches "${q}".` : "No accounts.")
    : `${shown} account${shown === 1 ? "" : "s"}${page.Next === null ? "" : " so far"}.`;
}

function userRow(user) {
  const row = document.createElement("tr");
  row.dataset.uid = String(user.UID);
  const name = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "plain";
  button.textContent = user.DisplayName ? `${user.DisplayName} (${user.Username})` : user.Username;
  button.addEventListener("click", () => showUser(user.UID));
  name.append(button);
  row.append(name, cell(user.Email ?? ""), cell(roleOf(user)), cell(stateOf(user)));
  return row;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

const roleOf = (user) => (user.Kind === "bot" ? "bot" : user.Operator ? "operator" : "member");
const stateOf = (user) => (user.Active ? "active" : "deactivated");

async function showUser(uid) {
  openUid = uid;
  let user;
  try {
    user = await lent.api("GET", `/admin/users/${uid}`);
  } catch (error) {
    $("#admin-status").textContent = error.message;
    return;
  }
  if (openUid === uid) draw(user);
}

// One account, below the list; its row in the list redrawn to match.
function draw(user) {
  const section = $("#admin-user");
  section.hidden = false;
  if (section.dataset.uid !== String(user.UID)) $("#admin-reset-made").hidden = true;
  section.dataset.uid = String(user.UID);
  $("#admin-user-name").textContent = user.Username;
  const facts = [
    ["Display name", user.DisplayName ?? "none"],
    ["E-mail", user.Email ?? "none"],
    ["Role", roleOf(user)],
    ["State", stateOf(user)],
    ["Rooms", rooms(user)],
    ["Browser sessions", String(user.Sessions)],
    ["Two-factor", user.TwoFactor ? "on" : "off"],
    ["Last seen", user.LastSeen ? new Date(user.LastSeen).toLocaleString() : "never"],
    ["Joined", new Date(user.CreatedAt).toLocaleDateString()],
  ];
  $("#admin-user-facts").replaceChildren(...facts.flatMap(([term, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    return [dt, dd];
  }));
  const self = user.UID === lent.me();
  const active = $("#admin-active");
  active.textContent = user.Active ? "Deactivate" : "Reactivate";
  active.className = user.Active ? "danger" : "";
  active.disabled = self;
  const operator = $("#admin-operator");
  operator.textContent = user.Operator ? "Remove operator" : "Make operator";
  operator.hidden = user.Kind === "bot";
  operator.disabled = self;
  $("#admin-logout").disabled = self;
  $("#admin-reset").hidden = user.Kind === "bot";
  section.dataset.active = String(user.Active);
  section.dataset.operator = String(user.Operator);
  const row = document.querySelector(`#admin-users tr[data-uid="${user.UID}"]`);
  row?.replaceWith(userRow(user));
}

function rooms(user) {
  const named = user.Rooms.filter((room) => room.Name).map((room) => room.Name);
  const listed = named.slice(0, 5).join(", ");
  return named.length ? `${user.RoomCount}: ${listed}${named.length > 5 ? ", ..." : ""}` : String(user.RoomCount);
}

async function change(body, doneText) {
  const uid = openUid;
  if (uid === null) return;
  try {
    draw(await lent.api("PUT", `/admin/users/${uid}`, body));
  } catch (error) {
    $("#admin-status").textContent = error.message;
    return;
  }
  $("#admin-status").textContent = doneText;
}

async function toggleActive() {
  const section = $("#admin-user");
  const name = $("#admin-user-name").textContent;
  if (section.dataset.active === "true") {
    const question = `Deactivate ${name}? Their sessions end at once and they cannot log in; their messages stay.`;
    if (!(await confirmAction(question, "Deactivate"))) return;
    await change({ Active: false }, `${name} is deactivated.`);
  } else {
    await change({ Active: true }, `${name} is active again.`);
  }
}

async function toggleOperator() {
  const section = $("#admin-user");
  const name = $("#admin-user-name").textContent;
  if (section.dataset.operator === "true") {
    const question = `Remove ${name} as an operator? Their sessions end, and they log in again as a member.`;
    if (!(await confirmAction(question, "Remove operator"))) return;
    await change({ Operator: false }, `${name} is no longer an operator.`);
  } else {
    const question = `Make ${name} an operator? They can run every account and room.`;
    if (!(await confirmAction(question, "Make operator"))) return;
    await change({ Operator: true }, `${name} is an operator.`);
  }
}

async function logOutEverywhere() {
  const uid = openUid;
  const name = $("#admin-user-name").textContent;
  if (uid === null) return;
  if (!(await confirmAction(`Log ${name} out everywhere?`, "Log out"))) return;
  try {
    await lent.api("DELETE", `/admin/users/${uid}/sessions`);
  } catch (error) {
    $("#admin-status").textContent = error.message;
    return;
  }
  $("#admin-status").textContent = `${name} is logged out everywhere.`;
  showUser(uid);
}

// A one-time password-reset link, shown for the operator to hand over (nothing is mailed).
async function makeResetLink() {
  const uid = openUid;
  const name = $("#admin-user-name").textContent;
  if (uid === null) return;
  let made;
  try {
    made = await lent.api("POST", `/admin/users/${uid}/password-reset`);
  } catch (error) {
    $("#admin-status").textContent = error.message;
    return;
  }
  if (openUid !== uid) return;
  $("#admin-reset-url").textContent = made.URL;
  $("#admin-reset-made").hidden = false;
  $("#admin-status").textContent = `A password reset link for ${name} is ready.`;
}
