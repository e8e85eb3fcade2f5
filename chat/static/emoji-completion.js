// `:` in the composer completes emoji, as completion.js completes `@` names (a list of
// its own, suggestions.js's): `:thu` (two characters at least) offers 👍 :thumbsup: and
// the others whose shortcode or name starts so; taking one puts the emoji in place of
// the `:thu`.

import { loadEmoji, rememberEmoji, searchEmoji } from "./emoji.js";
import { replaceTyped, suggestionList } from "./suggestions.js";

const $ = (selector) => document.querySelector(selector);
// The `:word` being typed, just before the caret: a colon that starts a word (not the
// one in 10:30 or https:), then 2-32 shortcode characters.
const TYPED = /(?:^|[^\p{L}\p{N}_:/])(:[a-z0-9_+-]{2,32})$/iu;
const MAX_SHOWN = 6;  // all shown: the list never scrolls

let input = null;
let list = null;

// Set up after completion.js (both keep their list in the textarea's aria-controls).
export function setUpEmojiCompletion(textarea) {
  input = textarea;
  list = suggestionList(input, $("#emoji-suggestions"), "emoji-option-");
  input.addEventListener("input", suggest);
}

async function suggest() {
  if (TYPED.exec(input.value.slice(0, input.selectionStart)) === null) return list.close();
  await loadEmoji();
  // Typed on meanwhile: what is before the caret now decides.
  const now = TYPED.exec(input.value.slice(0, input.selectionStart));
  if (now === null) return list.close();
  const typed = now[1].slice(1).toLowerCase();
  list.show(searchEmoji(typed).slice(0, MAX_SHOWN), (entry) => option(entry, typed), take);
}

// The emoji and its shortcode that starts as typed (:thu -> :thumbsup:, not :+1:).
function option(entry, typed) {
  const shown = document.createDocumentFragment();
  const emoji = document.createElement("span");
  emoji.className = "emoji";
  emoji.textContent = entry.emoji;
  const code = entry.codes.find((c) => c.startsWith(typed)) ?? entry.codes[0];
  shown.append(emoji, code ? ` :${code}:` : ` ${entry.label}`);
  return shown;
}

function take(entry) {
  const replaced = replaceTyped(input, TYPED, entry.emoji);
  list.close();
  if (!replaced) return;
  rememberEmoji(entry.emoji);
  input.dispatchEvent(new Event("input", { bubbles: true }));
}
