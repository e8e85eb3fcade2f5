// The browser client: one page, one WebSocket (the room protocol on /ws), the HTTP API
// for everything else. User text is only ever put into the page with textContent (or as
// text nodes: markdown.js, which formats messages, builds its elements itself), and the
// page's Content-Security-Policy forbids inline scripts.

import {
  clearAttachments, describeFiles, filesToSend, hasAttachments, setUpAttachments,
  showFiles,
} from "./attachments.js";
import {
  applyChange, changeFailed, editLastOwn, setUpChanges, showDeletesAgain, showMessageState,
} from "./changes.js";
import { setUpAccount } from "./account.js";
import { countCharacters, setUpComposer } from "./composer.js";
import { renderMarkdown } from "./markdown.js";
import { presenceChanged, presenceListed, setUpPeople, showPeopleAgain, showPeopleOf } from "./people.js";
import {
  addReport, decoratePerson, moderates, moderationFrame, owns, rolesFrom, setUpModeration,
  showRoomActions,
} from "./moderation.js";
import {
  mayPost, ourMessageStored, refused, roomsDescribed, settingsFrame, setUpRoomSettings,
  showRoomInfo,
} from "./room-settings.js";
import { closeReports, setUpReports, showReportsButton } from "./reports.js";
import { cancelReply, quoteOf, replyingTo, replyTo, requoted, setUpReplies } from "./replies.js";
import { keepNewestInView, pinToNewest } from "./scrolling.js";
import {
  activity, arrived, counted, levelsFrom, markMention, mentionsManyPeople, roomShown,
  setUpAttention, showMentions, signedIn,
} from "./attention.js";
import { setUpCompletion } from "./completion.js";
import {
  heldBack, holdChange, inContext, leaveContext, pageAround, setUpContext, showFound,
} from "./context.js";
import { closeSearch, setUpSearch } from "./search.js";
import { stopPush } from "./push.js";
import { renewNow, resume, signIn, signOut, stayFresh } from "./session.js";

const $ = (selector) => document.querySelector(selector);
const HISTORY_PAGE = 50;
// Typing: we say so at most this often while the person types, and show someone else's
// "is typing..." this long after their last word of it (the server passes on at most 3
// per 2 seconds per user).
const TYPING_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 5000;
// Messages in rooms other than the one shown do not come on the socket: an activity frame
// says something arrived in one, and the counts are asked for then (attention.js).
const READ_AFTER_MS = 500;
// A message sent and neither confirmed nor refused this long after is marked as not
// sent (no answer), with Retry and Discard: nothing stays "sending..." for ever.
const NO_ANSWER_MS = 15_000;
// A refusal for sending too fast says when to try again ("too many messages: try again
// in 3 s", docs/PROTOCOL.md); the message is sent again then, by itself.
const RETRY_AFTER = /^too many [^:]*: try again in (\d+) s$/;

const state = {
  registering: false, // the login form registers (Register was chosen), or logs in
  token: null,       // in memory only: the session (session.js) hands out fresh ones
  me: null,          // { uid, name }
  ws: null,
  lobby: null,       // the lobby's RoomID
  room: null,        // the RoomID we asked to be in
  shown: null,       // the RoomID whose messages the page shows
  seen: new Set(),   // MessageIDs shown for that room
  lastId: 0,         // the newest MessageID seen in the current room
  // The highest MessageID or Seq (a change's place in the same stream) seen in the
  // current room: a resume from it brings every message and change made since.
  since: 0,
  // Set while the room's first page of history is on its way: changes arriving
  // meanwhile, to messages not on the page yet, wait for it (then are applied).
  held: null,
  loads: 0,          // how many times a room's messages were loaded afresh (loadRoom)
  rooms: new Set(),  // the RoomIDs of the caller's rooms (GET /rooms)
  retryMs: 500,
  retrying: false,   // the socket dropped and we are trying again
  leaving: false,    // we closed the socket ourselves: do not reconnect
  names: new Map(),  // UID -> name, of the people the page has met
  direct: new Map(), // RoomID -> [UID, UID] of the caller's direct conversations
  reconnected: false, // set when a socket opens after an earlier one: see entered
  connectedBefore: false,
  typing: new Map(), // UID -> { name, timer } of the people typing there now
  typingSentAt: 0,   // when we last said we are typing (Date.now())
  unread: new Map(), // RoomID -> unread count (GET /rooms/unread; 1000 means 1000 or more)
  readSent: new Map(), // RoomID -> the newest MessageID we said we have read there
  // RoomID -> the MessageID of a read frame sent and not told back yet: until the server
  // says it stored it, its counts for that room may predate it (see loadUnread).
  readUntold: new Map(),
  unreadAsked: 0,    // how many times the counts were asked for (see loadUnread)
  addressTurn: 0,    // how many times the person moved through the address (followAddress)
  unreadAnswered: 0, // the latest of those answered (less than unreadAsked: one in flight)
  readTimer: null,   // set while a read frame waits to go (markRead)
  // What we sent and have no confirmation for yet, oldest first: { frame, roomId, item,
  // timer }. Each frame carries an id of ours (ClientMsgID), so sending it again after
  // a reconnection never stores it twice; timer: see NO_ANSWER_MS.
  unconfirmed: [],
  // Ours the server refused or did not answer, still shown with why: { roomId, item },
  // until retried or discarded (shown again when their room is entered again).
  notSent: [],
  // A message to bring into view once the room being entered has its history (a click
  // on a notification).
  focusOnEntry: null,
  directoryTimer: null, // set while the directory waits to be asked for again
};

// --- errors and status ---

function showIn(selector, text) {
  const box = $(selector);
  box.textContent = text;
  box.hidden = false;
}

const showError = (text) => showIn("#error", text);
const clearError = () => { $("#error").hidden = true; };
// A short note that is not an error (the page went somewhere else than asked).
const showNotice = (text) => showIn("#notice", text);
const clearNotice = () => { $("#notice").hidden = true; };

const CONNECTION_LABELS = {
  connecting: "connecting...",
  online: "online",
  reconnecting: "reconnecting...",
  offline: "offline",
};

// The "Not connected" banner follows the connection and nothing else: it is up while we
// are away and trying again, and goes as soon as a socket opens. (It used to be an error
// message that only the next click cleared, so it stayed up after a reconnection.)
function setConnection(status) {
  const badge = $("#connection");
  badge.hidden = false;  // hidden on the login page: nothing is connecting yet
  badge.dataset.state = status;
  badge.textContent = CONNECTION_LABELS[status];
  $("#offline").hidden = status !== "reconnecting";
}

// --- HTTP ---

async function api(method, path, body, renewed = false) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  // The token expired (the page slept past its refresh): renew it once and ask again.
  if (response.status === 401 && data.error === "token has expired" && !renewed) {
    if (await renewNow().catch(() => null)) return api(method, path, body, true);
  }
  if (!response.ok) {
    const error = new Error(data.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// An id of ours for a message (1-64 characters), so that sending it again is harmless.
// (crypto.randomUUID needs https or localhost; getRandomValues works everywhere.)
function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function claims(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part));
}

