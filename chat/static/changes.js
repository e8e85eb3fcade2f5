// Changing messages on the page: edits, deletions and reactions (the room protocol's
// edit, delete, react and unreact frames, and the edited, deleted and reactions frames
// that answer them, docs/PROTOCOL.md). timeline.js builds each message's item and
// hands it here (showMessageState), with the message as it is now; the frames that
// change it later come through applyChange. Each frame is the message's present state
// (a whole text, a whole reaction list), so applying one again, or one the page asked
// for that changed nothing, leaves the page right. As in timeline.js, user text only
// ever goes in with textContent or through markdown.js.

import { withEmoji } from "./emoji.js";
import { emojiPicker } from "./emoji-picker.js";
import { renderMarkdown } from "./markdown.js";
import { showPreviews } from "./previews.js";

// What app.js lends us (setUpChanges): { me() -> our UID, room() -> the RoomID shown,
// send(frame) -> whether it went, api(method, path), names: Map UID -> name,
// mayDelete(authorUid) -> whether we may delete their message in the room shown,
// changed(item) -> after a message's text changed or it was deleted (for quotes) }.
let page = null;

// Each message's text as written (markdown), for the editor: item -> text.
const sources = new WeakMap();

// A message's items: in the room's list and in the thread panel (threads.js), where a
// thread's root, and a reply also sent to the room, are shown twice.
const ITEMS = ["#messages", "#thread-panel"];
const itemsOf = (messageId) => document.querySelectorAll(
  ITEMS.map((list) => `${list} li[data-id="${messageId}"]`).join(", "),
);
const inLists = (selector) => ITEMS.map((list) => `${list} ${selector}`).join(", ");

// A screen without hover (a phone): a long press on a message opens its reactions.
const touchScreen = window.matchMedia("(hover: none)");

export function setUpChanges(lent) {
  page = lent;
  // A click anywhere but in the picker, or on a React button, closes it.
  document.addEventListener("click", (event) => {
    if (event.target.closest?.(".picker, .react-button")) return;
    closePickers();
  });
  // A long press is what a phone's browser turns into a contextmenu event. On a touch
  // screen, one on a message (but on a link, whose menu copies it) opens the message's
  // reaction picker, as in the chat apps people know; elsewhere the browser's menu stays.
  document.addEventListener("contextmenu", (event) => {
    if (!touchScreen.matches || event.target.closest?.("a, textarea")) return;
    const opener = event.target.closest?.(inLists("li[data-id]"))?.querySelector(".react-button");
    if (!opener) return;
    event.preventDefault();
    togglePicker(opener.closest("li"), opener);
  });
}

const idOf = (item) => Number(item.dataset.id);

function button(label, className, onClick) {
  const made = document.createElement("button");
  made.type = "button";
  made.className = className;
  made.textContent = label;
  made.addEventListener("click", onClick);
  return made;
}

// A panel of a message's (`role` named `label`, for assistive technologies).
function panel(className, role, label) {
  const made = document.createElement("div");
  made.className = className;
  made.setAttribute("role", role);
  made.setAttribute("aria-label", label);
  return made;
}

// The panels under a message (the reaction chips first, then whatever was opened, in
// the order opened) follow its text in the item's grid, in document order.
const PANELS = ".reactions, .picker, .confirm, .versions, .problem, .failure";
function addPanel(item, added) {
  const first = added.classList.contains("reactions") ? item.querySelector(PANELS) : null;
  item.insertBefore(added, first);
}

// A message just put on the page (history, resume or live), as it is now: its edited
// marker, link previews, reactions, and the actions its reader may take; or its tombstone.
export function showMessageState(item, message) {
  item.dataset.uid = String(message.UID);
  sources.set(item, message.Text);
  if (message.Deleted) return showDeleted(item);
  const actions = item.querySelector(".actions");
  const react = button("React", "react-button", () => togglePicker(item, react));
  react.setAttribute("aria-label", `React to ${message.Username}'s message`);
  react.setAttribute("aria-expanded", "false");
  actions.append(react);
  if (message.UID === page.me()) {
    const edit = button("Edit", "edit-button", () => startEdit(item));
    edit.setAttribute("aria-label", "Edit your message");
    actions.append(edit);
  }
  if (page.mayDelete(message.UID)) actions.append(deleteButton(item, message.Username));
  showEdited(item, message.EditedAt);
  showPreviews(item, message);
  showReactions(item, message.Reactions ?? []);
}

function deleteButton(item, author) {
  const remove = button("Delete", "delete-button", () => askDelete(item));
  remove.setAttribute("aria-label", `Delete ${author}'s message`);
  return remove;
}

// Our role in the room shown changed (moderation.js): each message offers Delete as
// mayDelete now says.
export function showDeletesAgain() {
  for (const item of document.querySelectorAll(inLists("li[data-id]:not(.deleted)"))) {
    const actions = item.querySelector(".actions");
    if (actions === null) continue;
    const offered = actions.querySelector(".delete-button");
    const may = page.mayDelete(Number(item.dataset.uid));
    if (may && offered === null) {
      actions.append(deleteButton(item, item.querySelector(".name").textContent));
    } else if (!may && offered !== null) {
      offered.remove();
    }
  }
}

