// Reading a busy room: what the list of messages does for its reader, once timeline.js
// has put messages on it.
//
// - Seen: a message is read once it has been on screen (half of it, or half the list's
//   height for a tall one) while the page is visible, not when it arrives; the newest
//   seen is what the read frame says (unread.js).
// - The "N new messages" button over the list's foot, while the reader is away from the
//   newest and messages they have not seen are below; it takes them down there.
// - The "New messages" line above the first message that was unread on entering the
//   room (where the page opens).
// - Groups: a message right under one of the same sender's, within GROUP_MS and not a
//   reply, shows neither name nor avatar (they are still there for screen readers).
// - Mentions: "@name" in a message's text, for the people it mentions, as a span; yours
//   (and @room) stand out.

import { markRead } from "./unread.js";
import { following, pinToNewest, unpin } from "./scrolling.js";
import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

const GROUP_MS = 5 * 60_000;   // one sender's messages this close together form a group

// --- seen, and the "N new messages" button ---

const onScreen = new Set();   // the message items the list shows now (enough of)
const seenObserver = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const enough = entry.intersectionRatio >= 0.5
      || entry.intersectionRect.height >= (entry.rootBounds?.height ?? Infinity) / 2;
    if (entry.isIntersecting && enough) onScreen.add(entry.target);
    else onScreen.delete(entry.target);
  }
  noteSeen();
}, { threshold: [0, 0.25, 0.5, 0.75, 1] });

// What is on screen is seen, if the page is (a tab in the background reads nothing),
// once the room has opened where it opens (its newest page shows first, for a moment).
let settling = false;
function noteSeen() {
  if (settling || document.visibilityState !== "visible") return;
  // The observer's word, checked against where the list is now (it may be a frame late).
  const list = $("#messages").getBoundingClientRect();
  let newest = state.seenId;
  for (const item of onScreen) {
    if (!item.isConnected) {
      onScreen.delete(item);
      continue;
    }
    const { top, bottom, height } = item.getBoundingClientRect();
    const shown = Math.min(bottom, list.bottom) - Math.max(top, list.top);
    if (shown >= Math.min(height, list.height) / 2) newest = Math.max(newest, Number(item.dataset.id));
  }
  if (newest > state.seenId) {
    state.seenId = newest;
    markRead();
  }
  showJump();
}

// Messages from others below the newest seen (and read before, and the unread line):
// those the button counts.
function unseen() {
  const after = Math.max(state.seenId, state.readSent.get(state.shown) ?? 0, (lineAbove ?? 0) - 1);
  let count = 0;
  for (const item of document.querySelectorAll("#messages li[data-id]:not(.deleted)")) {
    if (Number(item.dataset.id) > after && Number(item.dataset.uid) !== state.me?.uid) count += 1;
  }
  return count;
}

function showJump() {
  const jump = $("#jump-new");
  const count = following() ? 0 : unseen();
  jump.hidden = count === 0;
  jump.textContent = count === 1 ? "1 new message" : `${count} new messages`;
}

// The list's messages changed (timeline.js, after adding some): the new ones watched for
// being seen, groups and the unread line put right, the button's count again.
export function arranged(list) {
  for (const item of list.querySelectorAll("li[data-id]:not([data-watched])")) {
    item.dataset.watched = "";
    seenObserver.observe(item);
  }
  regroup(list);
  placeLine(list);
  // A reader at the newest is taken down to what arrives (timeline.js pins the list), so
  // it is seen now: the observer says so a frame or more later, when a reader who
  // scrolls up at once may have left it, and the button would count it as news.
  if (following()) seeNewest(list);
  showJump();
}

function seeNewest(list) {
  if (settling || document.visibilityState !== "visible") return;
  const items = list.querySelectorAll("li[data-id]");
  const newest = items.length ? Number(items[items.length - 1].dataset.id) : 0;
  if (newest > state.seenId) {
    state.seenId = newest;
    markRead();
  }
}

// --- the "New messages" line ---

let lineAbove = null;   // the MessageID of the first message unread on entering, or null

// The room's messages are shown afresh: no line until `showFirstUnread` says where, and
// nothing seen until `roomOpened`.
export function roomOpening() {
  settling = true;
  lineAbove = null;
  $("#messages .unread-line")?.remove();
}

// The room shows where it opens: what is on screen from now on is seen (once the
// observer has heard of the list's place: the next frame).
export function roomOpened() {
  settling = false;
  requestAnimationFrame(() => requestAnimationFrame(noteSeen));
}

