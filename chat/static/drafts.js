// Drafts belong to their room: what is being written in one (the composer's text, the
// message it answers, its attachments) is put aside when the page moves to another room
// and given back when it returns, so that nothing written for one room, a private one
// say, is ever in the composer of another, where the next Enter would send it there.
//
// Each room's draft is also kept in the browser's storage (localStorage, under the
// signed-in person's UID), so that it is there again after a reload or a new tab: its
// text, the message it answers and its files already uploaded (their FileIDs). A file
// still uploading cannot be stored: it stays with its room's draft in memory only, for
// as long as the page lives. Logging out forgets them all (forgetDrafts).

import {
  restoreAttachments, storedEntries, takeAttachments, uploadedNow, uploadedOf,
} from "./attachments.js";
import { countCharacters, fitComposer } from "./composer.js";
import { replyDraft, restoreReply, takeReply } from "./replies.js";

const $ = (selector) => document.querySelector(selector);

// The rooms' drafts kept in storage: at most this many (the newest), each for at most
// MAX_AGE_MS; what is read back from storage is checked, as anything stored may be old
// or altered.
const MAX_STORED = 50;
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;
const MAX_TEXT = 100_000;

// RoomID -> { text, reply, attachments } of the rooms the page is not showing.
const drafts = new Map();
// What drafts.js is lent (setUpDrafts): { me() -> the signed-in UID or null, shown() ->
// the RoomID whose draft the composer holds, or null }.
let lent = { me: () => null, shown: () => null };
let saveTimer = null;
let switching = false;   // switchDraft moves drafts: the changes it makes are not the person's

const storageKey = () => `chat.drafts.${lent.me()}`;

function readStored() {
  if (lent.me() === null) return {};
  try {
    const stored = JSON.parse(localStorage.getItem(storageKey()) ?? "{}");
    return stored !== null && typeof stored === "object" && !Array.isArray(stored) ? stored : {};
  } catch {
    return {};   // not JSON (altered): no drafts rather than a broken page
  }
}

function writeStored(stored) {
  const newest = Object.entries(stored)
    .filter(([, draft]) => Date.now() - draft.at < MAX_AGE_MS)
    .sort(([, a], [, b]) => b.at - a.at)
    .slice(0, MAX_STORED);
  try {
    if (newest.length === 0) localStorage.removeItem(storageKey());
    else localStorage.setItem(storageKey(), JSON.stringify(Object.fromEntries(newest)));
  } catch {
    // Storage full or refused (a private window): the drafts live in memory only.
  }
}

// A room's draft into storage (`draft`: { text, reply, files }), or out of it if empty.
function store(roomId, draft) {
  if (lent.me() === null || roomId === null) return;
  const stored = readStored();
  const empty = !draft.text && draft.reply === null && draft.files.length === 0;
  if (empty) delete stored[roomId];
  else stored[roomId] = { ...draft, at: Date.now() };
  writeStored(stored);
}

// A room's draft as stored, checked: { text, reply, attachments } or null.
function stored(roomId) {
  const draft = readStored()[roomId];
  if (draft === null || typeof draft !== "object") return null;
  const text = typeof draft.text === "string" ? draft.text.slice(0, MAX_TEXT) : "";
  const reply = draft.reply !== null && typeof draft.reply === "object"
    && Number.isInteger(draft.reply.id) && typeof draft.reply.quoted === "string"
    ? draft.reply : null;
  const files = Array.isArray(draft.files)
    ? draft.files.filter((file) => typeof file?.FileID === "string" && typeof file.Name === "string")
    : [];
  return { text, reply, attachments: storedEntries(files) };
}

// The composer's draft, as it stands, into storage under the room shown.
function saveNow() {
  clearTimeout(saveTimer);
  saveTimer = null;
  const roomId = lent.shown();
  if (roomId === null) return;
  store(roomId, composerDraft());
}

const composerDraft = () => ({
  text: $("#composer").value, reply: replyDraft(), files: uploadedNow(),
});

function saveSoon() {
  if (switching) return;
  clearTimeout(saveTimer);
  saveTimer = setTimeout(saveNow, 250);
}

// The page moves from showing room `from` (null: none yet, the page was just loaded) to
// showing room `to`: the composer's draft stays with `from`, and `to`'s own (if any,
// from memory, else from storage) takes its place.
export function switchDraft(from, to) {
  if (from === to) return;
  const composer = $("#composer");
  switching = true;
  try {
    clearTimeout(saveTimer);
    if (from !== null) {
      const leaving = { text: composer.value, reply: takeReply(), attachments: takeAttachments() };
      store(from, { text: leaving.text, reply: leaving.reply, files: uploadedOf(leaving.attachments) });
      if (leaving.text || leaving.reply !== null || leaving.attachments.length > 0) {
        drafts.set(from, leaving);
      }
    } else {
      takeReply();
      takeAttachments();
    }
    const back = drafts.get(to) ?? stored(to);
    drafts.delete(to);
    composer.value = back?.text ?? "";
    restoreReply(back?.reply ?? null);
    restoreAttachments(back?.attachments ?? []);
  } finally {
    switching = false;
  }
  fitComposer(composer);
  countCharacters();
}

// Logging out: this browser keeps no draft of theirs.
export function forgetDrafts() {
  clearTimeout(saveTimer);
  drafts.clear();
  if (lent.me() !== null) localStorage.removeItem(storageKey());
}

// The composer's changes are kept as they are made (app.js, once the page is loaded).
export function setUpDrafts(lentByApp) {
  lent = lentByApp;
  $("#composer").addEventListener("input", saveSoon);
  $("#send-form").addEventListener("draftchange", saveSoon);
  window.addEventListener("pagehide", () => { if (saveTimer !== null) saveNow(); });
}
