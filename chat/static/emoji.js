// Emoji: the data (vendor/emoji-data.js, emojibase-data's trimmed: see vendor/README.md),
// loaded the first time something needs it (a :shortcode: in a message, the picker, the
// composer's `:` completion) and not before: it is the client's largest file. Shortcodes
// are GitHub's, as emojibase lists them (:thumbsup: and :+1: are 👍), each one written
// as the server takes a reaction's shortcode ([a-z0-9_+-], 1-32 characters); every emoji
// in the data is one the server takes as a reaction. The emoji the person picked last
// are kept in the browser (localStorage), most recent first.

// A :shortcode: in a message's text (at most 32 characters, as the server's).
const SHORTCODE = /:([a-z0-9_+-]{1,32}):/g;
const RECENT_KEY = "chat.emoji.recent";
const MAX_RECENT = 24;
// The picker's first row until the person has picked any: the common few.
export const COMMON = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];

// { groups: [{ name, entries }], byCode: Map shortcode -> entry, byEmoji, all: [entry] },
// an entry being { emoji, label, codes: [shortcode], words: [lower-case word] }.
let data = null;
let loading = null;

// The data, once loaded (null before).
export function emojiData() {
  return data;
}

// The data, loaded now if it was not (one request however many ask).
export function loadEmoji() {
  loading ??= import("./vendor/emoji-data.js").then(({ default: groups }) => {
    const loaded = { groups: [], byCode: new Map(), byEmoji: new Map(), all: [] };
    for (const [name, rows] of groups) {
      const entries = rows.map(([emoji, label, codes, tags]) => {
        const entry = { emoji, label, codes: codes ? codes.split(" ") : [] };
        entry.words = `${label} ${codes.replaceAll("_", " ")} ${codes} ${tags}`.toLowerCase().split(/\s+/);
        for (const code of entry.codes) loaded.byCode.set(code, entry);
        loaded.byEmoji.set(emoji, entry);
        return entry;
      });
      loaded.groups.push({ name, entries });
      loaded.all.push(...entries);
    }
    data = loaded;
    showPendingShortcodes();
    return data;
  });
  return loading;
}

// The emoji whose every word of `query` starts one of its words (its name's, its
// shortcodes', its keywords'); those with a shortcode that is the query, or starts with
// it, first.
export function searchEmoji(query) {
  const terms = query.toLowerCase().replaceAll(":", "").split(/\s+/).filter(Boolean);
  if (data === null || terms.length === 0) return [];
  const found = data.all.filter((entry) => terms.every((term) => entry.words.some((w) => w.startsWith(term))));
  const rank = (entry) => {
    if (terms.length > 1) return 2;
    if (entry.codes.includes(terms[0])) return 0;
    return entry.codes.some((code) => code.startsWith(terms[0])) ? 1 : 2;
  };
  return found.map((entry, i) => [rank(entry), i, entry]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, , e]) => e);
}

// The entry of an emoji (for its name), once the data is loaded; undefined if unknown.
export function emojiEntry(emoji) {
  return data?.byEmoji.get(emoji);
}

// What a reaction shows: the emoji of a known :shortcode: (someone may react with one),
// else the reaction as it is.
export function reactionShown(reaction) {
  const code = /^:([a-z0-9_+-]{1,32}):$/.exec(reaction);
  return (code && data?.byCode.get(code[1])?.emoji) ?? reaction;
}

// --- recent emoji ---

export function recentEmoji() {
  try {
    const kept = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]");
    return Array.isArray(kept) ? kept.filter((e) => typeof e === "string").slice(0, MAX_RECENT) : [];
  } catch {
    return [];  // no storage (a private window may refuse it), or not ours
  }
}

export function rememberEmoji(emoji) {
  const recent = [emoji, ...recentEmoji().filter((e) => e !== emoji)].slice(0, MAX_RECENT);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(recent));
  } catch {
    // Not kept, then.
  }
}

// --- :shortcodes: in messages ---

// `text` (a piece of a message, never code) as nodes: text, and each known :shortcode:
// as its emoji (its shortcode as its title). Before the data is loaded, a shortcode is a
// placeholder showing it as typed, and the data is asked for: once it is in, every
// placeholder on the page becomes its emoji, or plain text if none is called so.
export function withEmoji(text) {
  const nodes = [];
  let at = 0;
  for (const match of text.matchAll(SHORTCODE)) {
    const known = data?.byCode.get(match[1]);
    if (data !== null && known === undefined) continue;
    if (match.index > at) nodes.push(document.createTextNode(text.slice(at, match.index)));
    const span = document.createElement("span");
    span.textContent = match[0];
    if (known) {
      showAsEmoji(span, known.emoji, match[0]);
    } else {
      span.dataset.shortcode = match[1];
      loadEmoji();
    }
    nodes.push(span);
    at = match.index + match[0].length;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}

function showAsEmoji(span, emoji, shortcode) {
  span.className = "emoji";
  span.textContent = emoji;
  span.title = shortcode;
}

function showPendingShortcodes() {
  for (const span of document.querySelectorAll("span[data-shortcode]")) {
    const known = data.byCode.get(span.dataset.shortcode);
    delete span.dataset.shortcode;
    if (known) showAsEmoji(span, known.emoji, span.textContent);
    else span.replaceWith(document.createTextNode(span.textContent));
  }
}
