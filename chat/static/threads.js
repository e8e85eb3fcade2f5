// Threads (docs/PROTOCOL.md, "Threads"): "Thread" (reply in thread) among each message's
// actions (and so in a phone's "⋯" menu), a summary under each root with replies ("2
// replies · last reply 17:02"), and the thread panel: the root, its replies oldest
// first, live ones added as they come, and a composer of its own (Also send to room;
// files). Its messages are the timeline's kind (files; React, Edit, Delete: changes.js).
// The panel takes the people's column on a wide screen, the whole room on a phone.
// The summaries are read from GET /room/{roomID}/threads when a room is shown (again
// after a reconnection), kept up to date from the replies that arrive and the deletions
// of those the page knows of, and above all from the server's `thread` frames (each
// root's exact summary after a reply is stored or deleted; a resume brings those
// missed); a message carrying its own `Thread` is believed first. User text goes in
// with textContent only (or through markdown.js). Following ("Following threads"): the
// panel's Follow button (pressed while followed, as GET /threads/{id}/follow says when
// the panel opens, until then the Threads view's list: thread-list.js) follows or
// stops; a thread shown to its newest reply while the page is seen is said read (PUT
// /threads/{id}/read), so that the Threads view's count drops.

import { setUpThreadAttachments, showFiles } from "./attachments.js";
import { showMessageState } from "./changes.js";
import { renderMarkdown } from "./markdown.js";
import { addMessageMenu } from "./phone.js";
import {
  closeThreadList, followChanged, following, onThreadList, readUpTo, threadRead, threadsChanged,
} from "./thread-list.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpThreads): { api(method, path, body), avatar(name) -> the
// badge timeline.js draws beside a message, enter(roomId) another room, showRoom() the
// conversation again in place of another view (search, saved messages) }.
let lent = null;

const LIST_LIMIT = 100;   // threads asked for when a room is shown (the server's most)
const PAGE = 100;         // a thread's replies per page
const PAGES = 10;         // at most this many pages of one thread at first (then on asking)

// The room whose threads the page holds: each root's summary (rootId -> { Replies,
// LastReplyAt }), the thread replies it knows of (replyId -> rootId: counted once, and
// taken off again when deleted), and, while its list is on its way, the replies that
// arrived meanwhile (the list may or may not have counted them).
const threads = { roomId: null, summaries: new Map(), replies: new Map(), arriving: null };
// The thread open in the panel (its root's MessageID, or null), how many times one was
// opened (a later read overtakes an earlier), what had the focus before it opened, and
// the oldest reply read while older ones are left to read (0: none left).
const panel = { rootId: null, turn: 0, opener: null, older: 0 };
// A thread to open once its room is entered ({ roomId, rootId }: openThread), and the
// newest message of each thread said read from here (rootId -> MessageID).
let waiting = null;
const readSent = new Map();
// Whether we follow a thread, as the server said when its panel opened or as we chose
// since (rootId -> true or false); `choices` counts our choices, so that an answer asked
// before one is not believed over it.
const chosen = new Map();
let choices = 0;

// The panel composer's attachments (attachments.js): { has(), filesToSend(send), clear() }.
let attachments = null;

export function setUpThreads(lentByApp) {
  lent = lentByApp;
  attachments = setUpThreadAttachments();
  $("#thread-close").addEventListener("click", () => closeThread({ focus: true }));
  $("#thread-panel").addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.preventDefault();   // (the page's own Escape does nothing more: keyboard.js)
    closeThread({ focus: true });
  });
  $("#thread-composer").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("#thread-form").requestSubmit();
    }
  });
  $("#thread-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sendReply();
  });
  $("#thread-follow").addEventListener("click", toggleFollow);
  $("#thread-older").addEventListener("click", readOlder);
  onThreadList(showFollowing);
  document.addEventListener("visibilitychange", markRead);
}

