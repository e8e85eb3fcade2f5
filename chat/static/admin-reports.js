// The operators' console's Reports tab (admin.js has the tabs): every room's reports
// (GET /reports?status=), newest first, each resolved or dismissed where it stands (PUT
// /reports/{ReportID}). docs/PROTOCOL.md, "Reports".

const $ = (selector) => document.querySelector(selector);

const PAGE = 50;
// What admin.js lends: { api }.
let lent = null;
let shown = { status: "open", before: null };
let reads = 0;   // only the newest read is drawn

export function setUpAdminReports(lentByConsole) {
  lent = lentByConsole;
  $("#admin-reports-filter").elements.status.addEventListener("change", () => showReports());
  $("#admin-reports-more").addEventListener("click", () => readReports(shown.status, true));
}

// The Reports tab was chosen, or its filter changed.
export function showReports() {
  readReports($("#admin-reports-filter").elements.status.value, false);
}

async function readReports(status, more) {
  const read = ++reads;
  const params = new URLSearchParams({ status, limit: String(PAGE) });
  if (more && shown.before !== null) params.set("before", String(shown.before));
  let reports;
  try {
    reports = await lent.api("GET", `/reports?${params}`);
  } catch (error) {
    if (read === reads) $("#admin-reports-status").textContent = error.message;
    return;
  }
  if (read !== reads) return;
  shown = { status, before: reports.length === PAGE ? reports.at(-1).ReportID : null };
  const body = $("#admin-reports tbody");
  const rows = reports.map(reportRow);
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  $("#admin-reports-more").hidden = shown.before === null;
  const count = body.children.length;
  $("#admin-reports-status").textContent = count === 0
    ? `No ${status === "all" ? "" : `${status} `}reports.`
    : `${count} report${count === 1 ? "" : "s"}, newest first.`;
}

function reportRow(report) {
  const row = document.createElement("tr");
  row.dataset.reportId = String(report.ReportID);
  const message = `${report.Message.Username ?? ""}: ${report.Message.Text ?? ""}`;
  row.append(
    cell(new Date(report.CreatedAt).toLocaleString()),
    cell(`room ${report.RoomID}`),
    cell(message),
    cell(`${report.Reporter.Username}: ${report.Reason || "(no reason)"}`),
    decision(report),
  );
  return row;
}

function decision(report) {
  const td = document.createElement("td");
  if (report.Status !== "open") {
    td.textContent = `${report.Status} by ${report.DecidedBy?.Username ?? "?"}`;
    return td;
  }
  for (const [status, label] of [["resolved", "Resolve"], ["dismissed", "Dismiss"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "plain";
    button.textContent = label;
    button.addEventListener("click", () => decide(report, status));
    td.append(button);
  }
  return td;
}

async function decide(report, status) {
  let decided;
  try {
    decided = await lent.api("PUT", `/reports/${report.ReportID}`, { Status: status });
  } catch (error) {
    $("#admin-reports-status").textContent = error.message;
    return;
  }
  $(`#admin-reports tr[data-report-id="${report.ReportID}"]`)?.replaceWith(reportRow(decided));
  $("#admin-reports-status").textContent = `Report ${report.ReportID} is ${status}.`;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}
