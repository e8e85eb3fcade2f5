// The emoji picker, for reactions (changes.js) and for the composer (its emoji button,
// set up here): a search box, the emoji picked last (or the common few, before any),
// then every emoji by group (emoji.js loads them the first time). Keys: the arrows move
// between the emoji (Up and Down by rows as they are laid out; Down from the search box
// into them, Up from the first row back to it), Home and End, Enter picks (in the search
// box, the first found), Escape closes, and typing a letter anywhere in it searches.
// Only one emoji is in the Tab order at a time: Tab leaves the grid.

import {
  COMMON, emojiData, emojiEntry, loadEmoji, recentEmoji, rememberEmoji, searchEmoji,
} from "./emoji.js";

const $ = (selector) => document.querySelector(selector);

// A picker: a group named `label` of class "picker emoji-picker". `pickLabel` names the
// first row's buttons ("React with" -> "React with 👍"). `onPick(emoji)` after a pick
// (remembered as recent first), `onClose()` on Escape.
export function emojiPicker({ label, pickLabel, onPick, onClose }) {
  const picker = group("picker emoji-picker", label);

  const search = document.createElement("input");
  search.type = "search";
  search.placeholder = "Search emoji";
  search.autocomplete = "off";
  search.maxLength = 64;
  const searchLabel = document.createElement("label");
  const named = document.createElement("span");
  named.className = "visually-hidden";
  named.textContent = "Search emoji";
  searchLabel.append(named, search);

  const shown = recentEmoji();
  const recent = section(shown.length > 0 ? "Recent" : "Common");
  const recentRow = recent.lastChild;
  for (const emoji of shown.length > 0 ? shown : COMMON) {
    const choice = emojiButton(emoji, `${pickLabel} ${emoji}`);
    const name = emojiEntry(emoji)?.label;
    if (name) choice.title = name;
    recentRow.append(choice);
  }
  const all = document.createElement("div");
  all.className = "emoji-all";
  const status = document.createElement("p");
  status.className = "emoji-status";
  status.setAttribute("role", "status");
  picker.append(searchLabel, recent, all, status);

  const pick = (emoji) => {
    rememberEmoji(emoji);
    onPick(emoji);
  };
  picker.addEventListener("click", (event) => {
    const choice = event.target.closest?.("button.emoji");
    if (choice && picker.contains(choice)) pick(choice.dataset.emoji);
  });
  picker.addEventListener("keydown", (event) => keyed(event, picker, search, pick, onClose));
  search.addEventListener("input", () => showFound(picker, search.value));

  if (emojiData() === null) status.textContent = "Loading emoji...";
  loadEmoji().then(() => {
    status.textContent = "";
    fillGroups(all);
    if (search.value) showFound(picker, search.value);
  }, () => {
    status.textContent = "The emoji could not be loaded.";
  });
  setCurrent(picker, recentRow.firstChild);
  return picker;
}

// A <div> of class `className` that assistive technologies know as a group named `label`.
function group(className, label) {
  const made = document.createElement("div");
  made.className = className;
  made.setAttribute("role", "group");
  made.setAttribute("aria-label", label);
  return made;
}

// A row of emoji under its heading `name`.
function section(name) {
  const made = group("emoji-section", name);
  const heading = document.createElement("p");
  heading.className = "emoji-heading";
  heading.textContent = name;
  heading.setAttribute("aria-hidden", "true");  // the group's name says it
  const row = document.createElement("div");
  row.className = "emoji-row";
  made.append(heading, row);
  return made;
}

function emojiButton(emoji, name, shortcode) {
  const made = document.createElement("button");
  made.type = "button";
  made.className = "emoji";
  made.textContent = emoji;
  made.dataset.emoji = emoji;
  made.tabIndex = -1;
  made.setAttribute("aria-label", name);
  if (shortcode) made.title = `:${shortcode}:`;
  return made;
}

function entryButton(entry) {
  return emojiButton(entry.emoji, entry.label, entry.codes[0]);
}

function fillGroups(all) {
  all.replaceChildren(...emojiData().groups.map(({ name, entries }) => {
    const group = section(name);
    group.lastChild.append(...entries.map(entryButton));
    return group;
  }));
}

// What the search box says: the emoji found, in place of the groups (and the recent).
function showFound(picker, query) {
  const data = emojiData();
  const all = picker.querySelector(".emoji-all");
  const recent = picker.querySelector(".emoji-section");
  const status = picker.querySelector(".emoji-status");
  if (data === null) return;
  if (!query.trim()) {
    recent.hidden = false;
    status.textContent = "";
    fillGroups(all);
  } else {
    const found = searchEmoji(query);
    recent.hidden = true;
    const results = section("Found");
    results.lastChild.append(...found.map(entryButton));
    all.replaceChildren(results);
    status.textContent = found.length === 0 ? "No emoji found." : `${found.length} found`;
  }
  setCurrent(picker, visibleEmoji(picker)[0]);
}

