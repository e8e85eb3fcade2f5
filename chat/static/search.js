// Searching messages (GET /search, docs/PROTOCOL.md). The header's search box lists the
// messages found, newest first, in a panel that takes the conversation's place: each
// with its room, its sender, when, and the words found highlighted. The server's
// Snippet is plain text and matches in turn; it goes into the page as text nodes and
// <mark> elements, never as HTML. "More results" asks for the next page (before=),
// "only in" narrows the search to the room shown (offered once a room is), and a result
// opens its room at the message, in its context (context.js); a thread reply opens the
// thread panel too, and the room at the thread's root when the reply is in the thread
// only (the room's timeline leaves it out).

import { describeFiles } from "./attachments.js";

const PAGE = 20;   // results per page (the server's default)

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpSearch): { api(method, path), shown() -> the RoomID shown,
// room(roomId) -> { name, kind } as the room list says, open(roomId, messageId),
// openThread(roomId, rootId) -> the room shown with that thread's panel open }.
let lent = null;
// The search shown: its words, the room it is narrowed to (or null), the room "only
// in" offers, and how many searches were asked for (a later one's answers win).
const search = { q: "", room: null, here: null, asked: 0, oldest: null };

export function setUpSearch(lentByApp) {
  lent = lentByApp;
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    open();
  });
  $("#search-here").addEventListener("change", () => ask());
  $("#search-more").addEventListener("click", () => ask({ more: true }));
  $("#search-close").addEventListener("click", closeSearch);
  $("#search-view").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeSearch();
  });
}

// The words typed in the box, searched for: the panel opens in place of the room.
function open() {
  const shown = lent.shown();
  if ($("#search-view").hidden || search.here !== shown) {
    search.here = shown;
    $("#search-here").checked = false;
  }
  // No room shown yet (the page is still entering its first): nothing to narrow to,
  // so "only in" is not offered, and the search is over every room.
  $("#search-here-label").hidden = shown === null;
  if (shown !== null) {
    const { name, kind } = lent.room(shown);
    $("#search-room").textContent = kind === "direct" ? name : `#${name}`;
  }
  $("#room").hidden = true;
  $("#search-view").hidden = false;
  ask();
}

// The results give way to the conversation (a result was chosen, Close or Escape, or
// the person went to a room).
export function closeSearch() {
  search.asked += 1;   // an answer still on its way is not wanted any more
  $("#search-view").hidden = true;
  $("#room").hidden = false;
}

// The first page of results (the words or the room changed), or the next one (`more`).
async function ask({ more = false } = {}) {
  if (!more) {
    search.q = $("#search-q").value.trim();
    search.room = $("#search-here").checked ? search.here : null;
    search.oldest = null;
    $("#results").replaceChildren();
    $("#search-heading").textContent = `Messages with “${search.q}”`;
  }
  const asked = ++search.asked;
  const query = new URLSearchParams({ q: search.q, limit: String(PAGE) });
  if (search.room !== null) query.set("room", String(search.room));
  if (more && search.oldest !== null) query.set("before", String(search.oldest));
  $("#search-error").hidden = true;
  $("#search-more").hidden = true;
  $("#search-status").textContent = "Searching…";
  let results;
  try {
    results = await lent.api("GET", `/search?${query}`);
  } catch (error) {
    if (asked !== search.asked) return;
    $("#search-status").textContent = "";
    $("#search-error").textContent = error.message;
    $("#search-error").hidden = false;
    return;
  }
  if (asked !== search.asked) return;   // overtaken by a later search
  $("#results").append(...results.map(resultItem));
  if (results.length > 0) search.oldest = results[results.length - 1].MessageID;
  const count = $("#results").children.length;
  $("#search-more").hidden = results.length < PAGE;
  $("#search-status").textContent = count === 0
    ? "No messages found."
    : `${count}${results.length < PAGE ? "" : "+"} ${count === 1 ? "message" : "messages"} found.`;
}

// One result: a button that opens the message in its room.
function resultItem(message) {
  const { name, kind } = lent.room(message.RoomID);
  const where = document.createElement("span");
  where.className = "where";
  where.dataset.kind = kind ?? "group";
  where.textContent = name;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = message.Username;
  const when = document.createElement("time");
  when.dateTime = message.CreatedAt;
  when.textContent = new Date(message.CreatedAt)
    .toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  const button = document.createElement("button");
  button.type = "button";
  button.className = "result";
  button.append(where, who, when, snippet(message));
  button.addEventListener("click", () => {
    closeSearch();
    openResult(message);
  });
  const item = document.createElement("li");
  item.dataset.id = String(message.MessageID);
  item.append(button);
  return item;
}

// A result chosen: its room at the message; a thread reply in its thread's panel too,
// with the room at its root when the reply is not on the room's timeline.
function openResult(message) {
  const inTimeline = !message.ThreadID || message.AlsoToRoom;
  lent.open(message.RoomID, inTimeline ? message.MessageID : message.ThreadID);
  if (message.ThreadID) lent.openThread(message.RoomID, message.ThreadID);
}

// The Snippet: plain text and matches in turn (the matches highlighted), as text.
function snippet(message) {
  const text = document.createElement("span");
  text.className = "snippet";
  const parts = Array.isArray(message.Snippet) ? message.Snippet : [message.Text];
  parts.forEach((part, index) => {
    if (index % 2 === 0) {
      text.append(String(part));
    } else {
      const match = document.createElement("mark");
      match.textContent = String(part);
      text.append(match);
    }
  });
  const files = describeFiles(message.Files);
  if (files) text.append(` ${files}`);
  return text;
}
