// The page offline: its service worker (sw.js, registered here for the whole origin)
// serves the app shell (the page, its scripts, style sheet, manifest and icons) from its
// cache when the network fails, and this module keeps the last-seen history in the same
// browser's Cache Storage: the room list and the newest messages of the rooms opened
// (at most KEPT_ROOMS rooms, KEPT_MESSAGES messages each). Loaded with no server to
// reach, the page shows them read-only: it says it is offline, sending is off, and it
// reloads itself once the server answers again. Logging out deletes them.

import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

export const SHELL_CACHE = "chat-shell-v1";
const DATA_CACHE = "chat-history-v1";
const KEPT_ROOMS = 20;
const KEPT_MESSAGES = 50;
const RETRY_MS = 5000;

// RoomID -> its newest messages seen (by MessageID), and when it was last shown.
const seen = new Map();
let saveTimer = null;

// Register the service worker (the whole origin: the page at / included) and put the
// page's own files in its cache, so that the next load works without a network.
export async function startOffline() {
  if (!("serviceWorker" in navigator) || !("caches" in window)) return;
  try {
    await navigator.serviceWorker.register("/static/sw.js", { scope: "/" });
    const files = performance.getEntriesByType("resource")
      .map(({ name }) => new URL(name))
      .filter((url) => url.origin === location.origin && url.pathname.startsWith("/static/"))
      .map((url) => url.pathname);
    const cache = await caches.open(SHELL_CACHE);
    await cache.addAll([...new Set(["/", "/static/app.js", "/static/style.css", ...files])]);
  } catch {
    // No service worker here (a private window, http on another host): online only.
  }
}

// Messages shown in the room shown (timeline.js): the newest are kept for offline.
export function rememberMessages(messages) {
  const roomId = state.shown;
  if (roomId === null || !("caches" in window) || state.me === null) return;
  const room = seen.get(roomId) ?? new Map();
  const news = messages.filter(({ MessageID }) => !room.has(MessageID));
  if (news.length === 0 && seen.has(roomId)) return;
  seen.delete(roomId);
  seen.set(roomId, room);   // the latest shown last
  for (const message of news) room.set(message.MessageID, message);
  const ids = [...room.keys()].sort((a, b) => a - b);
  for (const id of ids.slice(0, Math.max(ids.length - KEPT_MESSAGES, 0))) room.delete(id);
  while (seen.size > KEPT_ROOMS) seen.delete(seen.keys().next().value);
  clearTimeout(saveTimer);
  saveTimer = setTimeout(save, 500);
}

const json = (value) => new Response(JSON.stringify(value), {
  headers: { "Content-Type": "application/json" },
});

async function save() {
  const rooms = [...document.querySelectorAll("#rooms button[data-room]")].map((button) => ({
    id: Number(button.dataset.room),
    name: button.textContent.replace("🔒", ""),
    kind: button.dataset.kind,
  }));
  try {
    const cache = await caches.open(DATA_CACHE);
    await cache.put("/offline/rooms", json({
      me: state.me, lobby: state.lobby, shown: state.shown, rooms, at: Date.now(),
    }));
    for (const [roomId, messages] of seen) {
      const sorted = [...messages.values()].sort((a, b) => a.MessageID - b.MessageID);
      await cache.put(`/offline/room/${roomId}`, json(sorted));
    }
  } catch {
    // Storage full or refused: the page works online as ever.
  }
}

async function cached(path) {
  try {
    const response = await (await caches.open(DATA_CACHE)).match(path);
    return response === undefined ? null : await response.json();
  } catch {
    return null;
  }
}

// Logging out: this browser keeps nothing of what was read.
export async function forgetOffline() {
  clearTimeout(saveTimer);
  seen.clear();
  if ("caches" in window) await caches.delete(DATA_CACHE).catch(() => false);
}

// The page could not reach the server to sign in: the history kept, read-only, and the
// page starts again once the server answers. `show(messages)` draws a room's messages
// (timeline.js); `roomInAddress` the RoomID the address names, or null.
export async function showOffline({ show, roomInAddress }) {
  const banner = $("#offline");
  banner.textContent = "You are offline: sending is off until the connection is back.";
  banner.hidden = false;
  document.body.classList.add("offline-mode");
  waitForServer();
  const snapshot = "caches" in window ? await cached("/offline/rooms") : null;
  if (snapshot === null || typeof snapshot.me?.uid !== "number") return;
  banner.textContent = "You are offline: these are the messages saved on this device. "
    + "Sending is off until the connection is back.";
  state.me = { uid: snapshot.me.uid, name: String(snapshot.me.name) };
  state.lobby = snapshot.lobby;
  $("#whoami").textContent = state.me.name;
  $("#login-view").hidden = true;
  $("#chat-view").hidden = false;
  $("#menu").hidden = false;
  for (const control of document.querySelectorAll("#send-form textarea, #send-form button")) {
    control.disabled = true;
  }
  $("#composer").placeholder = "Offline: sending is off";
  const rooms = Array.isArray(snapshot.rooms) ? snapshot.rooms : [];
  const open = async (roomId) => {
    const messages = await cached(`/offline/room/${roomId}`);
    const room = rooms.find(({ id }) => id === roomId);
    state.shown = roomId;
    state.seen = new Set();
    $("#messages").replaceChildren();
    $("#room-name").textContent = room?.name ?? "a conversation";
    for (const button of document.querySelectorAll("#rooms button")) {
      button.setAttribute("aria-current", String(Number(button.dataset.room) === roomId));
    }
    $("#older").hidden = true;
    if (Array.isArray(messages)) show(messages);
    else $("#room-name").textContent += " (nothing saved)";
  };
  $("#rooms").replaceChildren(...rooms.map(({ id, name, kind }) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.room = String(id);
    button.dataset.kind = kind === "direct" ? "direct" : "group";
    button.textContent = String(name);
    button.addEventListener("click", () => open(id));
    const item = document.createElement("li");
    item.append(button);
    return item;
  }));
  const wanted = roomInAddress();
  await open(rooms.some(({ id }) => id === wanted) ? wanted : snapshot.shown ?? state.lobby);
}

// Offline: once the server answers again (or the browser says it is online), the page
// starts again, signed in as it was.
function waitForServer() {
  const again = () => location.reload();
  window.addEventListener("online", again, { once: true });
  const ask = async () => {
    try {
      const answer = await fetch("/client/settings", { cache: "no-store" });
      if (answer.ok) return again();
    } catch {
      // Still offline.
    }
    setTimeout(ask, RETRY_MS);
  };
  setTimeout(ask, RETRY_MS);
}
