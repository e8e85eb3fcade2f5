// Links to rooms and messages, as the page's address understands them (address.js):
// …/#/room/12 and …/#/room/12/message/345. "Copy link" in the room's header and on each
// message puts one on the clipboard; the side panel's "Link to a room" form takes one
// back (directory.js), or a room's name.

import { showNotice } from "./notices.js";
import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

const base = () => `${location.origin}${location.pathname}`;
export const roomLink = (roomId) => `${base()}#/room/${roomId}`;
export const messageLink = (roomId, messageId) => `${base()}#/room/${roomId}/message/${messageId}`;

// { roomId, messageId (or null) } of a link to a room or a message (…#/room/12 or
// …#/room/12/message/345, a whole address or its hash), or of a room's number alone;
// null for anything else (a room's name, say).
export function parseLink(text) {
  const trimmed = text.trim();
  const link = /#\/room\/(\d+)(?:\/message\/(\d+))?\/?$/.exec(trimmed);
  if (link !== null) return { roomId: Number(link[1]), messageId: link[2] ? Number(link[2]) : null };
  if (/^\d+$/.test(trimmed)) return { roomId: Number(trimmed), messageId: null };
  return null;
}

// The clipboard gets `url`; the notice says so (or shows it, to copy by hand, where the
// browser refuses the clipboard).
async function copy(url, what) {
  try {
    await navigator.clipboard.writeText(url);
    showNotice(`Link to ${what} copied: ${url}`);
  } catch {
    showNotice(`Copy this link to ${what}: ${url}`);
  }
}

let wired = false;

// The room shown: its header's Copy link.
export function showRoomLink(roomId) {
  const button = $("#room-link-copy");
  if (!wired) {
    wired = true;
    button.addEventListener("click", () => {
      if (state.shown !== null) copy(roomLink(state.shown), "this room");
    });
  }
  button.hidden = roomId === null;
  button.setAttribute("aria-label", "Copy link to this room");
}

// A message put on the page: Copy link among its actions.
export function addMessageLink(item, message) {
  const actions = item.querySelector(".actions");
  if (actions === null || !message.MessageID) return;
  const roomId = message.RoomID ?? state.shown;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link-button";
  button.textContent = "Copy link";
  button.setAttribute("aria-label", `Copy link to ${message.Username}'s message`);
  button.addEventListener("click", () => copy(messageLink(roomId, message.MessageID), "the message"));
  actions.append(button);
}
