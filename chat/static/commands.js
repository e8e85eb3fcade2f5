// Slash commands in the composer (docs/PROTOCOL.md, "Slash commands and outgoing
// webhooks"): `/` at the start of a message offers the built-in commands and the room's
// own (GET /room/{id}/commands), each with what it does, in a list of its own
// (suggestions.js: Up, Down, Enter or Tab, Escape); taking one puts `/name ` in the
// composer. What the server answers us alone (an `ephemeral` frame) is shown under the
// room's messages, marked so, until we leave the room. (The `command` frame that takes
// a message as a command confirms it: socket.js.)

import { api } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { pinToNewest } from "./scrolling.js";
import { state } from "./state.js";
import { replaceTyped, suggestionList } from "./suggestions.js";

const $ = (selector) => document.querySelector(selector);
// The command being typed: a slash at the start of the message, then its name so far.
const TYPED = /^(\/[a-z0-9_-]{0,32})$/i;
const MAX_SHOWN = 8;
// The server's own commands (chat/core/room_commands.py, BUILT_INS).
const BUILT_INS = [
  ["/me", "post an action: /me waves"],
  ["/topic", "set the room's topic (moderators)"],
  ["/invite", "invite someone: /invite @name (moderators)"],
  ["/leave", "leave the room"],
  ["/mute", "mute a member: /mute @name 10m (moderators)"],
  ["/status", "set your status: /status in a meeting"],
  ["/help", "list the commands of this room"],
];
// The room's commands as last read, by room (read again each time a list opens).
const known = new Map();

let input = null;
let list = null;
let asked = 0;

export function setUpCommandCompletion(textarea) {
  input = textarea;
  list = suggestionList(input, $("#command-suggestions"), "command-option-");
  input.addEventListener("input", suggest);
}

async function suggest() {
  const typed = TYPED.exec(input.value.slice(0, input.selectionStart));
  if (typed === null) return list.close();
  const roomId = state.shown;
  const turn = ++asked;
  if (typed[1] === "/" || !known.has(roomId)) await readCommands(roomId);
  if (turn !== asked) return;   // typed on meanwhile: a later call shows its own
  const now = TYPED.exec(input.value.slice(0, input.selectionStart));
  if (now === null) return list.close();
  const prefix = now[1].toLowerCase();
  const all = [...BUILT_INS, ...(known.get(roomId) ?? [])];
  const shown = all.filter(([name]) => name.startsWith(prefix)).slice(0, MAX_SHOWN);
  list.show(shown, option, take);
}

async function readCommands(roomId) {
  try {
    const commands = await api("GET", `/room/${roomId}/commands`);
    known.set(roomId, commands.map((c) => [c.Command, c.Description || "this room's command"]));
  } catch {
    known.set(roomId, []);   // the built-ins alone, then
  }
}

function option([name, what]) {
  const shown = document.createDocumentFragment();
  const code = document.createElement("code");
  code.textContent = name;
  const about = document.createElement("span");
  about.className = "command-help";
  about.textContent = ` ${what}`;
  shown.append(code, about);
  return shown;
}

function take([name]) {
  const replaced = replaceTyped(input, TYPED, name);
  list.close();
  if (replaced) input.dispatchEvent(new Event("input", { bubbles: true }));
}

// `{"Type": "ephemeral"}`: an answer for us alone, shown under the room's messages.
export function ephemeralArrived(frame) {
  if (frame.RoomID !== state.shown) return;
  const item = document.createElement("li");
  item.className = "ephemeral";
  item.setAttribute("role", "status");
  const label = document.createElement("span");
  label.className = "only-you";
  label.textContent = "Only you can see this";
  const text = document.createElement("span");
  text.className = "text";
  text.append(renderMarkdown(frame.Text));
  item.append(label, text);
  $("#messages").append(item);
  pinToNewest($("#messages"));
}
