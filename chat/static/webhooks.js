// Incoming webhooks, in a room's settings dialog (room-settings.js shows them to the
// room's moderators): the room's webhooks (GET /room/{id}/webhooks), making one (POST,
// with a name) whose URL is shown this once with a Copy button, a new URL for one
// ("New URL": POST .../rotate, the old one stops working, the new one shown once), and
// deleting one (DELETE, asked first: confirm.js). docs/PROTOCOL.md, "Incoming webhooks".

import { confirmAction } from "./confirm.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (through setUpRoomSettings): { api }.
let lent = null;
let roomId = null;   // the room whose webhooks are shown

export function setUpWebhooks(lentByApp) {
  lent = lentByApp;
  $("#webhook-form").addEventListener("submit", (event) => {
    event.preventDefault();
    makeWebhook();
  });
  $("#webhook-copy").addEventListener("click", copyUrl);
}

// The settings dialog was opened on `id`: its webhooks, or nothing where a room has none
// (the lobby, a direct conversation: 409).
export async function showWebhooks(id) {
  roomId = id;
  $("#webhooks-section").hidden = true;
  $("#webhook-made").hidden = true;
  $("#webhook-status").textContent = "";
  $("#webhook-form").reset();
  await listWebhooks();
}

async function listWebhooks() {
  const shown = roomId;
  let hooks;
  try {
    hooks = await lent.api("GET", `/room/${shown}/webhooks`);
  } catch (error) {
    if (shown !== roomId) return;
    $("#webhooks-section").hidden = error.status === 409 || error.status === 403;
    $("#webhook-status").textContent = error.message;
    return;
  }
  if (shown !== roomId) return;   // the dialog moved on to another room meanwhile
  $("#webhooks").replaceChildren(...hooks.map(webhookItem));
  $("#webhooks-section").hidden = false;
}

function webhookItem(hook) {
  const item = document.createElement("li");
  item.dataset.webhook = hook.WebhookID;
  const name = document.createElement("span");
  name.className = "token-name";
  name.textContent = hook.Name;
  const about = document.createElement("span");
  about.className = "token-scopes";
  const by = hook.CreatedBy ? ` by ${hook.CreatedBy.Username}` : "";
  about.textContent = `posts as ${hook.BotName}; made${by} ${new Date(hook.CreatedAt).toLocaleDateString()}`;
  const rotate = button("New URL", `Give the webhook ${hook.Name} a new URL`, () => rotateWebhook(hook));
  const remove = button("Delete", `Delete the webhook ${hook.Name}`, () => deleteWebhook(hook));
  item.append(name, about, rotate, remove);
  return item;
}

function button(text, label, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = "plain";
  element.textContent = text;
  element.setAttribute("aria-label", label);
  element.addEventListener("click", onClick);
  return element;
}

async function makeWebhook() {
  const form = $("#webhook-form");
  let made;
  try {
    made = await lent.api("POST", `/room/${roomId}/webhooks`, { Name: form.elements.name.value.trim() });
  } catch (error) {
    $("#webhook-status").textContent = error.message;
    return;
  }
  form.reset();
  showUrl(made.URL, "The webhook is made: copy its URL now, it is shown this once.");
  await listWebhooks();
}

async function rotateWebhook(hook) {
  const question = `Give the webhook ${hook.Name} a new URL? The old URL stops working at once.`;
  if (!(await confirmAction(question, "New URL"))) return;
  let rotated;
  try {
    rotated = await lent.api("POST", `/room/${roomId}/webhooks/${hook.WebhookID}/rotate`);
  } catch (error) {
    $("#webhook-status").textContent = error.message;
    return;
  }
  showUrl(rotated.URL, `The webhook ${hook.Name} has a new URL: copy it now, it is shown this once.`);
}

async function deleteWebhook(hook) {
  const question = `Delete the webhook ${hook.Name}? Its URL stops working; its messages stay.`;
  if (!(await confirmAction(question, "Delete webhook"))) return;
  try {
    await lent.api("DELETE", `/room/${roomId}/webhooks/${hook.WebhookID}`);
  } catch (error) {
    $("#webhook-status").textContent = error.message;
    return;
  }
  $("#webhook-made").hidden = true;
  $("#webhook-status").textContent = `The webhook ${hook.Name} is deleted.`;
  await listWebhooks();
}

function showUrl(url, words) {
  $("#webhook-url").textContent = url;
  $("#webhook-copy").textContent = "Copy";
  $("#webhook-made").hidden = false;
  $("#webhook-status").textContent = words;
}

// The clipboard where the page may write it (a secure context); else the URL selected,
// for the person to copy.
async function copyUrl() {
  const url = $("#webhook-url").textContent;
  try {
    await navigator.clipboard.writeText(url);
    $("#webhook-copy").textContent = "Copied";
  } catch {
    window.getSelection().selectAllChildren($("#webhook-url"));
    $("#webhook-copy").textContent = "Selected: copy it";
  }
}
