// The room's messages as the page lists them: a room's history loaded afresh, older
// pages, and what a long resume left out; each message drawn (avatar, name, formatted
// text, files, time, actions) in id order under day separators; changes to them applied,
// or held until their page is there; new ones from others read out to screen readers.

import { api } from "./api.js";
import { describeFiles, showFiles } from "./attachments.js";
import { markMention } from "./attention.js";
import { applyChange, showMessageState } from "./changes.js";
import {
  heldBack, holdChange, inContext, leaveContext, pageAround, showFound,
} from "./context.js";
import { openDirect } from "./direct.js";
import { addMessageLink } from "./links.js";
import { renderMarkdown } from "./markdown.js";
import { addReport } from "./moderation.js";
import { addSave } from "./saved.js";
import { learnName } from "./names.js";
import { addMessageMenu } from "./phone.js";
import { showPinButton } from "./pins.js";
import { showSender } from "./sender.js";
import { showError } from "./notices.js";
import { quoteOf, replyTo } from "./replies.js";
import {
  arranged, firstUnread, roomOpened, roomOpening, showFirstUnread, showMentions,
} from "./reading.js";
import { following, pinToNewest } from "./scrolling.js";
import { resendTo } from "./sending.js";
import { showAuthorStatus } from "./status.js";
import { state } from "./state.js";
import { addThreadActions, openThread } from "./threads.js";
import { firstCounts } from "./unread.js";
import { rememberMessages } from "./offline.js";

const $ = (selector) => document.querySelector(selector);

// Messages in a page of history: the newest on entering a room, and each older one.
export const HISTORY_PAGE = 50;
// Going back to the first unread message on entering a room: pages of this many (the
// most GET /messages gives), at most this many pages; past that, the oldest reached.
const BACK_PAGE = 100;
const BACK_PAGES = 10;
const UNREAD_CAP = 1000;   // an unread count of this means this many or more
// This close to the top of the list, scrolling up loads the page before.
const NEAR_TOP_PX = 300;
// How long a room entered before the page has any unread counts waits for them.
const COUNTS_WAIT_MS = 3000;

// A new message from someone else in the room shown, said by a screen reader (the
// #announcer region, which says only what is added to it: the history shown on entering
// a room, older pages and our own messages are not read out). A message more than a
// minute old is caught up with (a resume), not news.
const ANNOUNCED = 5;   // the region keeps the last few (removals are not read out)
export function announce(message) {
  if (message.UID === state.me.uid || state.seen.has(message.MessageID)) return;
  if (Date.now() - Date.parse(message.CreatedAt) > 60_000) return;
  const line = document.createElement("p");
  line.textContent = `${message.Username}: ${message.Text} ${describeFiles(message.Files)}`.trim();
  const region = $("#announcer");
  region.append(line);
  while (region.children.length > ANNOUNCED) region.firstElementChild.remove();
}

// The room's messages, afresh: its newest page (`newest`, newest first, if "entered"
// brought it; else asked for), or with `focus` (a MessageID) the page around that
// message, in its context (context.js). Changes arriving meanwhile, to messages not on
// the page yet, wait for it. A later load overtakes an earlier one. `unread`: how many
// messages the room had unread on entering it (null: not known yet), for the "New
// messages" line the list opens at.
export async function loadRoom(roomId, focus = null, newest = null, unread = 0) {
  const turn = ++state.loads;
  const held = [];
  try {
    leaveContext();
    state.seen = new Set();
    state.lastId = 0;
    state.seenId = 0;
    state.since = 0;
    state.held = held;
    roomOpening();
    $("#messages").replaceChildren();
    pinToNewest($("#messages"));
    $("#older").hidden = true;
    const page = newest !== null ? [...newest].reverse()
      : await (focus === null ? historyPage(roomId) : pageAround(roomId, focus));
    if (roomId !== state.shown || turn !== state.loads) return;   // moved on meanwhile
    addMessages(page);
    for (const message of page) state.since = Math.max(state.since, message.MessageID);
    $("#older").hidden = page.length < HISTORY_PAGE;
    resendTo(roomId);
    if (focus !== null) showFound(focus);
    else await openAtFirstUnread(roomId, turn, unread);
  } catch (error) {
    if (error.threadId !== undefined && focus !== null && turn === state.loads) {
      // A reply in a thread only (a link, a notification, a saved message): the room
      // at the thread's root, and the thread in its panel. (The new load takes over:
      // this one neither opens the room nor hands on what it held.)
      const rootId = error.threadId;
      loadRoom(roomId, rootId).then(() => openThread(roomId, rootId));
      return;
    }
    showError(error.message);
  } finally {
    if (turn === state.loads) roomOpened();   // (a later load opens the room its way)
    if (state.held === held) {
      state.held = null;
      for (const frame of held) changed(frame);   // in order: the last one stands
    }
  }
}

