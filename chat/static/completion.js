// `@` in the composer completes names: the room's members first, then anyone whose name
// starts so (GET /users?prefix=), in the list suggestions.js keeps above the composer.

import { membersListed } from "./people.js";
import { replaceTyped, suggestionList } from "./suggestions.js";

const $ = (selector) => document.querySelector(selector);
// The `@word` being typed, just before the caret: an @ that starts a word, as the server
// reads mentions (an @ inside an e-mail address does not mention anyone).
const TYPED = /(?:^|[^\p{L}\p{N}_.+\-=@])@([^\s@]{0,40})$/u;
const MAX_SHOWN = 8;

let lent = null;
let input = null;
let list = null;
let asked = 0;

export function setUpCompletion(textarea, lentByApp) {
  lent = lentByApp;
  input = textarea;
  list = suggestionList(input, $("#mention-suggestions"), "mention-option-");
  input.addEventListener("input", suggest);
}

async function suggest() {
  const typed = TYPED.exec(input.value.slice(0, input.selectionStart));
  if (typed === null) return list.close();
  const prefix = typed[1];
  const turn = ++asked;
  const folded = prefix.toLocaleLowerCase();
  const names = [];
  const me = lent.me();
  for (const { UID, Username } of await membersListed(lent.shown())) {
    if (UID !== me && Username.toLocaleLowerCase().startsWith(folded)) names.push(Username);
  }
  if (names.length < MAX_SHOWN && prefix.length > 0) {
    try {
      const found = await lent.api("GET", `/users?prefix=${encodeURIComponent(prefix)}`);
      for (const { UID, Username } of found) {
        if (UID !== me && !names.includes(Username)) names.push(Username);
      }
    } catch {
      // Members alone, then.
    }
  }
  if (turn !== asked) return;  // typed on meanwhile: a later call shows its own
  if ("room".startsWith(folded)) names.push("room");
  list.show(names.slice(0, MAX_SHOWN), (name) => (name === "room" ? "@room (everyone here)" : `@${name}`), take);
}

// Replace the `@word` before the caret with the whole name and a space.
function take(name) {
  const replaced = replaceTyped(input, TYPED, name);
  list.close();
  if (replaced) input.dispatchEvent(new Event("input", { bubbles: true }));
}
