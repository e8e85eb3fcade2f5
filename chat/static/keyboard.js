// The keyboard: skip links (to the messages, to the message box), Ctrl+K (⌘K on a Mac)
// for the quick switcher (rooms and people by name: Enter opens the room or the direct
// conversation), Alt+Up and Alt+Down for the previous and the next room, Escape to close
// a menu, and "?" (outside a text field) for the list of shortcuts. After a room switch
// the focus is in the message box (focusComposer, rooms.js).

import { escapeMenu } from "./roving.js";

const $ = (selector) => document.querySelector(selector);

const SHOWN = 20;   // the switcher lists at most this many matches

// What app.js lends us (setUpKeyboard): { rooms() -> [{ id, name }] (group rooms, as
// listed), people() -> [{ uid, name }] (known, not us), search(prefix) -> [{ uid, name }]
// (the server's), enter(roomId), openDirect(uid, name), closePanel() -> whether the
// folded side panel was open (and now is not) }.
let lent = null;
let matches = [];    // what the switcher lists: { kind, id, name }
let chosen = 0;      // the one Enter opens
let asked = 0;       // searches sent: a later one answers

const typing = (target) => target instanceof HTMLElement
  && (target.isContentEditable || target.closest("input, textarea, select") !== null);

// After a room switch, the focus goes to the message box: the person writes where they
// went. Not on a touch screen, where it would open the on-screen keyboard over it; and
// not for the page's `first` room when the person is already typing in a box shown (the
// search box, while the page loads): that room was not their move, and their words
// would land in the message box.
export function focusComposer({ first = false } = {}) {
  if (window.matchMedia("(pointer: coarse)").matches) return;
  const active = document.activeElement;
  if (first && typing(active) && active.offsetParent !== null) return;
  const composer = $("#composer");
  if (!composer.disabled) composer.focus();
}

// --- the quick switcher ---

function openSwitcher() {
  const dialog = $("#switcher");
  if (dialog.open) return;
  for (const other of document.querySelectorAll("dialog[open]")) other.close();
  $("#switcher-q").value = "";
  dialog.showModal();
  $("#switcher-q").focus();
  listMatches();
}

function score(name, query) {
  const lower = name.toLowerCase();
  if (!query) return 1;
  if (lower.startsWith(query)) return 2;
  return lower.includes(query) ? 1 : 0;
}

// The rooms and people whose names hold what was typed (those that start with it
// first), asking the server about people the page has not met.
async function listMatches() {
  const query = $("#switcher-q").value.trim().toLowerCase();
  const turn = ++asked;
  const rooms = lent.rooms().map(({ id, name }) => ({ kind: "room", id, name }));
  const people = new Map(lent.people().map(({ uid, name }) => [uid, name]));
  show(rank(rooms, people, query));
  if (!query) return;
  let found = [];
  try {
    found = await lent.search(query);
  } catch {
    return;   // a help only: the rooms and the people known are listed
  }
  if (turn !== asked) return;
  for (const { uid, name } of found) people.set(uid, name);
  show(rank(rooms, people, query));
}

function rank(rooms, people, query) {
  const all = [
    ...rooms,
    ...[...people].map(([uid, name]) => ({ kind: "person", id: uid, name })),
  ];
  return all
    .map((match) => ({ match, score: score(match.name, query) }))
    .filter(({ score: s }) => s > 0)
    .sort((a, b) => b.score - a.score || a.match.name.localeCompare(b.match.name))
    .slice(0, SHOWN)
    .map(({ match }) => match);
}

function show(found) {
  matches = found;
  chosen = 0;
  const options = found.map((match, index) => {
    const option = document.createElement("li");
    option.id = `switcher-option-${index}`;
    option.setAttribute("role", "option");
    option.dataset.kind = match.kind;
    option.textContent = match.name;
    const kind = document.createElement("span");
    kind.className = "visually-hidden";
    kind.textContent = match.kind === "room" ? " (room)" : " (direct message)";
    option.append(kind);
    option.addEventListener("click", () => choose(index));
    return option;
  });
  $("#switcher-list").replaceChildren(...options);
  $("#switcher-empty").hidden = found.length > 0;
  $("#switcher-q").setAttribute("aria-expanded", String(found.length > 0));
  mark();
}

function mark() {
  const options = [...document.querySelectorAll("#switcher-list [role=option]")];
  options.forEach((option, index) => option.setAttribute("aria-selected", String(index === chosen)));
  const current = options[chosen];
  if (current) {
    $("#switcher-q").setAttribute("aria-activedescendant", current.id);
    current.scrollIntoView({ block: "nearest" });
  } else {
    $("#switcher-q").removeAttribute("aria-activedescendant");
  }
}

function choose(index) {
  const match = matches[index];
  if (match === undefined) return;
  $("#switcher").close();
  if (match.kind === "room") lent.enter(match.id);
  else lent.openDirect(match.id, match.name);
}

function switcherKeys(event) {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    if (matches.length === 0) return;
    chosen = (chosen + (event.key === "ArrowDown" ? 1 : -1) + matches.length) % matches.length;
    mark();
  } else if (event.key === "Enter") {
    event.preventDefault();
    choose(chosen);
  }
}

// --- moving between rooms ---

// The room before (-1) or after (1) the one shown, in the list's order (wrapping around).
function stepRoom(step) {
  const buttons = [...document.querySelectorAll("#rooms button[data-room]")];
  if (buttons.length === 0) return;
  const at = buttons.findIndex((button) => button.getAttribute("aria-current") === "true");
  const next = buttons[(at + step + buttons.length) % buttons.length];
  lent.enter(Number(next.dataset.room));
}

// --- the page's keys ---

function pageKeys(event) {
  if (event.defaultPrevented) return;
  const chatShown = !$("#chat-view").hidden;
  if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
    if (!chatShown) return;
    event.preventDefault();
    openSwitcher();
  } else if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
    if (!chatShown || document.querySelector("dialog[open]") !== null) return;
    event.preventDefault();
    stepRoom(event.key === "ArrowUp" ? -1 : 1);
  } else if (event.key === "Escape") {
    if (escapeMenu() || lent.closePanel()) event.preventDefault();
  } else if (event.key === "?" && !typing(event.target) && !event.ctrlKey && !event.metaKey) {
    if (document.querySelector("dialog[open]") !== null) return;
    event.preventDefault();
    $("#shortcuts").showModal();
    $("#shortcuts-close").focus();
  }
}

// A skip link moves the focus (and the reader) to its target, without touching the
// address (which names the room shown: address.js).
function skipLinks() {
  for (const link of document.querySelectorAll(".skip-link")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const target = document.getElementById(link.getAttribute("href").slice(1));
      if (target === null || target.closest("[hidden]") !== null) return;
      target.focus();
    });
  }
}

export function setUpKeyboard(lentByApp) {
  lent = lentByApp;
  skipLinks();
  document.addEventListener("keydown", pageKeys);
  $("#switcher-q").addEventListener("input", listMatches);
  $("#switcher-q").addEventListener("keydown", switcherKeys);
  $("#switcher-close").addEventListener("click", () => $("#switcher").close());
  $("#shortcuts-close").addEventListener("click", () => $("#shortcuts").close());
  for (const dialog of [$("#switcher"), $("#shortcuts")]) {
    // A click on the backdrop (outside the dialog's box) closes it.
    dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
  }
  $("#shortcuts-open").addEventListener("click", () => {
    $("#shortcuts").showModal();
    $("#shortcuts-close").focus();
  });
}
