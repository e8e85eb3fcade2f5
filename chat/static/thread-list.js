// The Threads view (docs/PROTOCOL.md, "Following threads"): "Threads" in the side panel,
// with a badge counting the followed threads that have unread replies, and a list that
// takes the conversation's place (as saved messages do): each followed thread's room, its
// root's author and first words, how many replies are unread and whether one mentions
// you, when the last came; those with unread replies first. Choosing one opens its room
// and the thread panel on it (threads.js, lent by app.js as `open`).
// The list is GET /threads/unread, read again (one request for a burst) when a room is
// entered (the socket opened), when an activity frame or a thread reply arrives, and after
// a thread is read or followed. Its roots' words come from each thread's oldest message,
// asked for once per thread. threads.js asks it whether a thread is followed (the panel's
// Follow button) and how far it was read.

import { describeFiles } from "./attachments.js";

const $ = (selector) => document.querySelector(selector);

const LIMIT = 500;         // followed threads asked for (the server's most)
const SHOWN = 50;          // listed at most: each needs its root
const REREAD_MS = 300;     // a burst of activity is one request
const WORDS = 80;          // characters of a root shown

// What app.js lends us (setUpThreadList): { api(method, path, body), room(roomId) ->
// { name, kind } as the room list says, open(roomId, rootId), fold() the side panel on a
// phone }.
let lent = null;
// The followed threads as the server last said (null until it has), how many times they
// were asked for (a later answer wins; a read made here drops the answers on their way),
// the timer of the next reading, who wants to hear of each new answer, and what the
// view shows (as JSON: drawn again only when that changes).
const list = { threads: null, asked: 0, timer: null, listeners: [], drawn: "" };
// ThreadID -> its root message (null: it could not be read), asked for once; and the
// requests on their way (a redraw meanwhile waits for the same one).
const roots = new Map();
const asking = new Map();

export function setUpThreadList(lentByApp) {
  lent = lentByApp;
  $("#threads-open").addEventListener("click", () => {
    if ($("#threads-view").hidden) openThreadList();
    else closeThreadList({ focus: true });
  });
  $("#threads-close").addEventListener("click", () => closeThreadList({ focus: true }));
  $("#threads-view").addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.preventDefault();
    closeThreadList({ focus: true });
  });
  // A room chosen in the list shows it, even the one shown already.
  $("#rooms").addEventListener("click", (event) => {
    if (event.target.closest("button")) closeThreadList();
  });
  // Another view taking the conversation's place (search, saved messages, reports)
  // takes this one's too. (Observed: their modules do not know of this one.)
  const others = ["#search-view", "#saved-view", "#moderation-view"].map($);
  const observer = new MutationObserver(() => {
    if (others.some((view) => !view.hidden)) hideView();
  });
  for (const view of others) observer.observe(view, { attributes: true, attributeFilter: ["hidden"] });
}

// The followed threads changed, perhaps (a frame, a room entered): read again shortly.
export function threadsChanged() {
  if (list.timer !== null) return;
  list.timer = setTimeout(() => {
    list.timer = null;
    readList();
  }, REREAD_MS);
}

// Whether the thread of `rootId` is followed: true, false, or null while unknown.
export function following(rootId) {
  if (list.threads === null) return null;
  return list.threads.some((thread) => thread.ThreadID === rootId);
}

// The newest message of the thread `rootId` that the server has as read (0: unknown).
export function readUpTo(rootId) {
  return list.threads?.find((thread) => thread.ThreadID === rootId)?.ReadID ?? 0;
}

// `listener()` after each answer of the server, and after a change made here.
export function onThreadList(listener) {
  list.listeners.push(listener);
}