// A room was entered: another room's threads are forgotten and its panel closed; the
// same room again (a reconnection) reads its list and the open thread again, as the
// replies sent meanwhile came in neither the resume nor the history.
// The followed threads are read again too (the socket opened: what came meanwhile).
export function showThreads(roomId) {
  if (roomId !== threads.roomId) {
    closeThread();
    closeThreadList();
    threads.roomId = roomId;
    threads.summaries = new Map();
    threads.replies = new Map();
  } else if (panel.rootId !== null) {
    readThread(panel.rootId);
  }
  readList(roomId);
  threadsChanged();
  const wanted = waiting;
  waiting = null;
  if (wanted?.roomId === roomId) showThread(wanted.rootId);
}

// The thread of `rootId` in room `roomId`, in its panel: the room entered first if another
// is shown (the Threads view, a search result). In place of any other view.
export function openThread(roomId, rootId) {
  closeThreadList();
  if (roomId === threads.roomId) {
    waiting = null;
    lent.showRoom();
    showThread(rootId);
    return;
  }
  waiting = { roomId, rootId };
  lent.enter(roomId);
}

async function readList(roomId) {
  const arriving = [];
  threads.arriving = arriving;
  let listed = [];
  try {
    listed = await lent.api("GET", `/room/${roomId}/threads?limit=${LIST_LIMIT}`);
  } catch {
    // Not a room we may read any more, or the server away: only the replies seen count.
  } finally {
    if (threads.arriving === arriving) threads.arriving = null;
  }
  if (roomId !== threads.roomId) return;
  for (const root of listed) setSummary(root.MessageID, root.Thread);
  // Replies that came while the list was on its way: counted if newer than its newest.
  for (const reply of arriving) {
    const known = threads.summaries.get(reply.ThreadID);
    if (known === undefined || Date.parse(reply.CreatedAt) > Date.parse(known.LastReplyAt)) {
      count(reply);
    }
  }
  showSummaries();
}

function setSummary(rootId, { Replies, LastReplyAt }) {
  threads.summaries.set(rootId, { Replies, LastReplyAt });
  const item = $(`#messages li[data-id="${rootId}"]`);
  if (item !== null) showSummary(item);
}

function count(reply) {
  const known = threads.summaries.get(reply.ThreadID) ?? { Replies: 0, LastReplyAt: reply.CreatedAt };
  const later = Date.parse(reply.CreatedAt) > Date.parse(known.LastReplyAt);
  setSummary(reply.ThreadID, {
    Replies: known.Replies + 1,
    LastReplyAt: later ? reply.CreatedAt : known.LastReplyAt,
  });
}

// A thread reply of the room shown (a frame, or the answer to ours): counted once under
// its root, and put in the panel if its thread is open there.
export function threadReply(message) {
  if (message.RoomID !== threads.roomId || !message.ThreadID) return;
  if (!threads.replies.has(message.MessageID)) {
    threads.replies.set(message.MessageID, message.ThreadID);
    if (threads.arriving !== null) threads.arriving.push(message);
    else count(message);
  }
  if (message.ThreadID === panel.rootId) addToPanel([message]);
  threadsChanged();   // a followed thread's count, perhaps
}

// A thread frame: the root's summary as the server now has it (a reply stored or
// deleted, on any instance; a resume brings those missed), believed over what the page
// counted. None left (Replies 0): the summary goes.
export function threadSummary(frame) {
  if (frame.RoomID !== threads.roomId || !frame.Thread) return;
  setSummary(frame.MessageID, frame.Thread);
}

// A deleted frame: a reply the page knows of counts no more. (The messages of the open
// thread change with the room's: changes.js applies each frame to both.)
export function threadChanged(frame) {
  if (frame.RoomID !== threads.roomId || frame.Type !== "deleted") return;
  const rootId = threads.replies.get(frame.MessageID);
  if (rootId === undefined) return;
  threads.replies.delete(frame.MessageID);
  const known = threads.summaries.get(rootId);
  if (known !== undefined) setSummary(rootId, { ...known, Replies: Math.max(0, known.Replies - 1) });
}