// --- logging in and out ---

// The login form logs in, or registers once the person chose to (focused or clicked
// Register; Log in takes it back): Enter in a field then does what the chosen button
// says, a password manager is asked for a new password, and the rule for new passwords
// (validation.MIN_PASSWORD_CHARS) is shown before it is broken.
function chooseRegistering(registering) {
  state.registering = registering;
  $("#login-form").elements.password.autocomplete = registering
    ? "new-password"
    : "current-password";
  // Shown or not, the hint keeps its place: the form must not move under the pointer
  // between the press on Register (which focuses it) and the release (the click).
  $("#password-hint").classList.toggle("shown", registering);
  $("#register").classList.toggle("chosen", registering);
}

// Register (if asked to), then sign in: a session cookie (session.js), which "Keep me
// signed in" makes last across browser restarts, and a token kept in memory only.
async function authenticate(registering) {
  clearError();
  const form = $("#login-form");
  const username = form.elements.name.value;
  const password = form.elements.password.value;
  try {
    if (registering) await api("POST", "/api/reg", { username, password });
    await begin(await signIn(username, password, form.elements.remember.checked));
  } catch (error) {
    showError(error.message);
  }
}

// Start the page with a session's grant ({ token, ExpiresIn, ... }), keeping its token
// fresh until the session ends.
async function begin(grant) {
  stayFresh(grant, (token) => { state.token = token; }, () => {
    logout("Your session has ended: log in again.");
  });
  await start(grant.token);
}

async function start(token) {
  state.token = token;
  const { sub, name } = claims(token);
  state.me = { uid: Number(sub), name };
  try {
    const profile = await api("GET", "/profile");
    state.me.name = profile.Username;
  } catch (error) {
    if (error.status === 401) return logout("Your session has expired: log in again.");
    showError(error.message);
  }
  learnName(state.me.uid, state.me.name);
  const whoami = $("#whoami");
  whoami.textContent = state.me.name;
  whoami.dataset.uid = String(state.me.uid);
  whoami.title = `your user number: ${state.me.uid}`;
  $("#login-view").hidden = true;
  $("#chat-view").hidden = false;
  $("#logout").hidden = false;
  $("#account").hidden = false;
  $("#menu").hidden = false;
  $("#search-form").hidden = false;
  await loadRooms();
  if (state.room === null) state.room = firstRoom();
  connect();
  signedIn();  // Web Push, if notifications are allowed (attention.js)
}

// --- the room in the address ---

// The room the page shows is in its address (#/room/12): a reload comes back to it, and
// back and forward move between the rooms visited.
function roomInAddress() {
  const match = /^#\/room\/(\d+)$/.exec(location.hash);
  return match ? Number(match[1]) : null;
}

function showInAddress(roomId, { replace }) {
  const address = `#/room/${roomId}`;
  if (location.hash === address) return;
  if (replace) history.replaceState(null, "", address);
  else history.pushState(null, "", address);
}

// Where the page opens: the room in its address if the caller is (still) a member, else
// the lobby, saying why.
function firstRoom() {
  const wanted = roomInAddress();
  if (wanted === null) return state.lobby;
  if (state.lobby === null || state.rooms.has(wanted)) return wanted;
  showNotice("The room in the address is not one of your rooms (any more): here is the lobby.");
  return state.lobby;
}

// Back, forward, or an address typed or pasted: go to that room if it is one of ours
// (asking again first: it may be a room we were invited to since the list was made).
// Each such move is a turn; one overtaken by a later move while it asked gives way to it.
// The page's own address changes (showInAddress) are not moves: the first room being
// entered while we ask must not make us drop what the person typed.
async function followAddress() {
  const turn = ++state.addressTurn;
  const wanted = roomInAddress();
  if (state.me === null || wanted === null || wanted === state.room) return;
  if (!state.rooms.has(wanted)) await loadRooms();
  if (turn !== state.addressTurn || wanted === state.room) return;   // moved on meanwhile
  if (state.rooms.has(wanted)) {
    enter(wanted);
  } else {
    showNotice("That room is not one of your rooms: staying here.");
    if (state.shown !== null) showInAddress(state.shown, { replace: true });
  }
}

async function logout(message) {
  if (message) sessionStorage.setItem("chat.notice", message);
  state.leaving = true;
  if (state.ws) state.ws.close(1000, "logged out");
  await stopPush(api);  // the next person on this browser is pushed nothing of ours
  await signOut();
  location.reload();
}

// --- the WebSocket ---

// The close code of an instance that drains before a restart: reconnect at once.
const SERVICE_RESTART = 1012;

function connect() {
  state.leaving = false;
  setConnection(state.retrying ? "reconnecting" : "connecting");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // No token in the URL (it would be in every proxy's log): the session cookie signs the
  // socket in.
  const ws = new WebSocket(`${scheme}//${location.host}/ws`);
  state.ws = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    state.retryMs = 500;
    state.retrying = false;
    state.reconnected = state.connectedBefore;
    state.connectedBefore = true;
    state.readUntold.clear();   // told back on the old socket, if ever
    setConnection("online");
    if (state.room !== null) {
      // Back in the room the page shows: the server sends what we missed since the last
      // message or change we saw (SinceID: changes to older messages included), then
      // the live ones, with nothing lost or doubled.
      const frame = enterFrame(state.room);
      if (state.room === state.shown) {
        delete frame.Page;
        frame.SinceID = state.since;
      }
      ws.send(JSON.stringify(frame));
    }
  };
  ws.onmessage = (event) => handleFrame(event.data);
  ws.onclose = async (event) => {
    if (state.ws !== ws) return;
    if (state.leaving) return setConnection("offline");
    state.retrying = true;
    setConnection("reconnecting");
    if (event.code === SERVICE_RESTART) {
      // The instance is restarting (docs/PROTOCOL.md, "Restarts"): the others are fine,
      // so come back at once, not after the back-off; a little randomness keeps its
      // clients from all arriving in the same instant.
      setTimeout(connect, 100 + Math.random() * 500);
      return;
    }
    if (!opened) {
      // Refused at the handshake: maybe the session has ended.
      try {
        if (await renewNow() === null) return;   // it has: the page logs out
      } catch {
        // The server is away: try again below.
      }
    }
    // Jittered (half to one and a half times the back-off): a crowd refused together
    // (the server turns away upgrades past CHAT_MAX_HANDSHAKES with 503) comes back spread.
    setTimeout(connect, state.retryMs * (0.5 + Math.random()));
    state.retryMs = Math.min(state.retryMs * 2, 5000);
  };
}

function connected() {
  return state.ws !== null && state.ws.readyState === WebSocket.OPEN;
}

function send(frame) {
  if (!connected()) {
    $("#offline").hidden = false;   // until the socket opens again
    return false;
  }
  state.ws.send(JSON.stringify(frame));
  return true;
}