// An edited, deleted or reactions frame. One of the room shown moves our place in its
// stream (a frame without Seq only answers a request of ours that changed nothing: it
// is the message's present state all the same). Its message may be further back than
// the page goes: then there is nothing to show (unless the room's first page is still
// on its way: it waits for it).
export function changed(frame) {
  if (frame.RoomID !== state.shown) return;
  if (frame.Seq) state.since = Math.max(state.since, frame.Seq);
  if (!applyChange(frame) && !holdChange(frame) && state.held !== null) state.held.push(frame);
  const item = document.querySelector(`#messages li[data-id="${frame.MessageID}"]`);
  if (item !== null && frame.Type === "edited") {
    const message = { ...frame, UID: Number(item.dataset.uid) };
    markMention(item, message);   // its new mentions
    showMentions(item, message, state.names);
  }
}

// One page of a room's history, oldest first: the latest, or the one before `before`.
async function historyPage(roomId, before = 0, limit = HISTORY_PAGE) {
  const query = before ? `?limit=${limit}&last_id=${before}` : `?limit=${limit}`;
  return (await api("GET", `/messages/${roomId}${query}`)).reverse();
}

// The room just shown opens at its first unread message, under a "New messages" line
// (reading.js): older pages are fetched until they reach it (BACK_PAGES at most), and
// put on the list if so. It stays on the newest if that is too far back (or the count is
// the server's "1000 or more"), or if nothing there was ever read (every message unread,
// from the first: a room just joined, whose history is no news to the newcomer).
async function openAtFirstUnread(roomId, turn, unread) {
  const list = $("#messages");
  let count = unread;
  if (count === null) {
    const timeout = new Promise((resolve) => { setTimeout(resolve, COUNTS_WAIT_MS, new Map()); });
    count = (await Promise.race([firstCounts, timeout])).get(roomId) ?? 0;
  }
  if (count <= 0 || count >= UNREAD_CAP) return;
  const shown = [...list.querySelectorAll("li[data-id]")].map((item) => ({
    MessageID: Number(item.dataset.id),
    UID: Number(item.dataset.uid),
    Deleted: item.classList.contains("deleted"),
  }));
  const fetched = [];   // older pages, oldest first
  let older = !$("#older").hidden;
  let found = firstUnread([...fetched, ...shown], count);
  for (let pages = 0; !found.reached && older && pages < BACK_PAGES; pages++) {
    const before = (fetched[0] ?? shown[0]).MessageID;
    const page = await historyPage(roomId, before, BACK_PAGE);
    if (roomId !== state.shown || turn !== state.loads) return;   // moved on meanwhile
    fetched.unshift(...page);
    older = page.length === BACK_PAGE;
    found = firstUnread([...fetched, ...shown], count);
  }
  const oldest = (fetched[0] ?? shown[0])?.MessageID;
  if (!found.reached || found.id === null || (found.id === oldest && !older)) return;
  addMessages(fetched, { follow: false });
  $("#older").hidden = !older;
  showFirstUnread(list, list.querySelector(`li[data-id="${found.id}"]`));
}

