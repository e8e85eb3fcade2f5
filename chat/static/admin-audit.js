// The operators' console's Audit log tab (admin.js has the tabs): GET /audit, newest
// first, filtered by action and by the user who acted or was acted on, a page at a time.
// docs/PROTOCOL.md, "Audit log".

const $ = (selector) => document.querySelector(selector);

const PAGE = 50;
// What admin.js lends: { api }.
let lent = null;
let shown = { action: "", uid: "", before: null };
let reads = 0;   // only the newest read is drawn

export function setUpAdminAudit(lentByConsole) {
  lent = lentByConsole;
  $("#admin-audit-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = $("#admin-audit-filter").elements;
    readAudit(form.action.value.trim(), form.uid.value.trim(), false);
  });
  $("#admin-audit-more").addEventListener("click", () => readAudit(shown.action, shown.uid, true));
}

// The Audit log tab was chosen: its filters as they are (`uid`: set from an account).
export function showAudit(uid) {
  const form = $("#admin-audit-filter").elements;
  if (uid !== undefined) {
    form.action.value = "";
    form.uid.value = String(uid);
  }
  readAudit(form.action.value.trim(), form.uid.value.trim(), false);
}

async function readAudit(action, uid, more) {
  const read = ++reads;
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (action) params.set("action", action);
  if (uid) params.set("uid", uid);
  if (more && shown.before !== null) params.set("before", String(shown.before));
  let entries;
  try {
    entries = await lent.api("GET", `/audit?${params}`);
  } catch (error) {
    if (read === reads) $("#admin-audit-status").textContent = error.message;
    return;
  }
  if (read !== reads) return;
  shown = { action, uid, before: entries.length === PAGE ? entries.at(-1).AuditID : null };
  const body = $("#admin-audit tbody");
  const rows = entries.map(entryRow);
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  $("#admin-audit-more").hidden = shown.before === null;
  const count = body.children.length;
  $("#admin-audit-status").textContent = count === 0
    ? "No entries."
    : `${count} entr${count === 1 ? "y" : "ies"}, newest first.`;
}

function entryRow(entry) {
  const row = document.createElement("tr");
  row.dataset.auditId = String(entry.AuditID);
  row.append(
    cell(new Date(entry.CreatedAt).toLocaleString()),
    cell(entry.Action),
    cell(entry.By.Username),
    cell(entry.Target ? entry.Target.Username : ""),
    cell(entry.RoomID === null ? "server" : `room ${entry.RoomID}`),
  );
  return row;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}