// We followed, or stopped following, a thread (threads.js): so until the server says more.
export function followChanged(rootId, roomId, followed) {
  if (list.threads !== null) {
    list.threads = list.threads.filter((thread) => thread.ThreadID !== rootId);
    if (followed) {
      list.threads.unshift({
        ThreadID: rootId, RoomID: roomId, ReadID: rootId, LastReplyID: null,
        LastReplyAt: null, Unread: 0, Mentions: 0,
      });
    }
  }
  list.asked += 1;   // an answer on its way predates the change
  changed();
  threadsChanged();
}

// We read the thread `rootId` up to `messageId` (threads.js): its count drops at once if
// that is its last reply; the server's counts follow.
export function threadRead(rootId, messageId) {
  const thread = list.threads?.find((known) => known.ThreadID === rootId);
  if (thread !== undefined) {
    thread.ReadID = Math.max(thread.ReadID, messageId);
    if (thread.LastReplyID !== null && messageId >= thread.LastReplyID) {
      thread.Unread = 0;
      thread.Mentions = 0;
    }
  }
  list.asked += 1;   // an answer on its way may predate the read
  changed();
  threadsChanged();
}

async function readList() {
  const asked = ++list.asked;
  let threads;
  try {
    threads = await lent.api("GET", `/threads/unread?limit=${LIMIT}`);
  } catch (error) {
    if (asked === list.asked && !$("#threads-view").hidden) showProblem(error.message);
    return;
  }
  if (asked !== list.asked) return;   // overtaken, or a change made here since
  list.threads = threads;
  changed();
}

// The badge, the view if it is open, and whoever listens.
function changed() {
  showBadge();
  if (!$("#threads-view").hidden) showList();
  for (const listener of list.listeners) listener();
}

function showBadge() {
  const unread = (list.threads ?? []).filter((thread) => thread.Unread > 0).length;
  $("#threads-badge").textContent = String(unread);
  $("#threads-badge").hidden = unread === 0;
  // (The badge is not read out: the button's name says it in words.)
  const said = unread === 0 ? "Threads" : `Threads, ${unread} with unread replies`;
  $("#threads-open").setAttribute("aria-label", said);
  // On a phone the side panel folds away: its button carries a dot meanwhile.
  $("#menu").dataset.threads = unread === 0 ? "read" : "unread";
}

// The list, in place of the conversation (and of any other view there).
export function openThreadList() {
  for (const view of ["#room", "#search-view", "#saved-view", "#moderation-view"]) {
    $(view).hidden = true;
  }
  $("#threads-view").hidden = false;
  $("#threads-open").setAttribute("aria-expanded", "true");
  lent.fold();
  $("#threads-heading").focus();
  $("#threads-status").textContent = list.threads === null ? "Loading…" : "";
  if (list.threads !== null) showList();
  threadsChanged();
}

// The conversation again (Back, Escape, the Threads entry again, a room or a thread
// chosen); `focus`: on the Threads entry.
export function closeThreadList({ focus = false } = {}) {
  if ($("#threads-view").hidden) return;
  hideView();
  $("#room").hidden = false;
  if (focus && $("#threads-open").getClientRects().length > 0) $("#threads-open").focus();
  else if (focus) $("#composer").focus();
}

function hideView() {
  $("#threads-view").hidden = true;
  $("#threads-open").setAttribute("aria-expanded", "false");
}