// An edited, deleted or reactions frame of the room shown, to each of its message's
// items. Returns false if its message is not on the page (older than what is loaded):
// nothing to show, nothing to do.
export function applyChange(frame) {
  const items = [...itemsOf(frame.MessageID)].filter((item) => !item.classList.contains("unconfirmed"));
  for (const item of items) applyTo(item, frame);
  return items.length > 0;
}

function applyTo(item, frame) {
  item.querySelector(".problem")?.remove();
  // A tombstone stays one (a resume replays the changes that came before the deletion).
  if (item.classList.contains("deleted")) return;
  if (frame.Type === "deleted") {
    showDeleted(item);
  } else if (frame.Type === "edited") {
    sources.set(item, frame.Text);
    item.querySelector(".text").replaceChildren(renderMarkdown(frame.Text));
    showEdited(item, frame.EditedAt);
    item.querySelector(".versions")?.remove();   // out of date now
    const editor = item.querySelector(".editor");
    if (editor !== null && editor.dataset.sent === frame.Text) closeEditor(item);
    page.changed(item);
  } else if (frame.Type === "reactions") {
    showReactions(item, frame.Reactions);
  }
}

// An error answering one of our changes names its message: said under it if it is on
// the page (returns false if not: the page's error area says it then).
export function changeFailed(frame) {
  // (The item the person acted on, if the message is shown twice.)
  const items = [...itemsOf(frame.MessageID)];
  const item = items.find((shown) => shown.contains(document.activeElement)) ?? items[0];
  if (item === undefined) return false;
  showProblem(item, frame.Error);
  return true;
}

function showProblem(item, text) {
  item.querySelector(".problem")?.remove();
  const problem = document.createElement("span");
  problem.className = "problem";
  problem.setAttribute("role", "alert");
  problem.textContent = text;
  addPanel(item, problem);
}

// The Up arrow in an empty composer: edit our last message in the room. Returns
// whether there was one.
export function editLastOwn() {
  const own = document.querySelectorAll(
    `#messages li[data-uid="${page.me()}"]:not(.deleted):not(.unconfirmed):not(.failed)`,
  );
  if (own.length === 0) return false;
  startEdit(own[own.length - 1]);
  return true;
}

// --- deleted ---

function showDeleted(item) {
  item.classList.add("deleted");
  sources.set(item, "");
  for (const gone of item.querySelectorAll(`.actions, .edited, .editor, .files, .previews, ${PANELS}`)) {
    if (!gone.classList.contains("failure")) gone.remove();
  }
  const text = item.querySelector(".text");
  text.hidden = false;
  text.textContent = "message deleted";
  page.changed(item);
}

// Delete, once the person says so in the message itself (a window.confirm would stop
// the page, and every test of it).
function askDelete(item) {
  const asked = item.querySelector(".confirm");
  if (asked !== null) return asked.querySelector("button").focus();
  item.querySelector(".problem")?.remove();
  const confirm = panel("confirm", "group", "Delete this message?");
  const question = document.createElement("span");
  question.textContent = "Delete it for everyone?";
  const yes = button("Yes, delete", "danger", () => {
    if (page.send({ Type: "delete", MessageID: idOf(item) })) confirm.remove();
  });
  const no = button("Cancel", "plain", () => confirm.remove());
  confirm.addEventListener("keydown", (event) => {
    if (event.key === "Escape") confirm.remove();
  });
  confirm.append(question, yes, no);
  addPanel(item, confirm);
  no.focus();
}

// --- edited ---

function showEdited(item, editedAt) {
  if (!editedAt) return;
  let marker = item.querySelector(".edited");
  if (marker === null) {
    marker = button("(edited)", "edited", () => toggleVersions(item));
    marker.setAttribute("aria-expanded", "false");
    item.querySelector("time").after(marker);
  }
  marker.title = `edited ${new Date(editedAt).toLocaleString()}: click for every version`;
}

// Its versions, the original first (GET /messages/{room}/{id}/edits), under the message.
async function toggleVersions(item) {
  const marker = item.querySelector(".edited");
  const open = item.querySelector(".versions");
  if (open !== null) {
    open.remove();
    marker.setAttribute("aria-expanded", "false");
    return;
  }
  let versions;
  try {
    versions = await page.api("GET", `/messages/${page.room()}/${idOf(item)}/edits`);
  } catch (error) {
    return showProblem(item, error.message);
  }
  if (!item.isConnected || item.querySelector(".versions") !== null) return;
  const versionsPanel = panel("versions", "region", "Edit history");
  const heading = document.createElement("span");
  heading.className = "heading";
  heading.textContent = "Edit history";
  const close = button("×", "close", () => {
    versionsPanel.remove();
    marker.setAttribute("aria-expanded", "false");
  });
  close.setAttribute("aria-label", "Close the edit history");
  const list = document.createElement("ol");
  for (const [index, { Text, At }] of versions.entries()) {
    const version = document.createElement("li");
    const when = document.createElement("time");
    when.dateTime = At;
    when.textContent = `${index === 0 ? "original, " : ""}${new Date(At).toLocaleString()}`;
    const text = document.createElement("span");
    text.className = "version-text";
    text.textContent = Text;
    version.append(when, text);
    list.append(version);
  }
  versionsPanel.append(heading, close, list);
  addPanel(item, versionsPanel);
  marker.setAttribute("aria-expanded", "true");
}

