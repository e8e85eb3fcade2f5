// Attention: what calls a person back to a room. The badges stay live from the server's
// activity frames (no polling): unread counts, and mentions of you apart; the tab's title
// counts what is unread ("(3) chat"); desktop notifications while the tab is hidden,
// following each room's notification level, which a menu in the room's header sets.
// Clicking a notification opens the room at that message.
//
// app.js lends what this needs (setUpAttention), and the page's modules call in:
// `counted` with each answer of GET /rooms/unread, `showMentions` whenever unread.js
// redraws the badges, `activity` and `arrived` with frames (socket.js), `levelsFrom`
// with the room list and `roomShown` on entering one (rooms.js).

import { describeFiles } from "./attachments.js";
import { membersListed } from "./people.js";
import { startPush } from "./push.js";

const $ = (selector) => document.querySelector(selector);
const TITLE = "chat";
// Activity frames ask for exact counts, at most this often (one request for a burst).
const RECOUNT_AFTER_MS = 250;
const DESCRIBED = {
  all: "Every message",
  mentions: "Mentions only",
  none: "Nothing",
};

let lent = null;
const mentions = new Map();  // RoomID -> unread messages that mention you
const levels = new Map();    // RoomID -> "all" | "mentions" | "none" (GET /rooms/details)
let recountTimer = null;

export function setUpAttention(lentByApp) {
  lent = lentByApp;
  const menu = $("#room-level");
  menu.addEventListener("change", async () => {
    const roomId = lent.shown();
    const level = menu.value;
    try {
      await lent.api("PUT", `/room/${roomId}/notifications`, { Level: level });
      levels.set(roomId, level);
      lent.notice(`Notifications for this room: ${DESCRIBED[level].toLowerCase()}.`);
    } catch (error) {
      menu.value = levels.get(roomId) ?? "mentions";
      lent.error(error.message);
    }
  });
  const ask = $("#notify-ask");
  ask.addEventListener("click", async () => {
    if (!("Notification" in window)) return;
    await Notification.requestPermission();
    showAsk();
    signedIn();
  });
  showAsk();
}

// Signed in (or notifications just allowed): with permission, this browser is also
// pushed what arrives while no page of ours is open (push.js, sw.js).
export async function signedIn() {
  await startPush(lent.api, { onOpen: lent.open });
}

// The button that asks for permission to notify: only while it may still be asked.
function showAsk() {
  const ask = $("#notify-ask");
  ask.hidden = !("Notification" in window) || Notification.permission !== "default";
}

// The room list's levels (each room's, or its kind's default, as the server says).
export function levelsFrom(rooms) {
  for (const room of rooms) levels.set(room.RoomID, room.Notifications);
}

// The level menu shows the room entered.
export function roomShown(roomId) {
  $("#room-level").value = levels.get(roomId) ?? "mentions";
  mentions.set(roomId, 0);
}

// An answer of GET /rooms/unread: its mention counts.
export function counted(counts) {
  mentions.clear();
  for (const { RoomID, Mentions } of counts) mentions.set(RoomID, Mentions ?? 0);
  const shown = lent.shown();
  if (shown !== null) mentions.set(shown, 0);
}

// Each room's mention badge ("@2", beside its unread badge), and the tab's title with
// the number of unread messages in every room but the one read now. `isRead(roomId)`
// says whether a room counts as read (unread.js knows: the room shown, or one whose read
// frame is on its way); `unread` is its map of counts.
export function showMentions(unread, isRead) {
  let total = 0;
  for (const badge of document.querySelectorAll("#rooms .badge")) {
    const roomId = Number(badge.dataset.room);
    let mark = badge.parentElement.querySelector(".mention-badge");
    if (mark === null) {
      mark = document.createElement("span");
      mark.className = "mention-badge";
      badge.before(mark);
    }
    const read = isRead(roomId);
    const count = read ? 0 : mentions.get(roomId) ?? 0;
    mark.textContent = `@${count}`;
    mark.title = count === 1 ? "1 mention of you" : `${count} mentions of you`;
    mark.hidden = count === 0;
    if (!read) total += Math.min(unread.get(roomId) ?? 0, 999);
  }
  document.title = total > 0 ? `(${total}) ${TITLE}` : TITLE;
}

// {"Type": "activity"}: something arrived in another room of ours. The counts come from
// the server (exact, mentions included); a notification, if the room's level asks.
export function activity(frame) {
  if (recountTimer === null) {
    recountTimer = setTimeout(() => {
      recountTimer = null;
      lent.recount();
    }, RECOUNT_AFTER_MS);
  }
  const name = lent.roomName(frame.RoomID);
  const body = frame.Mention ? `You were mentioned in ${name}.` : `New messages in ${name}.`;
  notify(frame.RoomID, frame.MessageID, frame.Mention, name, body);
}

// A message of the room shown: a notification if the tab is hidden (not our own).
export function arrived(message) {
  if (message.UID === lent.me()) return;
  const said = message.Text || describeFiles(message.Files);
  const text = said.length > 100 ? `${said.slice(0, 100)}…` : said;
  const name = lent.roomName(message.RoomID);
  notify(message.RoomID, message.MessageID, mentionsMe(message), `${message.Username} in ${name}`, text);
}

// Whether a message (or an edited frame) mentions the person: by name, or @room.
export function mentionsMe(message) {
  if (message.UID === lent.me()) return false;
  return (message.Mentions ?? []).includes(lent.me()) || message.MentionsRoom === true;
}

// A message item shows that it mentions you.
export function markMention(item, message) {
  item.classList.toggle("mentions-me", mentionsMe(message));
}

function wanted(roomId, mention) {
  const level = levels.get(roomId) ?? "mentions";
  return level === "all" || (level === "mentions" && mention);
}

function notify(roomId, messageId, mention, title, body) {
  if (!document.hidden || !wanted(roomId, mention)) return;
  if (lent.quiet?.()) return;   // our status says do not disturb (status.js)
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  // One notification per room: a newer one replaces it (tag).
  const shown = new Notification(title, { body, tag: `room-${roomId}` });
  shown.addEventListener("click", () => {
    window.focus();
    lent.open(roomId, messageId);
    shown.close();
  });
}

// Whether `@room` in a message needs a confirmation first: in rooms of more than ten
// members (the lobby is everyone's), as the people panel lists them.
export async function mentionsManyPeople(roomId, isLobby) {
  return isLobby || (await membersListed(roomId)).length > 10;
}
