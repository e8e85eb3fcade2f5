// Replies: a message's Reply button makes the next message sent answer it (said above
// the composer until sent or cancelled), and a reply shows the message it answers above
// its text, as a quote that brings that message into view. As elsewhere, text only ever
// goes in with textContent.

import { describeFilesIn } from "./attachments.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpReplies): { show(messageId) -> bring a message of the room
// shown into view }.
let lent = null;
// The message the next one answers ({ id, name, text, quoted: the line above the
// composer }), chosen with its Reply button.
let answering = null;

export function setUpReplies(lentByApp) {
  lent = lentByApp;
  $("#cancel-reply").addEventListener("click", cancelReply);
}

// The MessageID the next message answers, or null.
export const replyingTo = () => answering?.id ?? null;
// The reply being written, as drafts.js keeps it ({ id, name, text, quoted } or null).
export const replyDraft = () => answering;

// The first line of a text, cut to a quote's length.
function excerpt(text) {
  const line = text.split("\n", 1)[0];
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}

// What a message on the page says, as a quote shows it: its text without formatting,
// or its files when it has no text.
const said = (item) => item.querySelector(".text").textContent || describeFilesIn(item);

// Answer `message` (its `item` on the page) with the next one sent: said above the
// composer until sent or cancelled (its × button or Escape). Entering another room puts
// it aside with the rest of the draft (drafts.js), until the person is back.
// Quoted as shown, without its formatting, as the reply's own quote will be (quoteOf).
export function replyTo(message, item) {
  const quoted = `Replying to ${message.Username}: ${excerpt(said(item))}`;
  answering = { id: message.MessageID, name: message.Username, text: message.Text, quoted };
  $("#replying .quoted").textContent = quoted;
  $("#replying").hidden = false;
  $("#send-form").dispatchEvent(new Event("draftchange"));   // drafts.js keeps it
  $("#send-form [name=text]").focus();
}

export function cancelReply() {
  answering = null;
  $("#replying").hidden = true;
  $("#send-form").dispatchEvent(new Event("draftchange"));
}

// The reply being written, taken off the composer (drafts.js keeps it with its room).
export function takeReply() {
  const taken = answering;
  cancelReply();
  return taken;
}

// A reply taken by takeReply, back above the composer (null: none).
export function restoreReply(reply) {
  answering = reply;
  $("#replying .quoted").textContent = reply?.quoted ?? "";
  $("#replying").hidden = reply === null;
}

// What a reply shows above its text: the message it answers (if it is on the page), as
// a button that shows it.
export function quoteOf(id) {
  const quote = document.createElement("button");
  quote.type = "button";
  quote.className = "quote";
  quote.dataset.replyTo = String(id);
  const original = $(`#messages li[data-id="${id}"]`);
  quote.textContent = "↪ an earlier message";
  if (original !== null) quoteAgain(quote, original);
  quote.addEventListener("click", () => lent.show(id));
  return quote;
}

// A quote says what its message says now (after an edit), or that it was deleted.
function quoteAgain(quote, original) {
  const name = original.querySelector(".name").textContent;
  quote.textContent = `↪ ${name}: ${excerpt(said(original))}`;
  quote.classList.toggle("deleted", original.classList.contains("deleted"));
}

// A message's text changed or it was deleted: the quotes of it follow (and a reply to
// it being written lets go of it: a deleted message cannot be answered).
export function requoted(original) {
  for (const quote of document.querySelectorAll(`#messages .quote[data-reply-to="${original.dataset.id}"]`)) {
    quoteAgain(quote, original);
  }
  const id = Number(original.dataset.id);
  if (original.classList.contains("deleted") && answering?.id === id) cancelReply();
}
