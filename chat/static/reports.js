// A room's reports and audit log, for its moderators and owners (docs/PROTOCOL.md,
// "Reports" and "Audit log"): the header's Reports button opens them in place of the
// conversation, as search results are shown. Each open report shows the message
// reported, who reported it and why, with Show (the message in its room), Delete the
// message, Resolve and Dismiss; the bans in force, each with Lift; the audit log lists
// who did what to whom, newest first, with older pages on request. Everything goes into the page as text.
// The Reports button counts the room's open reports, live: asked for when the room is
// shown, then told by the reports frames (a report filed or decided, on any instance).

import { confirmAction } from "./confirm.js";
import { clock } from "./moderation.js";

const PAGE = 50;
const MAX_PAGE = 100;   // the server's largest page (a count past it shows as "100+")

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpReports): { api(method, path, body), shown() -> the RoomID
// shown, moderates(roomId), open(roomId, messageId), roomName(roomId) }.
let lent = null;
// The room whose reports are shown, the oldest audit entry listed, and how many times
// the view was opened (an answer for an earlier opening is dropped).
const view = { room: null, oldest: null, turn: 0 };

export function setUpReports(lentByApp) {
  lent = lentByApp;
  $("#room-reports").addEventListener("click", () => openReports(lent.shown()));
  $("#moderation-close").addEventListener("click", closeReports);
  $("#audit-more").addEventListener("click", () => loadAudit(view.turn, { more: true }));
  $("#moderation-view").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeReports();
  });
  // A search takes the conversation's place too: the two are never shown together.
  $("#search-form").addEventListener("submit", () => { $("#moderation-view").hidden = true; });
}

// RoomID -> how many of its reports are open (the latest answer or frame).
const openCounts = new Map();
const countTurns = new Map();   // RoomID -> how many times its count was asked or told

// The room shown: Reports for its moderators, with how many are open.
export function showReportsButton(roomId) {
  const moderates = lent.moderates(roomId);
  $("#room-reports").hidden = !moderates;
  showOpenCount();
  if (moderates) askOpenCount(roomId);
}

// How many reports of the room are open (up to a page: "100+" past it).
async function askOpenCount(roomId) {
  const asked = (countTurns.get(roomId) ?? 0) + 1;
  countTurns.set(roomId, asked);
  let reports;
  try {
    reports = await lent.api("GET", `/room/${roomId}/reports?status=open&limit=${MAX_PAGE}`);
  } catch {
    return;   // the button works without its count
  }
  if (asked !== countTurns.get(roomId)) return;   // a frame, or a later question, knows better
  openCounts.set(roomId, reports.length);
  showOpenCount();
}

// A reports frame ({"Type": "reports", "RoomID", "Open"}): returns whether it was one.
export function reportsFrame(frame) {
  if (frame.Type !== "reports") return false;
  countTurns.set(frame.RoomID, (countTurns.get(frame.RoomID) ?? 0) + 1);   // newer than any answer on its way
  openCounts.set(frame.RoomID, Number(frame.Open) || 0);
  showOpenCount();
  return true;
}

function showOpenCount() {
  const open = openCounts.get(lent.shown()) ?? 0;
  const count = $("#reports-open");
  const button = $("#room-reports");
  // Its text is part of the button's name ("Reports 3"), as seen and as heard.
  count.textContent = open >= MAX_PAGE ? `${MAX_PAGE}+` : String(open);
  count.hidden = open === 0;
  button.title = open === 0 ? "" : `${count.textContent} open ${open === 1 ? "report" : "reports"}`;
}

async function openReports(roomId) {
  const turn = ++view.turn;
  view.room = roomId;
  view.oldest = null;
  $("#moderation-heading").textContent = `Reports and audit log: ${lent.roomName(roomId)}`;
  $("#moderation-error").hidden = true;
  $("#reports").replaceChildren();
  $("#bans").replaceChildren();
  $("#audit").replaceChildren();
  $("#reports-status").textContent = "Loading…";
  $("#room").hidden = true;
  $("#search-view").hidden = true;
  $("#moderation-view").hidden = false;
  $("#moderation-close").focus();
  await Promise.all([loadReports(turn), loadBans(turn), loadAudit(turn)]);
}