function visibleEmoji(picker) {
  return [...picker.querySelectorAll("button.emoji")].filter((b) => !b.closest("[hidden]"));
}

// The one emoji in the Tab order (the one the arrows move from).
function setCurrent(picker, button) {
  for (const other of picker.querySelectorAll("button.emoji[tabindex='0']")) other.tabIndex = -1;
  if (button) button.tabIndex = 0;
}

function moveTo(picker, button) {
  if (!button) return;
  setCurrent(picker, button);
  button.focus();
  button.scrollIntoView({ block: "nearest" });
}

// The emoji in the row above or below `from` (`step` -1 or 1), nearest to it sideways.
function rowNeighbour(buttons, from, step) {
  const here = from.getBoundingClientRect();
  const middle = here.left + here.width / 2;
  const beyond = buttons.filter((b) => {
    const top = b.getBoundingClientRect().top;
    return step > 0 ? top > here.top + here.height / 2 : top < here.top - here.height / 2;
  });
  if (beyond.length === 0) return null;
  const rowTop = step > 0
    ? Math.min(...beyond.map((b) => b.getBoundingClientRect().top))
    : Math.max(...beyond.map((b) => b.getBoundingClientRect().top));
  const row = beyond.filter((b) => Math.abs(b.getBoundingClientRect().top - rowTop) < 2);
  const distance = (b) => { const r = b.getBoundingClientRect(); return Math.abs(r.left + r.width / 2 - middle); };
  return row.reduce((best, b) => (distance(b) < distance(best) ? b : best));
}

function keyed(event, picker, search, pick, onClose) {
  if (event.isComposing) return;
  const buttons = visibleEmoji(picker);
  const from = event.target;
  const onEmoji = from.matches?.("button.emoji");
  let handled = true;
  if (event.key === "Escape") {
    onClose();
  } else if (from === search) {
    if (event.key === "ArrowDown") moveTo(picker, buttons[0]);
    else if (event.key === "Enter" && search.value.trim() && buttons[0]) pick(buttons[0].dataset.emoji);
    else handled = event.key === "Enter";  // never submits a form around it
  } else if (onEmoji) {
    const index = buttons.indexOf(from);
    if (event.key === "ArrowRight") moveTo(picker, buttons[index + 1]);
    else if (event.key === "ArrowLeft") moveTo(picker, buttons[index - 1]);
    else if (event.key === "Home") moveTo(picker, buttons[0]);
    else if (event.key === "End") moveTo(picker, buttons.at(-1));
    else if (event.key === "ArrowDown") moveTo(picker, rowNeighbour(buttons, from, 1));
    else if (event.key === "ArrowUp") {
      const above = rowNeighbour(buttons, from, -1);
      if (above) moveTo(picker, above);
      else search.focus();
    } else if (event.key.length === 1 && event.key !== " " && !event.ctrlKey && !event.metaKey && !event.altKey) {
      search.focus();  // the letter goes into the search box
      handled = false;
    } else {
      handled = false;
    }
  } else {
    handled = false;
  }
  if (!handled) return;
  event.preventDefault();
  event.stopPropagation();
}

// --- the composer's emoji button ---

// The button beside the composer opens a picker above it; a pick goes in at the caret.
export function setUpComposerEmoji() {
  const opener = $("#emoji-button");
  const composer = $("#composer");
  const close = () => {
    $("#send-form .emoji-picker")?.remove();
    opener.setAttribute("aria-expanded", "false");
  };
  opener.addEventListener("click", () => {
    if ($("#send-form .emoji-picker")) {
      close();
      return;
    }
    const picker = emojiPicker({
      label: "Insert an emoji",
      pickLabel: "Insert",
      onPick: (emoji) => {
        close();
        composer.focus();
        composer.setRangeText(emoji, composer.selectionStart, composer.selectionEnd, "end");
        composer.dispatchEvent(new Event("input", { bubbles: true }));
      },
      onClose: () => {
        close();
        opener.focus();
      },
    });
    $("#send-form").insertBefore(picker, $("#attachments"));
    opener.setAttribute("aria-expanded", "true");
    picker.querySelector("input").focus();
  });
  // A click anywhere but in it (or on its button) closes it.
  document.addEventListener("click", (event) => {
    if (event.target.closest?.(".emoji-picker, #emoji-button")) return;
    if ($("#send-form .emoji-picker")) close();
  });
}