// A message of ours: shown at once as waiting, sent now if we are in its room, and sent
// again after every reconnection until its confirmation arrives (`confirmed`) or the
// server refuses it (`failed`).
function post(frame, roomId, item) {
  item.classList.remove("failed");
  item.classList.add("unconfirmed");
  item.dataset.clientMsgId = frame.ClientMsgID;
  item.title = "sending...";
  const entry = { frame, roomId, item, timer: null };
  state.unconfirmed.push(entry);
  if (connected() && roomId === state.shown) transmit(entry);
}

// Send one of our messages (again), and give the server NO_ANSWER_MS to answer it. (A
// socket that closes meanwhile sends it again when it opens: the wait starts again.)
function transmit(entry) {
  state.ws.send(JSON.stringify(entry.frame));
  clearTimeout(entry.timer);
  entry.timer = setTimeout(() => {
    if (connected()) failed(entry.frame.ClientMsgID, "the server did not answer");
    else entry.item.title = "waiting for the connection";
  }, NO_ANSWER_MS);
}

// The server's copy of one of our messages: the confirmation of the unconfirmed one with
// the same id of ours, if any (a resend is confirmed with the original's copy). One
// given up for want of an answer may be confirmed after all: its copy is the message.
function confirmed(clientMsgId) {
  const taken = takeUnconfirmed(clientMsgId);
  taken?.item.remove();
  const given = state.notSent.findIndex(({ item }) => item.dataset.clientMsgId === clientMsgId);
  if (given !== -1) state.notSent.splice(given, 1)[0].item.remove();
  return taken !== undefined || given !== -1;
}

// The unconfirmed message with this id of ours, taken off the list (undefined if none).
function takeUnconfirmed(clientMsgId) {
  const index = state.unconfirmed.findIndex(({ frame }) => frame.ClientMsgID === clientMsgId);
  if (index === -1) return undefined;
  const [taken] = state.unconfirmed.splice(index, 1);
  clearTimeout(taken.timer);
  return taken;
}

// The server refused one of our messages (the error frame names it by our id), or did
// not answer it: it stays where it was written, marked as not sent with the reason, and
// is not sent again on reconnecting. Refused for being sent too fast, it is sent again
// by itself when the server said to try again (in its text, or as RetryAfter: slow
// mode); otherwise Retry sends it once more (the same id: never stored twice). Discard
// takes it away. Returns whether the error was about one of ours.
function failed(clientMsgId, problem, retryAfter = undefined) {
  const taken = takeUnconfirmed(clientMsgId);
  if (taken === undefined) return false;
  const { frame, roomId, item } = taken;
  const kept = { roomId, item };
  state.notSent.push(kept);
  const forget = () => state.notSent.splice(state.notSent.indexOf(kept), 1);
  item.classList.replace("unconfirmed", "failed");
  item.title = "";
  const note = document.createElement("span");
  note.className = "failure";
  let timer = null;
  const again = () => {
    clearTimeout(timer);
    forget();
    note.remove();
    post(frame, roomId, item);
  };
  const discard = () => {
    clearTimeout(timer);
    forget();
    item.remove();
    $("#send-form [name=text]").focus();   // the button is gone: focus goes on
  };
  const wait = retryAfter > 0 ? [problem, retryAfter] : RETRY_AFTER.exec(problem);
  if (wait === null) {
    note.textContent = `Not sent: ${problem}. `;
    note.append(linkButton("Retry", again), " ", linkButton("Discard", discard));
  } else {
    note.textContent = `Not sent yet (${problem}): sending again in ${wait[1]} s. `;
    note.append(linkButton("Discard", discard));
    timer = setTimeout(again, Number(wait[1]) * 1000);
  }
  item.append(note);
  return true;
}

function linkButton(label, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link";
  button.textContent = label;
  button.addEventListener("click", action);
  return button;
}

// After entering a room: show our messages to it that were not sent, and our
// unconfirmed ones (below the history), and send the latter again (the server stores
// each once, whatever happened to the first try).
function resendTo(roomId) {
  for (const { roomId: target, item } of state.notSent) {
    if (target === roomId) $("#messages").append(item);
  }
  for (const entry of state.unconfirmed) {
    if (entry.roomId !== roomId) continue;
    $("#messages").append(entry.item);
    transmit(entry);
  }
}

function handleFrame(raw) {
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    return;
  }
  if (moderationFrame(frame) || settingsFrame(frame)) return;   // running a room
  if (frame.Type === "message") {
    if (frame.UID === state.me.uid && frame.ClientMsgID && confirmed(frame.ClientMsgID)) {
      ourMessageStored(frame);   // slow mode: the next one waits
    }
    if (frame.RoomID === state.shown) {
      state.since = Math.max(state.since, frame.MessageID);
      announce(frame);
      if (!heldBack([frame])) addMessages([frame]);   // held: an older page is shown
      stoppedTyping(frame.UID);   // what they were typing has arrived
      arrived(frame);             // a notification, if the tab is hidden
    }
  } else if (frame.Type === "activity") {
    if (frame.RoomID !== state.shown) activity(frame);
  } else if (frame.Type === "room-created") {
    if (!state.rooms.has(frame.RoomID)) directoryChanged();
  } else if (frame.Type === "joined") {
    loadRooms();                  // in another tab, perhaps: list it here too
  } else if (frame.Type === "edited" || frame.Type === "deleted" || frame.Type === "reactions") {
    changed(frame);
  } else if (frame.Type === "expired") {
    // The room's messages up to UpToID are gone (retention): off the page too.
    if (frame.RoomID === state.shown) {
      for (const item of document.querySelectorAll("#messages li[data-id]")) {
        if (Number(item.dataset.id) <= frame.UpToID) item.remove();
      }
    }
  } else if (frame.Type === "entered") {
    entered(frame.RoomID, frame.Name, frame.Messages ?? null);
  } else if (frame.Type === "presence-list") {
    presenceList(frame);
  } else if (frame.Type === "presence-changes") {
    presenceChanges(frame);
  } else if (frame.Type === "typing") {
    someoneTyping(frame);
  } else if (frame.Type === "read") {
    if (frame.MessageID >= (state.readUntold.get(frame.RoomID) ?? Infinity)) {
      state.readUntold.delete(frame.RoomID);
    }
    // Read in another tab (or this one): ask how many are left (none, most likely).
    // Also when counts asked for earlier are still on their way: they may have been
    // counted before this read was stored, and the new answer supersedes theirs.
    if (frame.RoomID !== state.shown || state.unreadAnswered < state.unreadAsked) loadUnread();
  } else if (frame.Type === "invited") {
    invited(frame);
  } else if (frame.Type === "truncated") {
    fetchLeftOut(frame.RoomID, frame.SinceID, frame.BeforeID);
  } else if (frame.Type === "error") {
    if (frame.Error.startsWith("SinceID") && state.room !== null) {
      // The server knows nothing that recent (its data was reset?): start the room afresh.
      state.shown = null;
      enter(state.room);
      return;
    }
    // Rooms changed too fast (the server's limit per connection): it kept us where we
    // were, so the next message goes there too.
    // So does a page refused (entering with one is a history request).
    if (/^too (many room changes|many history requests|much history sent)/.test(frame.Error)) {
      state.room = state.shown;
    }
    refused(frame);   // slow mode or a mute: the composer says so
    if (frame.ClientMsgID && failed(frame.ClientMsgID, frame.Error, frame.RetryAfter)) return;
    if (frame.MessageID && changeFailed(frame)) return;
    showError(frame.Error);
  } else if ("content" in frame && "from" in frame) {
    directArrived(frame);
  } else if (typeof frame.error === "string") {
    showError(frame.error);
  }
}

