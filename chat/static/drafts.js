// Drafts belong to their room: what is being written in one (the composer's text, the
// message it answers, its attachments) is put aside when the page moves to another room
// and given back when it returns, so that nothing written for one room, a private one
// say, is ever in the composer of another, where the next Enter would send it there. In
// memory only, for as long as the page lives.

import { restoreAttachments, takeAttachments } from "./attachments.js";
import { countCharacters, fitComposer } from "./composer.js";
import { restoreReply, takeReply } from "./replies.js";

const $ = (selector) => document.querySelector(selector);

// RoomID -> { text, reply, attachments } of the rooms the page is not showing.
const drafts = new Map();

// The page moves from showing room `from` (null: none yet) to showing room `to`: the
// composer's draft stays with `from`, and `to`'s own (if any) takes its place.
export function switchDraft(from, to) {
  if (from === null || from === to) return;
  const composer = $("#composer");
  const leaving = { text: composer.value, reply: takeReply(), attachments: takeAttachments() };
  if (leaving.text || leaving.reply !== null || leaving.attachments.length > 0) {
    drafts.set(from, leaving);
  }
  const back = drafts.get(to);
  drafts.delete(to);
  composer.value = back?.text ?? "";
  restoreReply(back?.reply ?? null);
  restoreAttachments(back?.attachments ?? []);
  fitComposer(composer);
  countCharacters();
}