// Edit in place: the text becomes a box with Save and Cancel (Enter saves, Shift+Enter
// breaks the line, Escape cancels). It stays open until the edited frame with what was
// saved comes back, so nothing typed is lost to an error or a dropped connection.
function startEdit(item) {
  const open = item.querySelector(".editor textarea");
  if (open !== null) return open.focus();
  item.querySelector(".problem")?.remove();
  const text = item.querySelector(".text");
  const editor = document.createElement("form");
  editor.className = "editor";
  const box = document.createElement("textarea");
  box.name = "text";
  box.rows = 2;
  box.value = sources.get(item) ?? text.textContent;
  box.setAttribute("aria-label", "Edit the message");
  box.title = "Enter saves; Shift+Enter starts a new line; Escape cancels";
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save";
  const cancel = button("Cancel", "plain", () => closeEditor(item));
  editor.append(box, save, cancel);
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    if (box.value === sources.get(item)) return closeEditor(item);   // nothing changed
    if (page.send({ Type: "edit", MessageID: idOf(item), Text: box.value })) {
      editor.dataset.sent = box.value;
    }
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeEditor(item);
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      editor.requestSubmit();
    }
  });
  text.hidden = true;
  text.after(editor);
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
  editor.scrollIntoView({ block: "nearest" });
}

function closeEditor(item) {
  const editor = item.querySelector(".editor");
  if (editor === null) return;
  const hadFocus = editor.contains(document.activeElement);
  editor.remove();
  item.querySelector(".text").hidden = false;
  // Back to the composer of where the message is: the room's, or the thread panel's.
  const composer = item.closest("#thread-panel") ? "#thread-composer" : "#send-form [name=text]";
  if (hadFocus) document.querySelector(composer)?.focus();
}

// --- reactions ---

// The message's chips, one per emoji with its count, ours pressed; a chip toggles ours.
function showReactions(item, reactions) {
  item.querySelector(".reactions")?.remove();
  if (reactions.length === 0) return;
  const box = document.createElement("div");
  box.className = "reactions";
  for (const { Emoji, Count, UIDs } of reactions) {
    const mine = UIDs.includes(page.me());
    const chip = button(` ${Count}`, "chip", () => react(item, Emoji, !mine));
    const emoji = document.createElement("span");
    emoji.className = "emoji";
    emoji.append(...withEmoji(Emoji));  // a :shortcode: someone reacted with, as its emoji
    chip.prepend(emoji);
    chip.dataset.emoji = Emoji;
    chip.setAttribute("aria-pressed", String(mine));
    chip.title = whoReacted(UIDs, Count);
    box.append(chip);
  }
  addPanel(item, box);
}

// "you, alice and 2 others": the names the page knows, the rest counted.
function whoReacted(uids, count) {
  const named = [];
  for (const uid of uids) {
    if (uid === page.me()) named.unshift("you");
    else if (page.names.has(uid)) named.push(page.names.get(uid));
  }
  const others = count - named.length;
  if (others > 0) named.push(others === 1 ? "1 other" : `${others} others`);
  if (named.length < 2) return named.join("");
  return `${named.slice(0, -1).join(", ")} and ${named[named.length - 1]}`;
}

function react(item, emoji, add) {
  item.querySelector(".problem")?.remove();
  page.send({ Type: add ? "react" : "unreact", MessageID: idOf(item), Emoji: emoji });
}

function closePickers() {
  for (const picker of document.querySelectorAll(inLists(".picker"))) picker.remove();
  for (const opener of document.querySelectorAll(inLists(".react-button[aria-expanded=true]"))) {
    opener.setAttribute("aria-expanded", "false");
  }
}

// The React button's picker (emoji-picker.js), under the message: the emoji picked last
// (the common few, before any) and every other one, with a search; a pick reacts and
// closes it.
function togglePicker(item, opener) {
  const open = item.querySelector(".picker");
  closePickers();
  if (open !== null) return;
  const close = () => {
    picker.remove();
    opener.setAttribute("aria-expanded", "false");
    opener.focus();
  };
  const picker = emojiPicker({
    label: "Pick a reaction",
    pickLabel: "React with",
    onPick: (emoji) => {
      react(item, emoji, true);
      close();
    },
    onClose: close,
  });
  addPanel(item, picker);
  opener.setAttribute("aria-expanded", "true");
  picker.querySelector("button.emoji").focus();
}