// A new message from someone else in the room shown, said by a screen reader (the
// #announcer region, which says only what is added to it: the history shown on entering
// a room, older pages and our own messages are not read out). A message more than a
// minute old is caught up with (a resume), not news.
const ANNOUNCED = 5;   // the region keeps the last few (removals are not read out)
function announce(message) {
  if (message.UID === state.me.uid || state.seen.has(message.MessageID)) return;
  if (Date.now() - Date.parse(message.CreatedAt) > 60_000) return;
  const line = document.createElement("p");
  line.textContent = `${message.Username}: ${message.Text} ${describeFiles(message.Files)}`.trim();
  const region = $("#announcer");
  region.append(line);
  while (region.children.length > ANNOUNCED) region.firstElementChild.remove();
}

// --- rooms and messages ---

// One request for the whole list, however many rooms (GET /rooms/details: each room
// described, a direct conversation with its two users' names). The list is built aside
// and swapped in at once: loads may overlap (a first direct message arriving during
// another), and each must show a whole list, never a mix.
async function loadRooms() {
  try {
    const rooms = await api("GET", "/rooms/details");
    levelsFrom(rooms);
    rolesFrom(rooms);
    roomsDescribed(rooms);
    state.lobby = rooms[0].RoomID;
    state.rooms = new Set(rooms.map(({ RoomID }) => RoomID));
    const items = [];
    for (const room of rooms) {
      const id = room.RoomID;
      let label = room.Name;
      if (Array.isArray(room.UIDs)) {
        state.direct.set(id, room.UIDs);
        for (const { UID, Username } of room.Users) learnName(UID, Username);
        const other = room.UIDs[0] === state.me.uid ? room.UIDs[1] : room.UIDs[0];
        label = `with ${state.names.get(other)}`;
      }
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.room = String(id);
      button.dataset.kind = state.direct.has(id) ? "direct" : "group";
      button.textContent = label;
      if (room.IsPrivate && !state.direct.has(id)) {
        // A private group room carries a lock: only those invited can see or join it.
        const lock = document.createElement("span");
        lock.className = "lock";
        lock.textContent = "🔒";
        lock.title = "private";
        lock.setAttribute("role", "img");
        lock.setAttribute("aria-label", "private");
        button.prepend(lock);
      }
      button.setAttribute("aria-current", String(id === state.room));
      button.addEventListener("click", () => enter(id));
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.room = String(id);
      const item = document.createElement("li");
      item.append(button, badge);
      items.push(item);
    }
    $("#rooms").replaceChildren(...items);
    showUnread();
    loadUnread();
    loadDirectory();
  } catch (error) {
    showError(error.message);
  }
}

// A room as the list shows it: { name, kind ("group" or "direct") }.
function listedRoom(roomId) {
  const listed = document.querySelector(`#rooms button[data-room="${roomId}"]`);
  return { name: listed?.textContent.replace("🔒", "") ?? "a room", kind: listed?.dataset.kind };
}

function enter(roomId) {
  clearError();
  clearNotice();
  closeSearch();
  closeReports();
  if (send(enterFrame(roomId))) state.room = roomId;
}

// Presence as lists: a room of hundreds is one frame, drawn once. The room's newest page
// comes in "entered" (Page): a switch is one round trip, and the page meets the live
// messages exactly (docs/PROTOCOL.md). Not when a message is to be shown in its
// context: that page is asked for over HTTP once entered (pageAround).
function enterFrame(roomId) {
  const frame = { Type: "enter", RoomID: roomId, Presence: "list" };
  if (state.focusOnEntry === null) frame.Page = HISTORY_PAGE;
  return frame;
}

async function entered(roomId, name, newest) {
  // Entering the room already shown means we are back after a reconnect.
  const sameRoom = roomId === state.shown;
  if (!sameRoom) {
    sendRead();
    cancelReply();  // a reply belongs to the room its message is in
  }   // what was read in the room we leave, before we leave it
  // A move of the person's own is a step in the history; the first room, or the same
  // one again after a reconnection, replaces the address.
  showInAddress(roomId, { replace: state.shown === null || sameRoom });
  showMenu(false);
  state.room = roomId;
  state.shown = roomId;
  roomShown(roomId);
  // The server follows "entered" with the people present (again, after a reconnect).
  showPeopleOf(roomId, { lobby: roomId === state.lobby });
  for (const uid of [...state.typing.keys()]) stoppedTyping(uid);
  // A direct conversation has no name: it is called after the other person, as listed.
  const listed = document.querySelector(`#rooms button[data-room="${roomId}"]`);
  $("#room-name").textContent = name ?? listed?.textContent ?? "a conversation";
  for (const button of document.querySelectorAll("#rooms button")) {
    button.setAttribute("aria-current", String(Number(button.dataset.room) === roomId));
  }
  showUnread();
  showRunning(roomId);
  if (state.reconnected) {
    // "entered" means this socket hears every direct message from now on: the
    // conversations begun while we were away, and their unread counts, are asked for.
    state.reconnected = false;
    loadRooms();
  }
  if (sameRoom) {
    // Back after a reconnect: what we missed follows on the socket (we asked with
    // SinceID); our unconfirmed messages go out again.
    resendTo(roomId);
    return;
  }
  const focus = state.focusOnEntry;
  state.focusOnEntry = null;
  await loadRoom(roomId, focus, focus === null ? newest : null);
}

// The room's messages, afresh: its newest page (`newest`, newest first, if "entered"
// brought it; else asked for), or with `focus` (a MessageID) the page around that
// message, in its context (context.js). Changes arriving meanwhile, to messages not on
// the page yet, wait for it. A later load overtakes an earlier one.
async function loadRoom(roomId, focus = null, newest = null) {
  const turn = ++state.loads;
  const held = [];
  try {
    leaveContext();
    state.seen = new Set();
    state.lastId = 0;
    state.since = 0;
    state.held = held;
    $("#messages").replaceChildren();
    $("#older").hidden = true;
    const page = newest !== null ? [...newest].reverse()
      : await (focus === null ? historyPage(roomId) : pageAround(roomId, focus));
    if (roomId !== state.shown || turn !== state.loads) return;   // moved on meanwhile
    addMessages(page, { follow: focus === null });
    for (const message of page) state.since = Math.max(state.since, message.MessageID);
    $("#older").hidden = page.length < HISTORY_PAGE;
    if (focus !== null) showFound(focus);
    resendTo(roomId);
  } catch (error) {
    showError(error.message);
  } finally {
    if (state.held === held) {
      state.held = null;
      for (const frame of held) changed(frame);   // in order: the last one stands
    }
  }
}