// We were away so long that the server sent only the newest of what we missed, after a
// "truncated" frame: the rest, the messages between SinceID and BeforeID, come from the
// history (the server's resume sends at most 1,000).
export async function fetchLeftOut(roomId, sinceId, beforeId) {
  try {
    const leftOut = await messagesSince(roomId, sinceId, beforeId);
    if (roomId === state.shown && !heldBack(leftOut)) addMessages(leftOut, { follow: false });
  } catch (error) {
    showError(error.message);
  }
}

// A room's messages newer than `lastId` (and older than `beforeId`, if given), oldest
// first: newest-first pages, back to `lastId`. `lastId` is read once, before any await:
// live messages arriving meanwhile must not move it past the ones we are fetching.
async function messagesSince(roomId, lastId, beforeId = 0) {
  const missed = [];
  let before = beforeId;
  for (;;) {
    const query = before ? `?limit=100&last_id=${before}` : "?limit=100";
    const page = await api("GET", `/messages/${roomId}${query}`);
    for (const message of page) if (message.MessageID > lastId) missed.push(message);
    if (page.length < 100 || page[page.length - 1].MessageID <= lastId) break;
    before = page[page.length - 1].MessageID;
  }
  return missed.sort((a, b) => a.MessageID - b.MessageID);
}

// One page further back than the oldest message shown, kept where the reader is (one
// at a time: scrolling up asks again and again).
let loadingOlder = false;
async function loadOlder() {
  const roomId = state.shown;
  const oldest = $("#messages li[data-id]");
  if (roomId === null || oldest === null || loadingOlder) return;
  loadingOlder = true;
  try {
    const page = await historyPage(roomId, Number(oldest.dataset.id));
    if (roomId !== state.shown) return;
    addMessages(page, { follow: false });
    $("#older").hidden = page.length < HISTORY_PAGE;
  } catch (error) {
    showError(error.message);
  } finally {
    loadingOlder = false;
  }
}

// `follow`: new messages, below: the list stays on the newest if the reader is there,
// and else where it is (the "N new messages" button counts them: reading.js); without,
// older ones added above, the reader kept at the same place.
export function addMessages(messages, { follow = true } = {}) {
  const list = $("#messages");
  const top = list.scrollTop;
  const fromBottom = list.scrollHeight - list.scrollTop;
  const atNewest = following();
  for (const message of messages) {
    if (state.seen.has(message.MessageID)) continue;   // no duplicates, ever
    state.seen.add(message.MessageID);
    state.lastId = Math.max(state.lastId, message.MessageID);
    learnName(message.UID, message.Username);
    const item = messageItem(message.Username, message.Text, message.Username);
    showFiles(item, message.Files);
    item.dataset.id = String(message.MessageID);
    item.dataset.uid = String(message.UID);
    markMention(item, message);
    showSender(item, message);
    showAuthorStatus(item, message.UID);   // their status's emoji, its words on hover
    showMentions(item, message, state.names);
    if (message.ReplyTo) {
      item.classList.add("reply");
      item.insertBefore(quoteOf(message.ReplyTo), item.querySelector(".text"));
    }
    const name = item.querySelector(".name");
    if (message.UID !== state.me.uid) {
      name.title = "click to write a direct message";
      name.addEventListener("click", () => openDirect(message.UID, message.Username));
    }
    const time = document.createElement("time");
    time.dateTime = message.CreatedAt;
    time.textContent = new Date(message.CreatedAt)
      .toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    time.title = new Date(message.CreatedAt).toLocaleString();
    const reply = document.createElement("button");
    reply.type = "button";
    reply.className = "reply-button";
    reply.textContent = "Reply";
    reply.setAttribute("aria-label", `Reply to ${message.Username}`);
    reply.addEventListener("click", () => replyTo(message, item));
    // Reply, Thread, React, and Edit and Delete where they are allowed (changes.js).
    const actions = document.createElement("span");
    actions.className = "actions";
    actions.append(reply);
    item.append(time, actions);
    addThreadActions(item, message);   // Thread (reply in thread); a root's summary (threads.js)
    showMessageState(item, message);
    addReport(item, message);
    addSave(item, message);   // Save or Unsave (saved.js)
    showPinButton(item);   // Pin or Unpin, for moderators (pins.js)
    addMessageMenu(item, message.Username);   // on a phone, the actions behind "⋯"
    addMessageLink(item, message);   // Copy link (links.js)
    // History arrives before live messages, but keep the list in id order regardless,
    // with ours still on their way (or not sent) after every message the server has.
    // (The days are drawn again after, and the unread line put back: reading.js.)
    const later = [...list.children].find((li) => (li.dataset.id === undefined
      ? !li.matches(".day, .unread-line, .ephemeral")
      : Number(li.dataset.id) > message.MessageID));
    list.insertBefore(item, later ?? null);
  }
  markDays(list);
  arranged(list);
  rememberMessages(messages);   // the newest, for reading offline (offline.js)
  if (follow && atNewest) pinToNewest(list);
  else if (follow) list.scrollTop = top;
  else list.scrollTop = list.scrollHeight - fromBottom;
}