// The conversation again (Back, Escape, or the person went to a room).
export function closeReports() {
  if ($("#moderation-view").hidden) return;
  view.turn += 1;
  $("#moderation-view").hidden = true;
  $("#room").hidden = false;
}

function failed(turn, error) {
  if (turn !== view.turn) return;
  $("#moderation-error").textContent = error.message;
  $("#moderation-error").hidden = false;
}

// --- reports ---

async function loadReports(turn) {
  let reports;
  try {
    reports = await lent.api("GET", `/room/${view.room}/reports?status=open&limit=${PAGE}`);
  } catch (error) {
    $("#reports-status").textContent = "";
    return failed(turn, error);
  }
  if (turn !== view.turn) return;
  $("#reports").replaceChildren(...reports.map(reportItem));
  countReports();
}

function countReports() {
  const open = $("#reports").querySelectorAll("li:not(.decided)").length;
  $("#reports-status").textContent = open === 0
    ? "No open reports."
    : `${open} open ${open === 1 ? "report" : "reports"}.`;
}

function reportItem(report) {
  const item = document.createElement("li");
  item.className = "report-item";
  item.dataset.report = String(report.ReportID);
  const message = document.createElement("blockquote");
  const author = document.createElement("span");
  author.className = "who";
  author.textContent = report.Message?.Username ?? "someone";
  const text = document.createElement("span");
  text.className = "reported-text";
  text.textContent = report.Message?.Deleted ? "message deleted" : report.Message?.Text ?? "";
  message.append(author, " ", text);
  const about = document.createElement("p");
  about.className = "about";
  const when = document.createElement("time");
  when.dateTime = report.CreatedAt;
  when.textContent = clock(report.CreatedAt);
  about.append(`Reported by ${report.Reporter.Username}, `, when,
    report.Reason ? `: “${report.Reason}”` : ".");
  const buttons = document.createElement("div");
  buttons.className = "buttons";
  const outcome = document.createElement("p");
  outcome.className = "outcome";
  outcome.setAttribute("role", "status");
  const messageId = report.MessageID;
  buttons.append(
    button("Show the message", "plain", () => {
      closeReports();
      lent.open(report.RoomID, messageId);
    }),
    button("Delete the message", "danger", async (remove) => {
      const author = report.Message?.Username ?? "someone";
      if (!(await confirmAction(`Delete ${author}'s message for everyone?`, "Delete it"))) return;
      try {
        await lent.api("DELETE", `/messages/${report.RoomID}/${messageId}`);
        text.textContent = "message deleted";
        remove.disabled = true;
      } catch (error) {
        outcome.textContent = error.message;
      }
    }),
    button("Resolve", "", () => decide(item, report.ReportID, "resolved", outcome)),
    button("Dismiss", "plain", () => decide(item, report.ReportID, "dismissed", outcome)),
  );
  for (const made of buttons.children) {
    made.setAttribute("aria-describedby", `report-${report.ReportID}-about`);
  }
  about.id = `report-${report.ReportID}-about`;
  item.append(message, about, buttons, outcome);
  return item;
}

async function decide(item, reportId, status, outcome) {
  try {
    await lent.api("PUT", `/reports/${reportId}`, { Status: status });
  } catch (error) {
    outcome.textContent = error.message;
    return;
  }
  item.classList.add("decided");
  for (const made of item.querySelectorAll(".buttons button")) made.disabled = true;
  outcome.textContent = status === "resolved" ? "Resolved." : "Dismissed.";
  countReports();
  loadAudit(view.turn);   // the decision is in the log now
}

function button(label, className, action) {
  const made = document.createElement("button");
  made.type = "button";
  if (className) made.className = className;
  made.textContent = label;
  made.addEventListener("click", () => action(made));
  return made;
}

// --- bans ---