// What the room shown offers as our role there allows (again when it changes): Invite
// (its owners: the server says so too), Leave, Settings, Reports; the room's topic and
// the composer's state (slow mode, a mute).
function showRunning(roomId) {
  $("#invite-form").hidden = !owns(roomId);
  showRoomActions(roomId);
  showReportsButton(roomId);
  showRoomInfo(roomId);
}

// A room we are no longer in (we left it, or were removed or banned, here or in another
// tab): off the list, and if the page was there, to the lobby, saying why.
async function leftRoom(roomId, notice) {
  state.rooms.delete(roomId);
  if (state.room === roomId || state.shown === roomId) enter(state.lobby);
  showNotice(notice);
  await loadRooms();
}

// Bring a message into view in its room (a search result, a notification, a quote):
// entering the room if need be, and showing the page around it if it is not on the page.
async function openMessage(roomId, messageId) {
  if (roomId === state.shown) {
    if ($(`#messages li[data-id="${messageId}"]`) !== null) return showFound(messageId);
    return loadRoom(roomId, messageId);
  }
  if (!state.rooms.has(roomId)) await loadRooms();
  if (!state.rooms.has(roomId)) return showNotice("That conversation is not one this page shows.");
  state.focusOnEntry = messageId;
  enter(roomId);
}

// An edited, deleted or reactions frame. One of the room shown moves our place in its
// stream (a frame without Seq only answers a request of ours that changed nothing: it
// is the message's present state all the same). Its message may be further back than
// the page goes: then there is nothing to show (unless the room's first page is still
// on its way: it waits for it).
function changed(frame) {
  if (frame.RoomID !== state.shown) return;
  if (frame.Seq) state.since = Math.max(state.since, frame.Seq);
  if (!applyChange(frame) && !holdChange(frame) && state.held !== null) state.held.push(frame);
  const item = document.querySelector(`#messages li[data-id="${frame.MessageID}"]`);
  if (item !== null && frame.Type === "edited") {
    markMention(item, { ...frame, UID: Number(item.dataset.uid) });   // its new mentions
  }
}

// One page of a room's history, oldest first: the latest, or the one before `before`.
async function historyPage(roomId, before = 0) {
  const query = before ? `?limit=${HISTORY_PAGE}&last_id=${before}` : `?limit=${HISTORY_PAGE}`;
  return (await api("GET", `/messages/${roomId}${query}`)).reverse();
}

// We were away so long that the server sent only the newest of what we missed, after a
// "truncated" frame: the rest, the messages between SinceID and BeforeID, come from the
// history (the server's resume sends at most 1,000).
async function fetchLeftOut(roomId, sinceId, beforeId) {
  try {
    const leftOut = await messagesSince(roomId, sinceId, beforeId);
    if (roomId === state.shown && !heldBack(leftOut)) addMessages(leftOut, { follow: false });
  } catch (error) {
    showError(error.message);
  }
}

// A room's messages newer than `lastId` (and older than `beforeId`, if given), oldest
// first: newest-first pages, back to `lastId`. `lastId` is read once, before any await:
// live messages arriving meanwhile must not move it past the ones we are fetching.
async function messagesSince(roomId, lastId, beforeId = 0) {
  const missed = [];
  let before = beforeId;
  for (;;) {
    const query = before ? `?limit=100&last_id=${before}` : "?limit=100";
    const page = await api("GET", `/messages/${roomId}${query}`);
    for (const message of page) if (message.MessageID > lastId) missed.push(message);
    if (page.length < 100 || page[page.length - 1].MessageID <= lastId) break;
    before = page[page.length - 1].MessageID;
  }
  return missed.sort((a, b) => a.MessageID - b.MessageID);
}

// One page further back than the oldest message shown, kept where the reader is.
async function loadOlder() {
  const roomId = state.shown;
  const oldest = $("#messages li[data-id]");
  if (roomId === null || oldest === null) return;
  try {
    const page = await historyPage(roomId, Number(oldest.dataset.id));
    if (roomId !== state.shown) return;
    addMessages(page, { follow: false });
    $("#older").hidden = page.length < HISTORY_PAGE;
  } catch (error) {
    showError(error.message);
  }
}

// `follow`: scroll to the newest message (new messages); else keep the reader's place
// (older ones added above).
function addMessages(messages, { follow = true } = {}) {
  const list = $("#messages");
  const fromBottom = list.scrollHeight - list.scrollTop;
  for (const message of messages) {
    if (state.seen.has(message.MessageID)) continue;   // no duplicates, ever
    state.seen.add(message.MessageID);
    state.lastId = Math.max(state.lastId, message.MessageID);
    learnName(message.UID, message.Username);
    const item = messageItem(message.Username, message.Text, message.Username);
    showFiles(item, message.Files);
    item.dataset.id = String(message.MessageID);
    item.dataset.uid = String(message.UID);
    markMention(item, message);
    if (message.ReplyTo) {
      item.classList.add("reply");
      item.insertBefore(quoteOf(message.ReplyTo), item.querySelector(".text"));
    }
    const name = item.querySelector(".name");
    if (message.UID !== state.me.uid) {
      name.title = "click to write a direct message";
      name.addEventListener("click", () => openDirect(message.UID, message.Username));
    }
    const time = document.createElement("time");
    time.dateTime = message.CreatedAt;
    time.textContent = new Date(message.CreatedAt)
      .toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    time.title = new Date(message.CreatedAt).toLocaleString();
    const reply = document.createElement("button");
    reply.type = "button";
    reply.className = "reply-button";
    reply.textContent = "Reply";
    reply.setAttribute("aria-label", `Reply to ${message.Username}`);
    reply.addEventListener("click", () => replyTo(message, item));
    // Reply, React, and Edit and Delete where they are allowed (changes.js).
    const actions = document.createElement("span");
    actions.className = "actions";
    actions.append(reply);
    item.append(time, actions);
    showMessageState(item, message);
    addReport(item, message);
    // History arrives before live messages, but keep the list in id order regardless,
    // with ours still on their way (or not sent) after every message the server has.
    const later = [...list.children].find((li) => (li.dataset.id === undefined
      ? !li.classList.contains("day")
      : Number(li.dataset.id) > message.MessageID));
    list.insertBefore(item, later ?? null);
  }
  markDays(list);
  markRead();
  if (follow) pinToNewest(list);
  else list.scrollTop = list.scrollHeight - fromBottom;
}

