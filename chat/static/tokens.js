// Tokens and bots, in the account screen (account.js): your personal access tokens and
// your bots' (GET /tokens), each with "Revoke" (DELETE /tokens/{TokenID}); making one
// (POST /tokens: for you or a bot of yours, read only or also sending), whose secret is
// shown this once; your bots (GET /bots), making one (POST /bots) and deleting one
// (DELETE /bots/{UID}). docs/PROTOCOL.md, "Personal access tokens" and "Bot accounts".

import { confirmAction } from "./confirm.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends (account.js passes it on): { api }.
let lent = null;
let bots = [];
// Each list is read again after every change, and when the screen opens: only the
// newest read of each is drawn (an older answer arriving last would bring back a token
// just revoked).
const reads = { bots: 0, tokens: 0 };

export function setUpTokens(lentByApp) {
  lent = lentByApp;
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    makeToken();
  });
  $("#bot-form").addEventListener("submit", (event) => {
    event.preventDefault();
    makeBot();
  });
}

// The account screen was opened: list the bots, then the tokens (which name them).
export async function showTokens() {
  $("#token-made").hidden = true;
  await listBots();
  await listTokens();
}

async function listBots() {
  const read = ++reads.bots;
  let found;
  try {
    found = await lent.api("GET", "/bots");
  } catch (error) {
    if (read === reads.bots) $("#bot-status").textContent = error.message;
    return;
  }
  if (read !== reads.bots) return;
  bots = found;
  $("#bots").replaceChildren(...bots.map(botItem));
  const choice = $("#token-form").elements.uid;
  const mine = new Option("Me", "");
  choice.replaceChildren(mine, ...bots.map((bot) => new Option(`${bot.Name} (bot)`, bot.UID)));
}

function botItem(bot) {
  const item = document.createElement("li");
  item.dataset.uid = String(bot.UID);
  const name = document.createElement("span");
  name.className = "token-name";
  name.textContent = bot.DisplayName ? `${bot.DisplayName} (${bot.Name})` : bot.Name;
  const badge = document.createElement("span");
  badge.className = "bot-badge";
  badge.textContent = "BOT";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "plain";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete the bot ${bot.Name}`);
  remove.addEventListener("click", async () => {
    const question = `Delete the bot ${bot.Name}? Its tokens stop working; its messages stay.`;
    if (!(await confirmAction(question, "Delete bot"))) return;
    try {
      await lent.api("DELETE", `/bots/${bot.UID}`);
    } catch (error) {
      $("#bot-status").textContent = error.message;
      return;
    }
    $("#bot-status").textContent = `The bot ${bot.Name} is deleted.`;
    showTokens();
  });
  item.append(name, badge, remove);
  return item;
}

async function makeBot() {
  const form = $("#bot-form");
  const body = { Name: form.elements.name.value.trim() };
  const display = form.elements.display.value.trim();
  if (display) body.DisplayName = display;
  try {
    const bot = await lent.api("POST", "/bots", body);
    $("#bot-status").textContent = `The bot ${bot.Name} is made: give it a token below.`;
  } catch (error) {
    $("#bot-status").textContent = error.message;
    return;
  }
  form.reset();
  await listBots();
}

async function listTokens() {
  const read = ++reads.tokens;
  let tokens;
  try {
    tokens = await lent.api("GET", "/tokens");
  } catch (error) {
    if (read === reads.tokens) $("#token-status").textContent = error.message;
    return;
  }
  if (read !== reads.tokens) return;
  $("#tokens").replaceChildren(...tokens.map(tokenItem));
}

function whose(uid) {
  const bot = bots.find((candidate) => candidate.UID === uid);
  return bot ? `for the bot ${bot.Name}` : "for you";
}

function tokenItem(token) {
  const item = document.createElement("li");
  item.dataset.token = token.TokenID;
  const name = document.createElement("span");
  name.className = "token-name";
  name.textContent = token.Name;
  const what = document.createElement("span");
  what.className = "token-scopes";
  const ends = token.ExpiresAt ? `, until ${new Date(token.ExpiresAt).toLocaleDateString()}` : "";
  what.textContent = `${whose(token.UID)}: ${token.Scopes.join(", ")}${ends}`;
  const revoke = document.createElement("button");
  revoke.type = "button";
  revoke.className = "plain";
  revoke.textContent = "Revoke";
  revoke.setAttribute("aria-label", `Revoke the token ${token.Name}`);
  revoke.addEventListener("click", async () => {
    try {
      await lent.api("DELETE", `/tokens/${token.TokenID}`);
    } catch (error) {
      $("#token-status").textContent = error.message;
      return;
    }
    $("#token-status").textContent = `The token ${token.Name} is revoked.`;
    item.remove();
    // A list read before the revoke may still be on its way (the screen was just
    // opened): this newer read supersedes it, so the token cannot come back.
    listTokens();
  });
  item.append(name, what, revoke);
  return item;
}

async function makeToken() {
  const form = $("#token-form");
  const scopes = form.elements.write.checked ? ["read", "write"] : ["read"];
  const body = { Name: form.elements.name.value.trim(), Scopes: scopes };
  if (form.elements.uid.value) body.UID = Number(form.elements.uid.value);
  let made;
  try {
    made = await lent.api("POST", "/tokens", body);
  } catch (error) {
    $("#token-status").textContent = error.message;
    return;
  }
  form.reset();
  $("#token-secret").textContent = made.Token;
  $("#token-made").hidden = false;
  $("#token-status").textContent = `The token ${made.Name} is made: copy it now.`;
  await listTokens();
}