// A separator before the first message of each day, the reader's own: "Today",
// "Yesterday", "Saturday, November 21". Drawn again whenever messages are added (a
// page's worth of items: cheap), so older pages and late arrivals fall into place.
function markDays(list) {
  for (const separator of list.querySelectorAll("li.day")) separator.remove();
  let previous = null;
  for (const item of list.querySelectorAll("li[data-id]")) {
    const when = new Date(item.querySelector("time").dateTime);
    if (when.toDateString() === previous) continue;
    previous = when.toDateString();
    const separator = document.createElement("li");
    separator.className = "day";
    separator.textContent = dayName(when);
    list.insertBefore(separator, item);
  }
}

function dayName(when) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (when.toDateString() === today.toDateString()) return "Today";
  if (when.toDateString() === yesterday.toDateString()) return "Yesterday";
  const year = when.getFullYear() === today.getFullYear() ? undefined : "numeric";
  return when.toLocaleDateString([], { weekday: "long", month: "long", day: "numeric", year });
}

// A message as listed: the author's avatar (their initial, in their colour), who wrote
// it, and what (formatted: markdown.js); `author` is the name the avatar is made from.
// A text starting with "/me " is an action (/me waves: "alice waves", in italics).
function messageItem(who, content, author) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = who;
  const text = document.createElement("span");
  text.className = "text";
  const action = content.startsWith("/me ");
  if (action) item.classList.add("action");
  text.append(renderMarkdown(action ? content.slice(4) : content));
  item.append(avatar(author), name, text);
  return item;
}

// A round badge with the first letter of `name`, in one of eight colours picked from the
// name, so that a person looks the same everywhere. The letter is drawn by the style
// sheet (data-initial), so it is no part of the text around it; colours are classes, as
// the page's policy forbids inline styles.
export function avatar(name) {
  const badge = document.createElement("span");
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  badge.className = `avatar hue-${hash % 8}`;
  badge.setAttribute("aria-hidden", "true");
  badge.dataset.initial = [...name][0]?.toUpperCase() ?? "?";
  return badge;
}

// How one of our messages looks until the server confirms it (then the confirmed copy
// takes its place, in id order).
export const pendingItem = (who, content) => messageItem(who, content, state.me.name);

// Load older messages (once the page is loaded: app.js).
export function setUpTimeline() {
  $("#older").addEventListener("click", loadOlder);
  // Scrolling up to the top loads the page before (the button stays, for the keyboard).
  const list = $("#messages");
  list.addEventListener("scroll", () => {
    if (list.scrollTop < NEAR_TOP_PX && !$("#older").hidden && !inContext()) loadOlder();
  }, { passive: true });
}