// A separator before the first message of each day, the reader's own: "Today",
// "Yesterday", "Saturday, November 21". Drawn again whenever messages are added (a
// page's worth of items: cheap), so older pages and late arrivals fall into place.
function markDays(list) {
  for (const separator of list.querySelectorAll("li.day")) separator.remove();
  let previous = null;
  for (const item of list.querySelectorAll("li[data-id]")) {
    const when = new Date(item.querySelector("time").dateTime);
    if (when.toDateString() === previous) continue;
    previous = when.toDateString();
    const separator = document.createElement("li");
    separator.className = "day";
    separator.textContent = dayName(when);
    list.insertBefore(separator, item);
  }
}

function dayName(when) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (when.toDateString() === today.toDateString()) return "Today";
  if (when.toDateString() === yesterday.toDateString()) return "Yesterday";
  const year = when.getFullYear() === today.getFullYear() ? undefined : "numeric";
  return when.toLocaleDateString([], { weekday: "long", month: "long", day: "numeric", year });
}

// The composer as tall as its lines, up to its CSS max-height (then it scrolls).
function fitComposer(textarea) {
  textarea.style.height = "";  // empty: one row (rows="1"), whatever the placeholder's width
  if (!textarea.value) return;
  textarea.style.height = "auto";
  const borders = textarea.offsetHeight - textarea.clientHeight;  // border-box sizing
  textarea.style.height = `${textarea.scrollHeight + borders}px`;
}

// A message as listed: the author's avatar (their initial, in their colour), who wrote
// it, and what (formatted: markdown.js); `author` is the name the avatar is made from.
function messageItem(who, content, author) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = who;
  const text = document.createElement("span");
  text.className = "text";
  text.append(renderMarkdown(content));
  item.append(avatar(author), name, text);
  return item;
}

// A round badge with the first letter of `name`, in one of eight colours picked from the
// name, so that a person looks the same everywhere. The letter is drawn by the style
// sheet (data-initial), so it is no part of the text around it; colours are classes, as
// the page's policy forbids inline styles.
function avatar(name) {
  const badge = document.createElement("span");
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  badge.className = `avatar hue-${hash % 8}`;
  badge.setAttribute("aria-hidden", "true");
  badge.dataset.initial = [...name][0]?.toUpperCase() ?? "?";
  return badge;
}

// How one of our messages looks until the server confirms it (then the confirmed copy
// takes its place, in id order).
const pendingItem = (who, content) => messageItem(who, content, state.me.name);

// --- unread counts ---

// The counts as the server has them (an answer overtaken by a later one is dropped: it
// may predate a read frame the later one counts).
async function loadUnread() {
  const asked = ++state.unreadAsked;
  try {
    const counts = await api("GET", "/rooms/unread");
    if (asked !== state.unreadAsked) return;
    state.unread = new Map(counts.map(({ RoomID, Unread }) => [RoomID, Unread]));
    counted(counts);
    // The room shown is being read: whatever the server counted there is on the page
    // (or about to be), and its read frame may not be stored yet.
    if (state.shown !== null) state.unread.set(state.shown, 0);
    showUnread();
  } catch {
    // Counts are a help: the next load asks again.
  } finally {
    if (asked === state.unreadAsked) state.unreadAnswered = asked;
  }
}

// Each room's badge: its unread count, none for the room shown (it is being read); its
// mentions of you beside it, and the count in the tab's title (attention.js).
function showUnread() {
  // A room we have read and just left may have been counted before our read frame was
  // stored: it shows none until the frame is told back (which asks again).
  const isRead = (roomId) => roomId === state.shown || state.readUntold.has(roomId);
  for (const badge of document.querySelectorAll("#rooms .badge")) {
    const roomId = Number(badge.dataset.room);
    const count = isRead(roomId) ? 0 : state.unread.get(roomId) ?? 0;
    badge.textContent = count >= 1000 ? "999+" : String(count);
    badge.title = `${badge.textContent} unread`;
    badge.hidden = count === 0;
  }
  showMentions(state.unread, isRead);
}

// A message arrived for a room that is not shown (a direct one: group rooms' come only
// to the socket in them).
function countUnread(roomId) {
  state.unread.set(roomId, Math.min((state.unread.get(roomId) ?? 0) + 1, 1000));
  showUnread();
}

// The newest message shown in the room is read: tell the server (it keeps the marker for
// GET /rooms/unread and tells our other tabs). A burst of messages (a resume, a busy
// room) makes one read frame, READ_AFTER_MS after the first, for the newest by then.
function markRead() {
  state.unread.set(state.shown, 0);
  showUnread();
  if (state.readTimer === null) state.readTimer = setTimeout(sendRead, READ_AFTER_MS);
}

// Send the read frame markRead put off, now (also before the page leaves the room).
function sendRead() {
  clearTimeout(state.readTimer);
  state.readTimer = null;
  const roomId = state.shown;
  if (roomId === null || state.lastId <= (state.readSent.get(roomId) ?? 0)) return;
  if (send({ Type: "read", RoomID: roomId, MessageID: state.lastId })) {
    state.readSent.set(roomId, state.lastId);
    state.readUntold.set(roomId, state.lastId);
  }
}

// --- the directory of public rooms ---

// The public rooms the caller is not in, with their member counts, the busiest first (as
// the server orders them): a click joins one and goes in.
// A public room was created (by anyone, anywhere): list it, once for a burst.
function directoryChanged() {
  if (state.directoryTimer !== null) return;
  state.directoryTimer = setTimeout(() => {
    state.directoryTimer = null;
    loadDirectory();
  }, 250);
}

async function loadDirectory() {
  try {
    const rooms = await api("GET", "/rooms/public");
    const items = rooms.filter(({ RoomID }) => !state.rooms.has(RoomID)).map((room) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = room.Name;
      button.title = "join this room";
      button.addEventListener("click", () => join(room.RoomID));
      const members = document.createElement("span");
      members.className = "members";
      members.textContent = room.Members === 1 ? "1 member" : `${room.Members} members`;
      const item = document.createElement("li");
      item.append(button, members);
      return item;
    });
    $("#directory").replaceChildren(...items);
    $("#directory-heading").hidden = items.length === 0;
  } catch {
    // The directory is a help: the next load asks again.
  }
}

// Join a room (unless already in it, invited since the list was made, say) and go in.
async function join(roomId) {
  clearError();
  try {
    if (!state.rooms.has(roomId)) await loadRooms();
    if (!state.rooms.has(roomId)) {
      await api("PUT", "/join", { RoomID: roomId });
      await loadRooms();
    }
    enter(roomId);
    return true;
  } catch (error) {
    showError(error.message);
    return false;
  }
}

// --- people ---

// Who is in the room shown as we enter it: one frame, the panel drawn once.
function presenceList(frame) {
  if (frame.RoomID !== state.shown) return;
  for (const person of frame.Users) learnName(person.UID, person.Username);
  presenceListed(frame.RoomID, frame.Users);
}

