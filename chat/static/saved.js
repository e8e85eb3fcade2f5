// Saved messages (/me/saved, docs/PROTOCOL.md): "Save" (then "Unsave") among each
// message's actions (and so in a phone's "⋯" menu), and "Saved messages" in the account
// screen, a list that takes the conversation's place as search results do: newest saved
// first, each opening its message in its room, in its context (context.js). Which
// messages are saved is asked of the server each time the socket opens (GET
// /me/saved/ids), and the user's other browsers tell us of each save and unsave as it
// happens ({"Type": "saved"} frames), so every browser of theirs marks the same ones.

import { describeFiles } from "./attachments.js";

const PAGE = 50;   // saved messages per page (the server's default)

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpSaved): { api(method, path), room(roomId) -> { name, kind }
// as the room list says, open(roomId, messageId), error(message) }.
let lent = null;
// The ids of the messages saved, and the list shown: the oldest SavedID of its pages,
// and how many times it was asked for (a later answer wins).
const saved = new Set();
const view = { oldest: null, asked: 0 };

export function setUpSaved(lentByApp) {
  lent = lentByApp;
  $("#saved-open").addEventListener("click", () => {
    $("#account-dialog").close();
    openSaved();
  });
  $("#saved-close").addEventListener("click", closeSaved);
  $("#saved-more").addEventListener("click", () => ask({ more: true }));
  $("#saved-view").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeSaved();
  });
}

// Which messages are saved, as the server says now (the socket opened: what changed
// while it was closed is in the answer).
export async function loadSaved() {
  try {
    const { MessageIDs } = await lent.api("GET", "/me/saved/ids");
    saved.clear();
    for (const id of MessageIDs) saved.add(id);
  } catch {
    return;   // the buttons stay as they were; the next socket opening asks again
  }
  for (const item of document.querySelectorAll("#messages li[data-id]")) showSaved(item);
}

// A saved frame ({"Type": "saved", "MessageID", "Saved"}, from another browser of ours or
// this one): returns whether it was one.
export function savedFrame(frame) {
  if (frame.Type !== "saved") return false;
  if (frame.Saved) saved.add(frame.MessageID);
  else saved.delete(frame.MessageID);
  const item = $(`#messages li[data-id="${frame.MessageID}"]`);
  if (item !== null) showSaved(item);
  if (!frame.Saved) $(`#saved-list li[data-id="${frame.MessageID}"]`)?.remove();   // the list shown
  return true;
}

// "Save" or "Unsave" among a message's actions (none on a tombstone).
export function addSave(item, message) {
  if (message.Deleted) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "save-button";
  button.dataset.author = message.Username;
  button.addEventListener("click", () => toggle(item, button));
  item.querySelector(".actions")?.append(button);
  showSaved(item);
}

function showSaved(item) {
  const button = item.querySelector(".save-button");
  if (button === null) return;
  const on = saved.has(Number(item.dataset.id));
  button.textContent = on ? "Unsave" : "Save";
  button.setAttribute("aria-label", `${on ? "Unsave" : "Save"} ${button.dataset.author}'s message`);
}

async function toggle(item, button) {
  const id = Number(item.dataset.id);
  const on = saved.has(id);
  button.disabled = true;
  try {
    await lent.api(on ? "DELETE" : "PUT", `/me/saved/${id}`);
    if (on) saved.delete(id);
    else saved.add(id);
  } catch (error) {
    lent.error(error.message);
  } finally {
    button.disabled = false;
    showSaved(item);
  }
}

// The list, in place of the conversation.
export function openSaved() {
  $("#room").hidden = true;
  $("#search-view").hidden = true;
  $("#moderation-view").hidden = true;
  $("#saved-view").hidden = false;
  $("#saved-close").focus();
  ask();
}

// The conversation again (Back, Escape, a saved message chosen, or a room entered).
export function closeSaved() {
  if ($("#saved-view").hidden) return;
  view.asked += 1;   // an answer still on its way is not wanted any more
  $("#saved-view").hidden = true;
  $("#room").hidden = false;
}

async function ask({ more = false } = {}) {
  if (!more) {
    view.oldest = null;
    $("#saved-list").replaceChildren();
  }
  const asked = ++view.asked;
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (more && view.oldest !== null) query.set("before", String(view.oldest));
  $("#saved-error").hidden = true;
  $("#saved-more").hidden = true;
  $("#saved-status").textContent = "Loading…";
  let page;
  try {
    page = await lent.api("GET", `/me/saved?${query}`);
  } catch (error) {
    if (asked !== view.asked) return;
    $("#saved-status").textContent = "";
    $("#saved-error").textContent = error.message;
    $("#saved-error").hidden = false;
    return;
  }
  if (asked !== view.asked) return;   // overtaken, or closed
  $("#saved-list").append(...page.map(savedItem));
  if (page.length > 0) view.oldest = page[page.length - 1].SavedID;
  const count = $("#saved-list").children.length;
  $("#saved-more").hidden = page.length < PAGE;
  $("#saved-status").textContent = count === 0
    ? "Nothing saved yet: “Save” on a message keeps it here."
    : `${count}${page.length < PAGE ? "" : "+"} saved ${count === 1 ? "message" : "messages"}.`;
}

// One saved message: a button that opens it in its room, and its Unsave.
function savedItem({ Room, Message }) {
  const listed = lent.room(Room.RoomID);
  const where = document.createElement("span");
  where.className = "where";
  where.dataset.kind = Room.Kind === "direct" ? "direct" : "group";
  where.textContent = Room.Kind === "direct" || !Room.Name ? listed.name : Room.Name;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = Message.Username;
  const when = document.createElement("time");
  when.dateTime = Message.CreatedAt;
  when.textContent = new Date(Message.CreatedAt)
    .toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  const text = document.createElement("span");
  text.className = "snippet";
  text.textContent = Message.Text;
  const files = describeFiles(Message.Files);
  if (files) text.append(` ${files}`);
  const open = document.createElement("button");
  open.type = "button";
  open.className = "result";
  open.append(where, who, when, text);
  open.addEventListener("click", () => {
    closeSaved();
    lent.open(Message.RoomID, Message.MessageID);
  });
  const unsave = document.createElement("button");
  unsave.type = "button";
  unsave.className = "plain unsave";
  unsave.textContent = "Unsave";
  unsave.setAttribute("aria-label", `Unsave ${Message.Username}'s message`);
  const item = document.createElement("li");
  item.dataset.id = String(Message.MessageID);
  unsave.addEventListener("click", async () => {
    try {
      await lent.api("DELETE", `/me/saved/${Message.MessageID}`);
    } catch (error) {
      $("#saved-error").textContent = error.message;
      $("#saved-error").hidden = false;
      return;
    }
    savedFrame({ Type: "saved", MessageID: Message.MessageID, Saved: false });
    item.remove();
  });
  item.append(open, unsave);
  return item;
}