async function loadBans(turn) {
  let bans;
  try {
    bans = await lent.api("GET", `/room/${view.room}/bans`);
  } catch (error) {
    return failed(turn, error);
  }
  if (turn !== view.turn) return;
  const items = bans.map((ban) => {
    const item = document.createElement("li");
    item.dataset.uid = String(ban.UID);
    const about = document.createElement("span");
    about.className = "what";
    const until = ban.Until ? `until ${clock(ban.Until)}` : "until lifted";
    const by = ban.By ? ` by ${ban.By.Username}` : "";
    about.textContent = `${ban.Username}, ${until}${by}${ban.Reason ? `: “${ban.Reason}”` : ""}`;
    const lift = button("Lift the ban", "plain", async () => {
      try {
        await lent.api("DELETE", `/room/${view.room}/bans/${ban.UID}`);
      } catch (error) {
        return failed(view.turn, error);
      }
      item.remove();
      if ($("#bans").children.length === 0) loadBans(view.turn);   // says "None."
      loadAudit(view.turn);
    });
    lift.setAttribute("aria-label", `Lift ${ban.Username}'s ban`);
    item.append(about, lift);
    return item;
  });
  if (items.length === 0) {
    const none = document.createElement("li");
    none.textContent = "None.";
    items.push(none);
  }
  $("#bans").replaceChildren(...items);
}

// --- the audit log ---

async function loadAudit(turn, { more = false } = {}) {
  const before = more && view.oldest !== null ? `&before=${view.oldest}` : "";
  let entries;
  try {
    entries = await lent.api("GET", `/room/${view.room}/audit?limit=${PAGE}${before}`);
  } catch (error) {
    return failed(turn, error);
  }
  if (turn !== view.turn) return;
  const items = entries.map(auditItem);
  if (more) $("#audit").append(...items);
  else $("#audit").replaceChildren(...items);
  if (entries.length > 0) view.oldest = entries[entries.length - 1].AuditID;
  $("#audit-more").hidden = entries.length < PAGE;
  if ($("#audit").children.length === 0) {
    const none = document.createElement("li");
    none.textContent = "Nothing yet.";
    $("#audit").append(none);
  }
}

function auditItem(entry) {
  const item = document.createElement("li");
  item.dataset.action = entry.Action;
  const when = document.createElement("time");
  when.dateTime = entry.CreatedAt;
  when.textContent = clock(entry.CreatedAt);
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = describe(entry);
  item.append(when, " ", what);
  return item;
}

// "alice banned carol until 14:05: “spam”", from an entry's fields.
export function describe({ Action, By, Target, Reason, Details }) {
  const who = By?.Username ?? "someone";
  const whom = Target?.Username ?? "someone";
  const until = Details?.Until ? ` until ${clock(Details.Until)}` : "";
  let did;
  if (Action === "role") did = `made ${whom} ${Details?.Role ?? "something else"}`;
  else if (Action === "remove") did = `removed ${whom}`;
  else if (Action === "ban") did = `banned ${whom}${until || " until lifted"}`;
  else if (Action === "unban") did = `lifted ${whom}'s ban`;
  else if (Action === "mute") did = `muted ${whom}${until}`;
  else if (Action === "unmute") did = `lifted ${whom}'s mute`;
  else if (Action === "settings") did = `changed the settings: ${settingsChanged(Details)}`;
  else if (Action === "delete") did = `deleted a message by ${whom}`;
  else if (Action === "report-resolved") did = "resolved a report";
  else if (Action === "report-dismissed") did = "dismissed a report";
  else if (Action === "retention") did = `deleted ${Details?.Messages ?? "some"} expired messages`;
  else did = Action;
  return `${who} ${did}${Reason ? ` (“${Reason}”)` : ""}`;
}

function settingsChanged(details) {
  const said = [];
  for (const [field, value] of Object.entries(details ?? {})) {
    if (field === "Name") said.push(`name “${value}”`);
    else if (field === "Topic") said.push(value ? `topic “${value}”` : "no topic");
    else if (field === "IsPrivate") said.push(value ? "private" : "public");
    else if (field === "SlowModeSeconds") said.push(value ? `slow mode ${value} s` : "slow mode off");
    else if (field === "RetentionDays") said.push(value ? `messages kept ${value} days` : "messages kept as the server keeps them");
    else said.push(`${field} ${JSON.stringify(value)}`);
  }
  return said.join(", ") || "nothing";
}