// Unread ones first, each kind the most recently answered first (as the server sends
// them); the roots not known yet are asked for, then the list is drawn again.
async function showList() {
  const threads = [...list.threads];
  const shown = [
    ...threads.filter((thread) => thread.Unread > 0),
    ...threads.filter((thread) => thread.Unread === 0),
  ].slice(0, SHOWN);
  const missing = shown.filter((thread) => !roots.has(thread.ThreadID));
  if (missing.length > 0) {
    await Promise.all(missing.map(readRoot));
    if (list.threads === null || $("#threads-view").hidden) return;
    return showList();   // the list may have changed meanwhile: drawn as it is now
  }
  // Drawn again only if something changed (a tap or the focus stays where it was); the
  // focus stays on the thread it was on, across a redraw.
  const drawn = JSON.stringify(shown.map((thread) => [thread, lent.room(thread.RoomID).name]));
  if (drawn !== list.drawn) {
    list.drawn = drawn;
    const focused = document.activeElement?.closest("#thread-list li")?.dataset.thread;
    $("#thread-list").replaceChildren(...shown.map(threadItem));
    if (focused !== undefined) $(`#thread-list li[data-thread="${focused}"] button`)?.focus();
  }
  $("#threads-error").hidden = true;
  const unread = threads.filter((thread) => thread.Unread > 0).length;
  $("#threads-status").textContent = threads.length === 0
    ? "No threads followed yet: replying in a thread, or Follow in its panel, lists it here."
    : `${threads.length} ${threads.length === 1 ? "thread" : "threads"} followed, ${unread} with unread replies`
      + (threads.length > SHOWN ? ` (the ${SHOWN} latest shown).` : ".");
}

// A thread's root: its oldest message, the one before the message after it.
function readRoot({ ThreadID, RoomID }) {
  if (!asking.has(ThreadID)) {
    const path = `/messages/${RoomID}/threads/${ThreadID}?last_id=${ThreadID + 1}&limit=1`;
    asking.set(ThreadID, lent.api("GET", path).then(
      ([root]) => roots.set(ThreadID, root ?? null),
      () => roots.set(ThreadID, null),   // not ours to read any more: the list says so next time
    ).finally(() => asking.delete(ThreadID)));
  }
  return asking.get(ThreadID);
}

// One followed thread: a button that opens it, saying where, whose, what, how many unread.
function threadItem(thread) {
  const root = roots.get(thread.ThreadID);
  const listed = lent.room(thread.RoomID);
  const where = element("span", "where", listed.name);
  where.dataset.kind = listed.kind === "direct" ? "direct" : "group";
  const who = element("span", "who", root ? root.DisplayName ?? root.Username : "");
  const at = thread.LastReplyAt ?? root?.CreatedAt;
  const when = element("time", "", at ? shortTime(new Date(at)) : "");
  if (at) {
    when.dateTime = at;
    when.title = `last reply ${new Date(at).toLocaleString()}`;
  }
  const snippet = element("span", "snippet", firstWords(root));
  const counts = element("span", "counts");
  if (thread.Unread > 0) {
    const many = thread.Unread >= 1000 ? "1000+" : String(thread.Unread);
    counts.append(element("span", "unread-count", `${many} unread`));
  }
  if (thread.Mentions > 0) {
    const mark = element("span", "mention-mark", "@");
    mark.title = "mentions you";
    counts.append(mark, element("span", "visually-hidden", " mentions you"));
  }
  const open = Object.assign(element("button", "result"), { type: "button" });
  open.append(where, who, when, snippet, counts);
  open.addEventListener("click", () => {
    closeThreadList();
    lent.open(thread.RoomID, thread.ThreadID);
  });
  const item = element("li", thread.Unread > 0 ? "unread" : "");
  item.dataset.thread = String(thread.ThreadID);
  item.append(open);
  return item;
}

function firstWords(root) {
  if (root === undefined || root === null) return "a thread";
  if (root.Deleted) return "message deleted";
  const said = root.Text || describeFiles(root.Files) || "";
  return said.length > WORDS ? `${said.slice(0, WORDS).trimEnd()}…` : said;
}

// A time today as "17:02", an earlier one as its day ("Nov 26").
function shortTime(when) {
  if (when.toDateString() === new Date().toDateString()) {
    return when.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  }
  return when.toLocaleDateString([], { month: "short", day: "numeric" });
}

function showProblem(text) {
  $("#threads-status").textContent = "";
  Object.assign($("#threads-error"), { textContent: text, hidden: false });
}

function element(tag, className, textContent = "") {
  return Object.assign(document.createElement(tag), { className, textContent });
}
