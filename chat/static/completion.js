// `@` in the composer completes names: the room's members first, then anyone whose name
// starts so (GET /users?prefix=). A listbox above the composer; Up and Down choose, Enter
// or Tab takes the name, Escape closes it. The textarea keeps the focus throughout
// (aria-activedescendant tells a screen reader which name is chosen).

import { membersListed } from "./people.js";

const $ = (selector) => document.querySelector(selector);
// The `@word` being typed, just before the caret: an @ that starts a word, as the server
// reads mentions (an @ inside an e-mail address does not mention anyone).
const TYPED = /(?:^|[^\p{L}\p{N}_.+\-=@])@([^\s@]{0,40})$/u;
const MAX_SHOWN = 8;

let lent = null;
let box = null;
let input = null;
let choices = [];
let chosen = 0;
let asked = 0;

export function setUpCompletion(textarea, lentByApp) {
  lent = lentByApp;
  input = textarea;
  box = $("#mention-suggestions");
  input.setAttribute("aria-controls", box.id);
  input.setAttribute("aria-autocomplete", "list");
  input.addEventListener("input", suggest);
  input.addEventListener("blur", () => setTimeout(close, 150));
  // Registered before sending.js's own keydown (Enter sends): a key used here is not
  // used again there (defaultPrevented).
  input.addEventListener("keydown", (event) => {
    if (box.hidden || event.isComposing) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      choose((chosen + step + choices.length) % choices.length);
    } else if (event.key === "Enter" || event.key === "Tab") {
      take(choices[chosen]);
    } else if (event.key === "Escape") {
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  });
}

async function suggest() {
  const typed = TYPED.exec(input.value.slice(0, input.selectionStart));
  if (typed === null) return close();
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
  show(names.slice(0, MAX_SHOWN));
}

function show(names) {
  choices = names;
  if (names.length === 0) return close();
  box.replaceChildren(...names.map((name, i) => {
    const option = document.createElement("li");
    option.id = `mention-option-${i}`;
    option.setAttribute("role", "option");
    option.textContent = name === "room" ? "@room (everyone here)" : `@${name}`;
    // mousedown, not click: the textarea must not lose the focus first.
    option.addEventListener("mousedown", (event) => {
      event.preventDefault();
      take(name);
    });
    return option;
  }));
  // (No aria-expanded: a textarea may not carry it. The list's own hidden state, and
  // aria-activedescendant naming an option in it, say whether it is open.)
  box.hidden = false;
  choose(0);
}

function choose(index) {
  chosen = index;
  for (const [i, option] of [...box.children].entries()) {
    option.setAttribute("aria-selected", String(i === index));
  }
  input.setAttribute("aria-activedescendant", `mention-option-${index}`);
}

// Replace the `@word` before the caret with the whole name and a space.
function take(name) {
  const before = input.value.slice(0, input.selectionStart);
  const after = input.value.slice(input.selectionStart);
  const typed = TYPED.exec(before);
  if (typed === null) return close();
  const start = before.length - typed[1].length;
  input.value = `${before.slice(0, start)}${name} ${after}`;
  const caret = start + name.length + 1;
  input.setSelectionRange(caret, caret);
  close();
  input.dispatchEvent(new Event("input", { bubbles: true }));
}

function close() {
  if (box === null) return;
  box.hidden = true;
  box.replaceChildren();
  choices = [];
  input?.removeAttribute("aria-activedescendant");
}
