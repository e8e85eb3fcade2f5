// Slash commands and outgoing webhooks, in a room's settings dialog (room-settings.js
// shows them to the room's moderators): each part lists the room's own (GET
// /room/{id}/commands, /outgoing-webhooks), registers one (POST: a command and its
// description, or trigger words, and the receiver's URL) whose signing secret is shown
// this once with a Copy button, and deletes one (DELETE, asked first: confirm.js).
// docs/PROTOCOL.md, "Slash commands and outgoing webhooks".

import { confirmAction } from "./confirm.js";

const $ = (selector) => document.querySelector(selector);

// The two parts: where each lists, what it posts, and how one is named.
const PARTS = {
  command: {
    prefix: "command",
    path: "commands",
    id: "CommandID",
    body: (form) => ({
      Command: form.elements.command.value.trim(),
      URL: form.elements.url.value.trim(),
      Description: form.elements.description.value.trim(),
    }),
    name: (one) => one.Command,
    about: (one) => one.Description,
    what: "command",
  },
  trigger: {
    prefix: "hook",
    path: "outgoing-webhooks",
    id: "WebhookID",
    body: (form) => ({
      TriggerWords: form.elements.words.value.split(/[\s,]+/).filter(Boolean),
      URL: form.elements.url.value.trim(),
    }),
    name: (one) => one.TriggerWords.join(", "),
    about: () => "",
    what: "outgoing webhook",
  },
};

let api = null;
let roomId = null;   // the room whose registrations are shown

export function setUpRoomCommands(lentByApp) {
  api = lentByApp.api;
  for (const part of Object.values(PARTS)) {
    $(`#${part.prefix}-form`).addEventListener("submit", (event) => {
      event.preventDefault();
      register(part);
    });
    $(`#${part.prefix}-copy`).addEventListener("click", () => copySecret(part));
  }
}

// The settings dialog was opened on `id`: its commands and outgoing webhooks, or nothing
// for those who may not manage them (403) and where a room has none (409).
export async function showRoomCommands(id) {
  roomId = id;
  for (const part of Object.values(PARTS)) {
    $(`#${part.prefix}s-section`).hidden = true;
    $(`#${part.prefix}-made`).hidden = true;
    $(`#${part.prefix}-status`).textContent = "";
    $(`#${part.prefix}-form`).reset();
  }
  await Promise.all(Object.values(PARTS).map(list));
}

async function list(part) {
  const shown = roomId;
  let found;
  try {
    found = await api("GET", `/room/${shown}/${part.path}`);
  } catch (error) {
    if (shown === roomId) $(`#${part.prefix}s-section`).hidden = true;
    return;
  }
  if (shown !== roomId) return;   // the dialog moved on to another room meanwhile
  // Members list the room's commands too, without their URLs: only moderators manage.
  if (found.some((one) => one.URL === undefined)) return;
  $(`#${part.prefix}s`).replaceChildren(...found.map((one) => item(part, one)));
  $(`#${part.prefix}s-section`).hidden = false;
}

function item(part, one) {
  const entry = document.createElement("li");
  entry.dataset.id = one[part.id];
  const name = document.createElement("span");
  name.className = "token-name";
  name.textContent = part.name(one);
  const about = document.createElement("span");
  about.className = "token-scopes";
  const said = part.about(one) ? `${part.about(one)}; ` : "";
  about.textContent = `${said}to ${one.URL}, answers as ${one.BotName}`;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "plain";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete the ${part.what} ${part.name(one)}`);
  remove.addEventListener("click", () => unregister(part, one));
  entry.append(name, about, remove);
  return entry;
}

async function register(part) {
  const form = $(`#${part.prefix}-form`);
  let made;
  try {
    made = await api("POST", `/room/${roomId}/${part.path}`, part.body(form));
  } catch (error) {
    $(`#${part.prefix}-status`).textContent = error.message;
    return;
  }
  form.reset();
  $(`#${part.prefix}-secret`).textContent = made.Secret;
  $(`#${part.prefix}-copy`).textContent = "Copy";
  $(`#${part.prefix}-made`).hidden = false;
  $(`#${part.prefix}-status`).textContent =
    `The ${part.what} is registered: copy its signing secret now, it is shown this once.`;
  await list(part);
}

async function unregister(part, one) {
  const question = `Delete the ${part.what} ${part.name(one)}? Its bot goes too; its messages stay.`;
  if (!(await confirmAction(question, `Delete ${part.what}`))) return;
  try {
    await api("DELETE", `/room/${roomId}/${part.path}/${one[part.id]}`);
  } catch (error) {
    $(`#${part.prefix}-status`).textContent = error.message;
    return;
  }
  $(`#${part.prefix}-made`).hidden = true;
  $(`#${part.prefix}-status`).textContent = `The ${part.what} ${part.name(one)} is deleted.`;
  await list(part);
}

// The clipboard where the page may write it (a secure context); else the secret
// selected, for the person to copy.
async function copySecret(part) {
  const secret = $(`#${part.prefix}-secret`);
  try {
    await navigator.clipboard.writeText(secret.textContent);
    $(`#${part.prefix}-copy`).textContent = "Copied";
  } catch {
    window.getSelection().selectAllChildren(secret);
    $(`#${part.prefix}-copy`).textContent = "Selected: copy it";
  }
}