// "Thread" among a message's actions (none on a tombstone), and its thread's
// summary if it is a root with replies. timeline.js calls it as it puts each message on
// the page.
export function addThreadActions(item, message) {
  if (message.Thread) threads.summaries.set(message.MessageID, message.Thread);
  // A reply also sent to the room, from history: the list counted it; known, if deleted.
  if (message.ThreadID && message.RoomID === threads.roomId && !threads.replies.has(message.MessageID)) {
    threads.replies.set(message.MessageID, message.ThreadID);
  }
  showSummary(item);
  if (message.Deleted) return;
  // "Thread", short: the bar of actions over a message must leave its author's name free.
  const button = Object.assign(element("button", "thread-button", "Thread"), { type: "button" });
  button.title = "Reply in thread";
  button.setAttribute("aria-label", `Reply in thread to ${message.Username}`);
  button.addEventListener("click", () => showThread(message.ThreadID ?? message.MessageID, button));
  item.querySelector(".actions")?.append(button);
}

const showSummaries = () => document.querySelectorAll("#messages li[data-id]").forEach(showSummary);

// "N replies · last reply <time>" under a root, opening its thread; none without replies.
function showSummary(item) {
  const known = threads.summaries.get(Number(item.dataset.id));
  let button = item.querySelector(".thread-summary");
  if (!known || known.Replies <= 0) {
    button?.remove();
    return;
  }
  if (button === null) {
    button = Object.assign(element("button", "thread-summary"), { type: "button" });
    button.addEventListener("click", () => showThread(Number(item.dataset.id), button));
    item.append(button);
  }
  const replies = known.Replies === 1 ? "1 reply" : `${known.Replies} replies`;
  const last = new Date(known.LastReplyAt);
  button.textContent = `${replies} · last reply ${shortTime(last)}`;
  button.title = `last reply ${last.toLocaleString()}`;
  button.setAttribute("aria-expanded", String(panel.rootId === Number(item.dataset.id)));
}

// A time today as "17:02", an earlier one as its day ("Nov 26").
function shortTime(when) {
  if (when.toDateString() === new Date().toDateString()) {
    return when.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  }
  return when.toLocaleDateString([], { month: "short", day: "numeric" });
}

// The panel, showing the thread of `rootId` of the room shown (read afresh), its
// composer focused.
function showThread(rootId, opener = null) {
  const again = panel.rootId === rootId;
  panel.rootId = rootId;
  panel.opener = opener ?? panel.opener;
  $("#thread-panel").hidden = false;
  $("#room").classList.add("threading");
  showSummaries();
  if (!again) {
    $("#thread-root").replaceChildren();
    $("#thread-replies").replaceChildren();
    $("#thread-error").hidden = true;
    $("#thread-composer").value = "";
    $("#thread-also").checked = false;
    attachments.clear();   // (those of the thread shown before)
    panel.older = 0;
    $("#thread-older").hidden = true;
  }
  showFollowing();
  readFollowing(rootId);
  readThread(rootId);
  $("#thread-composer").focus();
}

// Whether we follow the thread, asked of the server (the Threads view's list holds only
// the followed threads it listed, the most recent first). If it cannot say, the list's
// answer stands.
async function readFollowing(rootId) {
  const asked = choices;
  let answer;
  try {
    answer = await lent.api("GET", `/threads/${rootId}/follow`);
  } catch {
    return;
  }
  if (asked !== choices) return;   // we chose since: our choice stands
  chosen.set(rootId, answer.Following);
  if (panel.rootId === rootId) showFollowing();
}

// Its pages, newest first, back to the root (the oldest), at most PAGES of them: a longer
// thread's root is read on its own, and its older replies on asking (Load older replies).
// The messages are put in ID order among those already shown, so live replies arriving
// meanwhile stay, once.
async function readThread(rootId) {
  const turn = ++panel.turn;
  const roomId = threads.roomId;
  $("#thread-status").textContent = "Loading…";
  let fetched;
  try {
    fetched = await readPages(roomId, rootId, 0, PAGES);
    if (turn !== panel.turn) return;   // another thread opened, or closed, meanwhile
    if (fetched.older) {
      const root = `/messages/${roomId}/threads/${rootId}?after=${rootId - 1}&limit=1`;
      fetched.messages.push(...await lent.api("GET", root));
      if (turn !== panel.turn) return;
    }
  } catch (error) {
    if (turn !== panel.turn) return;
    $("#thread-status").textContent = "";
    showProblem(error.message);
    return;
  }
  addRead(rootId, fetched, { fresh: true });
  const replies = $("#thread-replies").children.length;
  $("#thread-status").textContent = replies === 0 ? "No replies yet." : "";
}