// People arrived in the room shown or left it since the last such frame.
function presenceChanges(frame) {
  if (frame.RoomID !== state.shown) return;
  for (const change of frame.Changes) {
    learnName(change.UID, change.Username);
    if (!change.Online) stoppedTyping(change.UID);
  }
  presenceChanged(frame.RoomID, frame.Changes);
}

// Someone else in the room shown is typing: say so until they stop saying it.
function someoneTyping(frame) {
  if (frame.RoomID !== state.shown || frame.UID === state.me.uid) return;
  clearTimeout(state.typing.get(frame.UID)?.timer);
  const timer = setTimeout(() => stoppedTyping(frame.UID), TYPING_SHOWN_MS);
  state.typing.set(frame.UID, { name: frame.Username, timer });
  showTyping();
}

function stoppedTyping(uid) {
  const typing = state.typing.get(uid);
  if (typing === undefined) return;
  clearTimeout(typing.timer);
  state.typing.delete(uid);
  showTyping();
}

function showTyping() {
  const names = [...state.typing.values()].map(({ name }) => name).sort();
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing...`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing...`;
  else if (names.length > 2) text = "several people are typing...";
  $("#typing").textContent = text;
}

// The person is typing in the room shown: tell the others, at most every TYPING_EVERY_MS.
function typingHere() {
  const now = Date.now();
  if (state.shown === null || state.room !== state.shown) return;   // not in it yet
  if (now - state.typingSentAt < TYPING_EVERY_MS) return;
  if (connected()) {
    state.ws.send(JSON.stringify({ Type: "typing" }));
    state.typingSentAt = now;
  }
}

// The people the page has seen (in messages, rooms and searches), offered by name to the
// direct message form before anything is typed there; typing searches everyone.
function learnName(uid, name) {
  if (state.names.get(uid) === name) return;
  state.names.set(uid, name);
  offer($("#people"), knownNames());
}

function knownNames() {
  return [...state.names]
    .filter(([uid, name]) => uid !== state.me.uid && name !== `#${uid}`)
    .map(([, name]) => name);
}

// Someone was chosen (in the people panel, on a message, by name): go to the direct
// conversation with them, opening one if there is none yet (GET /dm/{UID}), and write.
async function openDirect(uid, name) {
  clearError();
  learnName(uid, name);
  let roomId = [...state.direct].find(([, pair]) => pair.includes(uid) && pair.includes(state.me.uid))?.[0];
  try {
    if (roomId === undefined) {
      roomId = (await api("GET", `/dm/${uid}`)).RoomID;
      await loadRooms();
    }
  } catch (error) {
    return showError(error.message);
  }
  if (roomId !== state.room) enter(roomId);
  else showMenu(false);
  $("#send-form [name=text]").focus();
}

// The people whose names start with what was typed in `input` (GET /users?prefix=),
// offered in its datalist, together with `known` names; remembered by name for `findUser`.
const found = new Map();   // lower-case name -> UID, from searches
async function suggestPeople(input, known = []) {
  const prefix = input.value.trim();
  let people = [];
  if (prefix) {
    try {
      people = await api("GET", `/users?prefix=${encodeURIComponent(prefix)}`);
    } catch {
      return;   // suggestions are a help: typing on works without them
    }
    if (input.value.trim() !== prefix) return;   // typed on meanwhile: a later search answers
  }
  for (const { UID, Username } of people) {
    found.set(Username.toLowerCase(), UID);
    learnName(UID, Username);
  }
  offer(input.list, [...known, ...people.map(({ Username }) => Username)]);
}

function offer(datalist, names) {
  const options = [...new Set(names)].map((name) => {
    const option = document.createElement("option");
    option.value = name;
    return option;
  });
  datalist.replaceChildren(...options);
}

// The UID of the user called `name` (in any case), asking the server if the page has
// not met them yet; null if there is no such user.
async function findUser(name) {
  const wanted = name.trim().toLowerCase();
  if (!wanted) return null;
  const seen = [...state.names].find(([, known]) => known.toLowerCase() === wanted);
  if (seen !== undefined) return seen[0];
  if (!found.has(wanted)) {
    const people = await api("GET", `/users?prefix=${encodeURIComponent(wanted)}`);
    for (const { UID, Username } of people) {
      found.set(Username.toLowerCase(), UID);
      learnName(UID, Username);
    }
  }
  return found.get(wanted) ?? null;
}

// Someone invited us into a room: it is one of ours now, listed at once.
async function invited(frame) {
  await loadRooms();
  // Gone there meanwhile (its address was followed): nothing left to say.
  if (state.room !== frame.RoomID) showNotice(`${frame.By.Username} invited you to ${frame.Name}.`);
}

// The side panel (rooms, people) on a narrow screen, where it folds away; on a wide one
// it is always shown and the button that folds it is not.
function showMenu(open) {
  $("#chat-view").dataset.menu = open ? "open" : "closed";
  $("#menu").setAttribute("aria-expanded", String(open));
  if (open) delete $("#menu").dataset.news;
}

// A direct message from someone arrived where the folded panel hides it: the button
// that opens the panel says so.
function flagNews() {
  if (getComputedStyle($("#menu")).display === "none") return;   // a wide screen
  if ($("#chat-view").dataset.menu === "open") return;
  $("#menu").dataset.news = "true";
  $("#menu").title = "new direct messages";
}

// A direct message, to or from us: every connection of ours gets each one, whatever
// room it is in. In the conversation shown it is a message of the room (whose own frame
// shows it there, once); elsewhere it counts as unread, and a first one adds its
// conversation to the list.
function directArrived(frame) {
  const roomId = [...state.direct].find(
    ([, pair]) => pair.includes(frame.from) && pair.includes(frame.to),
  )?.[0];
  if (roomId === state.shown) return;
  if (roomId === undefined) loadRooms();   // a new conversation (counted by loadUnread)
  else if (frame.from !== state.me.uid) countUnread(roomId);
  if (frame.from !== state.me.uid) flagNews();
}

// --- wiring ---

setUpChanges({
  me: () => state.me.uid,
  room: () => state.shown,
  send,
  api,
  names: state.names,
  // The author, or a moderator or owner of a group room (the server says so too).
  mayDelete: (author) => author === state.me.uid || moderates(state.shown),
  changed: requoted,
});

setUpAttachments({ token: () => state.token, renew: renewNow });
setUpReplies({ show: (messageId) => openMessage(state.shown, messageId) });

setUpContext({
  api,
  add: (messages) => addMessages(messages, { follow: false }),
  changed,
  latest: () => loadRoom(state.shown),
  error: showError,
});

setUpSearch({
  api,
  shown: () => state.shown,
  room: listedRoom,
  open: openMessage,
});

setUpPeople({
  api,
  me: () => state.me?.uid,
  avatar,
  open: openDirect,
  decorate: decoratePerson,
});

