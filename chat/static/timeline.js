// The room's messages as the page lists them: a room's history loaded afresh, older
// pages, and what a long resume left out; each message drawn (avatar, name, formatted
// text, files, time, actions) in id order under day separators; changes to them applied,
// or held until their page is there; new ones from others read out to screen readers.

import { api } from "./api.js";
import { describeFiles, showFiles } from "./attachments.js";
import { markMention } from "./attention.js";
import { applyChange, showMessageState } from "./changes.js";
import { heldBack, holdChange, leaveContext, pageAround, showFound } from "./context.js";
import { openDirect } from "./direct.js";
import { renderMarkdown } from "./markdown.js";
import { addReport } from "./moderation.js";
import { learnName } from "./names.js";
import { showError } from "./notices.js";
import { quoteOf, replyTo } from "./replies.js";
import { pinToNewest } from "./scrolling.js";
import { resendTo } from "./sending.js";
import { state } from "./state.js";
import { markRead } from "./unread.js";

const $ = (selector) => document.querySelector(selector);

// Messages in a page of history: the newest on entering a room, and each older one.
export const HISTORY_PAGE = 50;

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
// the page yet, wait for it. A later load overtakes an earlier one.
export async function loadRoom(roomId, focus = null, newest = null) {
  const turn = ++state.loads;
  const held = [];
  try {
    leaveContext();
    state.seen = new Set();
    state.lastId = 0;
    state.since = 0;
    state.held = held;
    $("#messages").replaceChildren();
    $("#older").hidden = true;
    const page = newest !== null ? [...newest].reverse()
      : await (focus === null ? historyPage(roomId) : pageAround(roomId, focus));
    if (roomId !== state.shown || turn !== state.loads) return;   // moved on meanwhile
    addMessages(page, { follow: focus === null });
    for (const message of page) state.since = Math.max(state.since, message.MessageID);
    $("#older").hidden = page.length < HISTORY_PAGE;
    if (focus !== null) showFound(focus);
    resendTo(roomId);
  } catch (error) {
    showError(error.message);
  } finally {
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
    markMention(item, { ...frame, UID: Number(item.dataset.uid) });   // its new mentions
  }
}

// One page of a room's history, oldest first: the latest, or the one before `before`.
async function historyPage(roomId, before = 0) {
  const query = before ? `?limit=${HISTORY_PAGE}&last_id=${before}` : `?limit=${HISTORY_PAGE}`;
  return (await api("GET", `/messages/${roomId}${query}`)).reverse();
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

// One page further back than the oldest message shown, kept where the reader is.
async function loadOlder() {
  const roomId = state.shown;
  const oldest = $("#messages li[data-id]");
  if (roomId === null || oldest === null) return;
  try {
    const page = await historyPage(roomId, Number(oldest.dataset.id));
    if (roomId !== state.shown) return;
    addMessages(page, { follow: false });
    $("#older").hidden = page.length < HISTORY_PAGE;
  } catch (error) {
    showError(error.message);
  }
}

// `follow`: scroll to the newest message (new messages); else keep the reader's place
// (older ones added above).
export function addMessages(messages, { follow = true } = {}) {
  const list = $("#messages");
  const fromBottom = list.scrollHeight - list.scrollTop;
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
    // Reply, React, and Edit and Delete where they are allowed (changes.js).
    const actions = document.createElement("span");
    actions.className = "actions";
    actions.append(reply);
    item.append(time, actions);
    showMessageState(item, message);
    addReport(item, message);
    // History arrives before live messages, but keep the list in id order regardless,
    // with ours still on their way (or not sent) after every message the server has.
    const later = [...list.children].find((li) => (li.dataset.id === undefined
      ? !li.classList.contains("day")
      : Number(li.dataset.id) > message.MessageID));
    list.insertBefore(item, later ?? null);
  }
  markDays(list);
  markRead();
  if (follow) pinToNewest(list);
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
function messageItem(who, content, author) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = who;
  const text = document.createElement("span");
  text.className = "text";
  text.append(renderMarkdown(content));
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
}