// Up to `pages` pages of the thread older than `before` (0: from the newest), newest
// first; `older`: the oldest read, if there may be older ones (0: it reached the root).
async function readPages(roomId, rootId, before, pages) {
  const messages = [];
  for (let count = 0; count < pages; count++) {
    const query = before ? `?limit=${PAGE}&last_id=${before}` : `?limit=${PAGE}`;
    const page = await lent.api("GET", `/messages/${roomId}/threads/${rootId}${query}`);
    messages.push(...page);
    if (page.length < PAGE || page[page.length - 1].MessageID === rootId) {
      return { messages, older: 0 };
    }
    before = page[page.length - 1].MessageID;
  }
  return { messages, older: before };
}

// A page more of the open thread's older replies, above those shown (the reader stays).
async function readOlder() {
  const { rootId, turn, older } = panel;
  if (rootId === null || older === 0) return;
  const button = $("#thread-older");
  button.disabled = true;
  try {
    const fetched = await readPages(threads.roomId, rootId, older, 1);
    if (turn !== panel.turn) return;
    addRead(rootId, fetched, { keepPlace: true });
  } catch (error) {
    if (turn === panel.turn) showProblem(error.message);
  } finally {
    button.disabled = false;
  }
}

function addRead(rootId, { messages, older }, options) {
  for (const { MessageID } of messages) if (MessageID !== rootId) threads.replies.set(MessageID, rootId);
  panel.older = older;
  $("#thread-older").hidden = older === 0;
  addToPanel(messages.reverse(), options);
}

// `fresh`: read just now, so what is shown already is replaced (edited or deleted while
// the socket was away); else a message shown already is left as it is (once each).
// `keepPlace`: older ones, the reader left where they are; else the newest in view.
function addToPanel(messages, { fresh = false, keepPlace = false } = {}) {
  const body = $("#thread-body");
  const fromBottom = body.scrollHeight - body.scrollTop;
  for (const message of messages) {
    const shown = $(`#thread-panel li[data-id="${message.MessageID}"]`);
    if (shown !== null) {
      if (fresh) shown.replaceWith(threadItem(message));
      continue;
    }
    const item = threadItem(message);
    if (message.MessageID === panel.rootId) {
      $("#thread-root").replaceChildren(item);
      continue;
    }
    const list = $("#thread-replies");
    const later = [...list.children].find((li) => Number(li.dataset.id) > message.MessageID);
    list.insertBefore(item, later ?? null);
    $("#thread-status").textContent = "";
  }
  body.scrollTop = keepPlace ? body.scrollHeight - fromBottom : body.scrollHeight;
  markRead();
}

// The newest reply is in view (addToPanel keeps it there) and the page is seen: the
// thread is read up to it, once (the server's marker never moves back anyway).
function markRead() {
  const rootId = panel.rootId;
  const newest = Number($("#thread-replies").lastElementChild?.dataset.id ?? 0);
  if (rootId === null || newest === 0 || document.visibilityState !== "visible") return;
  if ($("#room").hidden || Math.max(readSent.get(rootId) ?? 0, readUpTo(rootId)) >= newest) return;
  readSent.set(rootId, newest);
  lent.api("PUT", `/threads/${rootId}/read`, { MessageID: newest }).then(
    ({ MessageID }) => threadRead(rootId, MessageID),
    () => {
      // Not stored (the server away, the reply deleted): the next reply tries again.
      if (readSent.get(rootId) === newest) readSent.delete(rootId);
    },
  );
}

// Follow, pressed while the thread is followed (unknown until the list comes: disabled).
// A click while one is on its way does nothing (the button keeps the focus).
function showFollowing() {
  if (panel.rootId === null) return;
  const button = $("#thread-follow");
  const followed = chosen.has(panel.rootId) ? chosen.get(panel.rootId) : following(panel.rootId);
  button.disabled = followed === null;
  button.setAttribute("aria-pressed", String(followed === true));
  button.title = followed ? "Following: its new replies count in Threads" : "Not following";
}

