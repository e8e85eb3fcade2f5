// A message in its context. A search result (or a notification, or the quote of a
// message further back than the page goes) opens its room at the page around it
// (GET /messages/{roomID}?around=ID, docs/PROTOCOL.md), scrolled to it and highlighted.
//
// Such a page may be far from the present. Until it is known to reach it, the page is
// "in context": the room's live messages are held back (the bar under the list counts
// them), and so are changes to messages not on the page; scrolling down, or "Load newer
// messages", adds the next newer page (?after=ID), and the page that reaches the
// present (or the messages held) rejoins it: what was held is added, in order, and its
// changes applied after it, so nothing is shown twice, lost, or out of date. "Jump to
// the present" loads the room's newest page afresh instead.

import { unpin } from "./scrolling.js";

const PAGE = 50;          // messages per page, around a message or newer
const MAX_HELD = 1000;    // held back at most; past that, rejoining loads the newest page
const NEAR_END_PX = 200;  // this close to the list's end, scrolling loads the newer page

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpContext): { api(method, path), add(messages) -> put
// messages on the list in their places (the reader's scroll position is kept here),
// changed(frame) -> apply an edited, deleted or reactions frame, latest() -> load the
// room's newest page afresh (which ends the context: leaveContext), error(text) }.
let lent = null;

// `turn` counts contexts entered and left: an answer for an earlier one is dropped.
const context = {
  detached: false, room: null, held: [], changes: [], overflow: false, reached: false,
  loading: false, turn: 0,
};

export function setUpContext(lentByApp) {
  lent = lentByApp;
  const list = $("#messages");
  list.addEventListener("scroll", () => {
    if (context.detached && list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_END_PX) {
      loadNewer();
    }
  }, { passive: true });
  $("#newer").addEventListener("click", loadNewer);
  $("#to-present").addEventListener("click", () => lent.latest());
}

// Whether the page shows older messages than the present (live ones are held back).
export const inContext = () => context.detached;

// The room's messages are shown afresh (another room, or its newest page): nothing held.
export function leaveContext() {
  begin({ detached: false, room: null });
}

function begin({ detached, room }) {
  Object.assign(context, {
    detached, room, held: [], changes: [], overflow: false, reached: false, loading: false,
  });
  context.turn += 1;
  showBar();
}

// The page of `roomId` around `messageId`, oldest first. The page is in context from
// now on (live messages held back, from before the request: none falls between the
// page and them), until `showFound` knows that it reaches the present.
export async function pageAround(roomId, messageId) {
  begin({ detached: true, room: roomId });
  const turn = context.turn;
  const around = `/messages/${roomId}?around=${messageId}&limit=${PAGE}`;
  const page = (await lent.api("GET", around)).reverse();
  if (turn !== context.turn) return page;
  if (page.length < PAGE) {
    context.reached = true;   // a short page: there is nothing more either way
  } else {
    // A full page: is anything newer than its newest, that we do not hold already?
    const newest = page[page.length - 1].MessageID;
    const next = await lent.api("GET", `/messages/${roomId}?after=${newest}&limit=1`);
    if (turn === context.turn) context.reached = next.length === 0 || isHeld(next[0].MessageID);
  }
  return page;
}

// The message is on the page (a page around it, or any page): into view, highlighted
// (until another is found or the room is shown afresh). A page around it that reaches
// the present rejoins it first.
export function showFound(messageId) {
  if (context.detached && context.reached) rejoin();
  for (const item of document.querySelectorAll("#messages li.found")) item.classList.remove("found");
  const item = $(`#messages li[data-id="${messageId}"]`);
  if (item === null) return;
  unpin();   // the list no longer follows its newest message: the reader is here
  item.classList.add("found");
  item.scrollIntoView({ block: "center" });
}

// Live messages of the room shown (or a resume's), to hold back while in context;
// returns whether they were held.
export function heldBack(messages) {
  if (!context.detached) return false;
  context.held.push(...messages);
  if (context.held.length > MAX_HELD) {
    context.held.splice(0, context.held.length - MAX_HELD);
    context.overflow = true;
  }
  showBar();
  return true;
}

// A change to a message not on the page, to apply once it is (if it ever is) when the
// page rejoins the present; returns whether it was held.
export function holdChange(frame) {
  if (!context.detached) return false;
  context.changes.push(frame);
  if (context.changes.length > MAX_HELD) {
    context.changes.shift();
    context.overflow = true;
  }
  return true;
}

const isHeld = (messageId) => context.held.some(({ MessageID }) => MessageID === messageId);

// The page reaches the present: what was held joins it, in place and in order, and
// every change held is applied after (in order: the last one stands).
function rejoin() {
  const { held, changes, overflow } = context;
  leaveContext();
  if (overflow) return lent.latest();   // too much was missed to hold: start afresh
  add(held);
  for (const frame of changes) lent.changed(frame);
}

// Newer messages below the reader, who stays where they are.
function add(messages) {
  const list = $("#messages");
  const top = list.scrollTop;
  lent.add(messages);
  list.scrollTop = top;
}

// The page after the newest message shown; the one that reaches the present (short, or
// reaching what was held) rejoins it.
async function loadNewer() {
  if (!context.detached || context.loading) return;
  const shown = document.querySelectorAll("#messages li[data-id]");
  if (shown.length === 0) return;
  const newest = Number(shown[shown.length - 1].dataset.id);
  const { turn, room } = context;
  context.loading = true;
  try {
    const page = (await lent.api("GET", `/messages/${room}?after=${newest}&limit=${PAGE}`)).reverse();
    if (turn !== context.turn) return;
    add(page);
    const firstHeld = Math.min(...context.held.map(({ MessageID }) => MessageID));
    if (page.length < PAGE || page[page.length - 1].MessageID >= firstHeld) rejoin();
  } catch (error) {
    lent.error(error.message);
  } finally {
    if (turn === context.turn) context.loading = false;
  }
}

// The bar under the list, while in context: how many new messages are held back, and
// the ways back to the present.
function showBar() {
  $("#present").hidden = !context.detached;
  const count = context.held.length;
  let said = "";
  if (count === 1) said = "1 new message below.";
  else if (count > 1) said = `${count}${context.overflow ? "+" : ""} new messages below.`;
  $("#held-count").textContent = said;
}