// Running a room: roles, the person menu, reports, leaving (moderation.js), settings and
// the composer's slow mode and mutes (room-settings.js), the reports view (reports.js).
const roomName = (roomId) => listedRoom(roomId).name;
const isGroup = (roomId) => roomId !== null && roomId !== state.lobby && !state.direct.has(roomId);
setUpModeration({
  api,
  me: () => state.me?.uid,
  shown: () => state.shown,
  group: isGroup,
  roomName,
  gone: leftRoom,
  changed: (roomId) => {
    if (roomId !== state.shown) return;
    showRunning(roomId);
    showDeletesAgain();
    showPeopleAgain();
  },
  notice: showNotice,
  error: showError,
});
setUpRoomSettings({
  api,
  shown: () => state.shown,
  moderates,
  owns,
  relist: loadRooms,
  renamed: (roomId, name) => { if (roomId === state.shown) $("#room-name").textContent = name; },
});
setUpReports({ api, shown: () => state.shown, moderates, open: openMessage, roomName });

// Your account: your data, and deleting the account (account.js). Once deleted, the
// session is gone on the server already: the page only forgets it and starts again.
setUpAccount({
  api,
  erased: (message) => {
    sessionStorage.setItem("chat.notice", message);
    state.leaving = true;
    if (state.ws) state.ws.close(1000, "account deleted");
    location.reload();
  },
});

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    authenticate(state.registering);
  });
  // The choice is made when a button is focused or clicked (a click reaches the button
  // before the submit it causes). Enter in a field also "clicks" Log in, the form's
  // default button, but with no pointer (event.detail 0): that one is not a choice.
  $("#login").addEventListener("focus", () => chooseRegistering(false));
  $("#login").addEventListener("click", (event) => {
    if (event.detail > 0) chooseRegistering(false);
  });
  $("#register").addEventListener("focus", () => chooseRegistering(true));
  $("#register").addEventListener("click", () => {
    chooseRegistering(true);
    authenticate(true);
  });
  $("#logout").addEventListener("click", () => logout());
  $("#older").addEventListener("click", loadOlder);
  $("#menu").addEventListener("click", () => showMenu($("#chat-view").dataset.menu !== "open"));
  window.addEventListener("popstate", followAddress);
  window.addEventListener("hashchange", followAddress);

  $("#send-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = event.target.elements.text;
    if ((!input.value && !hasAttachments()) || state.room === null) return;
    if (!mayPost(state.room)) return;   // slow mode or a mute: the composer says why
    // Files still uploading: it goes once they are done (if we are still in its room).
    const roomId = state.room;
    const files = filesToSend(() => { if (state.room === roomId) event.target.requestSubmit(); });
    if (files === null) return;
    if (inContext()) loadRoom(state.shown);   // an older page is shown: back to the present
    // @room calls everyone: in a room of more than ten, only once the person says so.
    if (/(^|[^\p{L}\p{N}_.+\-=@])@room\b/iu.test(input.value)
        && await mentionsManyPeople(state.room, state.room === state.lobby)
        && !window.confirm("@room notifies everyone in this room. Send it?")) return;
    const frame = { Type: "message", Text: input.value, ClientMsgID: newClientMsgId() };
    if (replyingTo() !== null) frame.ReplyTo = replyingTo();
    if (files.length > 0) frame.Files = files.map(({ FileID }) => FileID);
    cancelReply();
    const item = pendingItem(state.me.name, input.value);
    showFiles(item, files);
    clearAttachments();
    $("#messages").append(item);
    post(frame, state.room, item);
    pinToNewest($("#messages"));
    input.value = "";
    fitComposer(input);
    countCharacters();
    // The others stop showing us as typing when the message arrives: the next word
    // typed says so again at once, not TYPING_EVERY_MS after the last notice.
    state.typingSentAt = 0;
  });

  const composer = $("#send-form textarea[name=text]");
  setUpComposer(composer, $("#char-count"));
  keepNewestInView($("#messages"));
  setUpCompletion(composer, {
    api,
    me: () => state.me.uid,
    shown: () => state.shown,
  });
  composer.addEventListener("input", (event) => {
    fitComposer(event.target);
    if (event.target.value) typingHere();
  });
  // Enter sends; Shift+Enter breaks the line (so does Enter while an input method is
  // composing a character, which Enter then confirms).
  composer.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && replyingTo() !== null) return cancelReply();
    // Up in an empty composer: fix the last thing we said here.
    if (event.key === "ArrowUp" && !event.target.value && editLastOwn()) {
      return event.preventDefault();
    }
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    $("#send-form").requestSubmit();
  });

  $("#invite-form input[name=name]").addEventListener("input", (event) => {
    suggestPeople(event.target);
  });
  $("#invite-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    clearNotice();
    const form = event.target;
    const name = form.elements.name.value.trim();
    const roomId = state.shown;
    try {
      const uid = await findUser(name);
      if (uid === null) return showError(`No one is called "${name}".`);
      await api("PUT", "/invite", { RoomID: roomId, UID: uid });
      form.reset();
      showNotice(`${state.names.get(uid) ?? name} is invited.`);
    } catch (error) {
      showError(error.message);
    }
  });

  $("#create-room-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const form = event.target;
    try {
      const { RoomID } = await api("POST", "/create-room", {
        Name: form.elements.name.value,
        IsPrivate: form.elements.private.checked,
      });
      form.reset();
      await loadRooms();
      enter(RoomID);
    } catch (error) {
      showError(error.message);
    }
  });

  $("#join-room-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const form = event.target;
    // A link to a room (…/#/room/12), for private rooms and sharing: public ones are in
    // the directory, by name.
    const number = /(\d+)\s*$/.exec(form.elements.room.value);
    if (number === null) return showError("Paste a link to a room (…/#/room/…).");
    if (await join(Number(number[1]))) form.reset();
  });

  $("#dm-form input[name=to]").addEventListener("input", (event) => {
    suggestPeople(event.target, knownNames());
  });
  $("#dm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const form = event.target;
    const name = form.elements.to.value.trim();
    let uid;
    try {
      uid = await findUser(name);
    } catch (error) {
      return showError(error.message);
    }
    if (uid === null) {
      return showError(`No one called "${name}" has an account here: check the name.`);
    }
    if (uid === state.me.uid) return showError("That is you: write to someone else.");
    form.reset();
    openDirect(uid, state.names.get(uid) ?? name);
  });

  const notice = sessionStorage.getItem("chat.notice");
  if (notice) {
    sessionStorage.removeItem("chat.notice");
    showError(notice);
  }
  setUpAttention({
    api,
    me: () => state.me?.uid,
    shown: () => state.shown,
    recount: loadUnread,
    roomName: (roomId) => listedRoom(roomId).name,
    open: openMessage,
    notice: showNotice,
    error: showError,
  });

  // A session this browser already has (another tab, "keep me signed in"): no login form.
  resume().then((grant) => { if (grant !== null) begin(grant); }, () => {});
});