async function toggleFollow() {
  const button = $("#thread-follow");
  if (button.dataset.busy === "true") return;
  const rootId = panel.rootId;
  const roomId = threads.roomId;
  const followed = button.getAttribute("aria-pressed") !== "true";
  button.dataset.busy = "true";
  choices += 1;
  try {
    await lent.api(followed ? "PUT" : "DELETE", `/threads/${rootId}/follow`);
    chosen.set(rootId, followed);
    followChanged(rootId, roomId, followed);
  } catch (error) {
    if (panel.rootId === rootId) showProblem(error.message);
  } finally {
    delete button.dataset.busy;
  }
}

// One message as the panel shows it, as in the timeline: avatar, name, time, text and
// files; its edited marker, reactions, and React, Edit and Delete as its reader may
// (changes.js, which applies the room's edited, deleted and reactions frames to it too).
function threadItem(message) {
  const item = document.createElement("li");
  item.dataset.id = String(message.MessageID);
  const name = element("span", "name", message.DisplayName ?? message.Username);
  const time = element("time", "", shortTime(new Date(message.CreatedAt)));
  time.dateTime = message.CreatedAt;
  time.title = new Date(message.CreatedAt).toLocaleString();
  const text = element("span", "text");
  text.append(renderMarkdown(message.Deleted ? "" : message.Text));
  item.append(lent.avatar(message.Username), name, time, text);
  if (!message.Deleted) showFiles(item, message.Files);
  if (message.AlsoToRoom) item.append(element("span", "also", "also sent to the room"));
  item.append(element("span", "actions"));
  showMessageState(item, message);
  addMessageMenu(item, message.Username, "thread-actions-");   // on a phone, behind "⋯"
  return item;
}

function element(tag, className, textContent = "") {
  return Object.assign(document.createElement(tag), { className, textContent });
}

// The composer's reply, by POST /messages/{roomID}: what was typed, and the files
// attached, stay until it is stored (files still uploading: it goes once they are
// done). The answer shows at once (the frame that follows finds it there).
async function sendReply() {
  const box = $("#thread-composer");
  const text = box.value;
  const rootId = panel.rootId;
  const roomId = threads.roomId;
  if ((text.trim() === "" && !attachments.has()) || rootId === null) return;
  const files = attachments.filesToSend(() => {
    if (panel.rootId === rootId) $("#thread-form").requestSubmit();
  });
  if (files === null) return;
  const send = $("#thread-form button[type=submit]");
  send.disabled = true;
  $("#thread-error").hidden = true;
  try {
    const body = { Text: text, ThreadID: rootId };
    if (files.length > 0) body.Files = files.map(({ FileID }) => FileID);
    if ($("#thread-also").checked) body.AlsoToRoom = true;
    const stored = await lent.api("POST", `/messages/${roomId}`, body);
    choices += 1;
    chosen.set(rootId, true);   // replying follows the thread (again)
    if (panel.rootId === rootId) showFollowing();
    if (panel.rootId === rootId && box.value === text) box.value = "";
    if (panel.rootId === rootId) attachments.clear();
    threadReply({ ...stored, RoomID: stored.RoomID ?? roomId });
  } catch (error) {
    if (panel.rootId === rootId) showProblem(error.message);
  } finally {
    send.disabled = false;
  }
}

function showProblem(text) {
  Object.assign($("#thread-error"), { textContent: text, hidden: false });
}

// The panel closed (Close, Escape, another room); `focus`: back on what opened it.
export function closeThread({ focus = false } = {}) {
  if (panel.rootId === null) return;
  panel.rootId = null;
  panel.turn += 1;   // a read still on its way is not wanted any more
  $("#thread-panel").hidden = true;
  $("#room").classList.remove("threading");
  showSummaries();
  if (!focus) return;
  const opener = panel.opener;
  panel.opener = null;
  // (On a phone the action waits in its message's "⋯" menu, closed by now: that button.)
  const shown = [opener, opener?.closest("li")?.querySelector(".more-button")]
    .find((button) => button?.isConnected && button.getClientRects().length > 0);
  if (shown) shown.focus();
  else $("#composer").focus();
}