// Where the first of `unread` messages is among `messages` (oldest first): counting back
// from the newest, the messages of others that are not deleted (as the server counts
// them), none of them at or before the newest we told the server we read. Returns its
// MessageID (null if none), and whether the count was reached.
export function firstUnread(messages, unread) {
  const readUpTo = state.readSent.get(state.shown) ?? 0;
  let counted = 0;
  let first = null;
  for (let i = messages.length - 1; i >= 0 && counted < unread; i--) {
    const { MessageID, UID, Deleted } = messages[i];
    if (MessageID <= readUpTo) return { id: first, reached: true };
    if (UID === state.me?.uid || Deleted) continue;
    counted += 1;
    first = MessageID;
  }
  return { id: first, reached: counted >= unread };
}

// The line goes above `item`, and the list opens there (the line at its top), unless
// every unread message fits under the newest: then it stays on the newest.
export function showFirstUnread(list, item) {
  lineAbove = Number(item.dataset.id);
  placeLine(list);
  const line = list.querySelector(".unread-line");
  unpin();
  list.scrollTop += line.getBoundingClientRect().top - list.getBoundingClientRect().top - list.clientTop;
  if (list.scrollHeight - list.scrollTop - list.clientHeight <= 4) pinToNewest(list);
  showJump();
}

function placeLine(list) {
  if (lineAbove === null) return;
  const item = list.querySelector(`li[data-id="${lineAbove}"]`);
  let line = list.querySelector(".unread-line");
  if (item === null) return line?.remove();
  if (line === null) {
    line = document.createElement("li");
    line.className = "unread-line";
    line.textContent = "New messages";
  }
  if (item.previousElementSibling !== line) item.before(line);
}

// --- groups ---

// Each message item: "grouped" if it continues the group of the one right above it.
export function regroup(list) {
  let previous = null;
  for (const item of list.children) {
    if (item.dataset.id === undefined) {
      previous = null;   // a day, the unread line, one of ours on its way: a new group
      continue;
    }
    const at = Date.parse(item.querySelector("time")?.dateTime ?? "");
    const grouped = previous !== null
      && previous.uid === item.dataset.uid
      && at - previous.at <= GROUP_MS
      && !item.classList.contains("reply");
    item.classList.toggle("grouped", grouped);
    // Its first message's time starts the window: a group spans GROUP_MS at most.
    if (!grouped) previous = { uid: item.dataset.uid, at };
  }
}

// --- mentions ---

// "@name" for each person `message` mentions whose name the page knows (and "@room"),
// as a span in its text; "mention me" for the reader's own name, and for @room.
export function showMentions(item, message, names) {
  const text = item.querySelector(".text");
  if (text === null) return;
  const mine = new Set();
  const others = new Set();
  for (const uid of message.Mentions ?? []) {
    const name = uid === state.me?.uid ? state.me.name : names.get(uid);
    if (name) (uid === state.me?.uid && message.UID !== uid ? mine : others).add(name.toLowerCase());
  }
  if (message.MentionsRoom && message.UID !== state.me?.uid) mine.add("room");
  if (mine.size === 0 && others.size === 0) return;
  const pattern = new RegExp(
    `(^|[^\\p{L}\\p{N}_.+\\-=@])@(${[...mine, ...others].sort((a, b) => b.length - a.length).map(escape).join("|")})(?![\\p{L}\\p{N}_])`,
    "giu",
  );
  const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement.closest("code, pre, a, .mention")
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const parts = [];
    let last = 0;
    for (const match of node.data.matchAll(pattern)) {
      const start = match.index + match[1].length;
      parts.push(node.data.slice(last, start));
      const span = document.createElement("span");
      span.className = mine.has(match[2].toLowerCase()) ? "mention me" : "mention";
      span.textContent = `@${match[2]}`;
      parts.push(span);
      last = start + 1 + match[2].length;
    }
    if (parts.length === 0) continue;
    parts.push(node.data.slice(last));
    node.replaceWith(...parts.filter((part) => part !== ""));
  }
}

const escape = (name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// The button, the list's scrolling, and the page coming back into view (app.js).
export function setUpReading() {
  const list = $("#messages");
  $("#jump-new").addEventListener("click", () => {
    pinToNewest(list);
    showJump();
  });
  let pending = false;
  list.addEventListener("scroll", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      showJump();
    });
  }, { passive: true });
  document.addEventListener("visibilitychange", noteSeen);
  // Messages taken off the list (retention, a page shown afresh): the groups again.
  new MutationObserver((records) => {
    if (records.some((record) => record.removedNodes.length > 0)) regroup(list);
  }).observe(list, { childList: true });
}
