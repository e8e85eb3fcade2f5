// The WebSocket (the room protocol on /ws): connecting and reconnecting (a back-off, or
// at once when an instance restarts), entering the room shown again on reconnecting
// with SinceID (nothing lost or doubled), sending frames, and each frame the server sends
// handed to what handles it (handleFrame).

import { activity, arrived } from "./attention.js";
import { changeFailed } from "./changes.js";
import { ephemeralArrived } from "./commands.js";
import { heldBack } from "./context.js";
import { directArrived } from "./direct.js";
import { directoryChanged } from "./directory.js";
import { moderationFrame } from "./moderation.js";
import { setConnection, showError } from "./notices.js";
import { pinsChanged } from "./pins.js";
import { previewsChanged } from "./previews.js";
import { presenceChanges, presenceList, someoneTyping, stoppedTyping } from "./presence.js";
import { reportsFrame } from "./reports.js";
import { ourMessageStored, refused, settingsFrame } from "./room-settings.js";
import { enter, enterFrame, entered, invited, loadRooms } from "./rooms.js";
import { loadSaved, savedFrame } from "./saved.js";
import { confirmed, failed } from "./sending.js";
import { statusFrame } from "./status.js";
import { renewNow } from "./session.js";
import { state } from "./state.js";
import { threadChanged, threadReply, threadSummary } from "./threads.js";
import { addMessages, announce, changed, fetchLeftOut } from "./timeline.js";
import { loadUnread } from "./unread.js";

const $ = (selector) => document.querySelector(selector);

// The close code of an instance that drains before a restart: reconnect at once.
const SERVICE_RESTART = 1012;
// The close code of a session the server ended (logged out, revoked, account erased):
// ask at once whether the session lives on, rather than after the back-off.
const POLICY_VIOLATION = 1008;

export function connect() {
  if (state.accountDeleted) return;   // nothing to connect as (account.js)
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
    loadSaved();   // which messages are saved: what changed while we were away too
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
    if (!opened || event.code === POLICY_VIOLATION) {
      // Refused at the handshake, or closed by the server's policy: maybe the session
      // has ended.
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

export function connected() {
  return state.ws !== null && state.ws.readyState === WebSocket.OPEN;
}

export function send(frame) {
  if (!connected()) {
    $("#offline").hidden = false;   // until the socket opens again
    return false;
  }
  state.ws.send(JSON.stringify(frame));
  return true;
}

// Live messages of the room shown are drawn together: a resume brings up to a thousand
// in a burst, and drawing them one at a time redraws the day separators, the groups and
// the unread line for each (seconds of work for the burst). They wait at most until the
// next task, and never past another frame, which may change one of them.
let arriving = [];
let drawing = null;

function drawArrived() {
  clearTimeout(drawing);
  drawing = null;
  const batch = arriving.filter((message) => message.RoomID === state.shown);
  arriving = [];
  if (batch.length > 0 && !heldBack(batch)) addMessages(batch);   // held: an older page is shown
}

function handleFrame(raw) {
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    return;
  }
  if (arriving.length > 0 && !(frame.Type === "message" && frame.RoomID === state.shown)) {
    drawArrived();   // in order: what comes next may change them
  }
  if (moderationFrame(frame) || settingsFrame(frame) || reportsFrame(frame)) return;   // running a room
  if (savedFrame(frame)) return;   // a message saved or unsaved, in another browser of ours
  if (frame.Type === "message") {
    if (frame.UID === state.me.uid && frame.ClientMsgID && confirmed(frame.ClientMsgID)) {
      ourMessageStored(frame);   // slow mode: the next one waits
    }
    if (frame.RoomID === state.shown) {
      state.since = Math.max(state.since, frame.MessageID);
      // A thread reply goes to its thread (threads.js); one not sent to the room too, the
      // main timeline leaves out, as history does.
      if (frame.ThreadID) threadReply(frame);
      if (frame.ThreadID && !frame.AlsoToRoom) return;
      announce(frame);
      arriving.push(frame);
      drawing ??= setTimeout(drawArrived, 0);
      stoppedTyping(frame.UID);   // what they were typing has arrived
      arrived(frame);             // a notification, if the tab is hidden
    }
  } else if (frame.Type === "command") {
    // Our message was taken as a command, not posted: it is answered, not "not sent".
    if (frame.ClientMsgID) confirmed(frame.ClientMsgID);
  } else if (frame.Type === "ephemeral") {
    ephemeralArrived(frame);   // for us alone (commands.js)
  } else if (frame.Type === "activity") {
    if (frame.RoomID !== state.shown) activity(frame);
  } else if (frame.Type === "room-created") {
    if (!state.rooms.has(frame.RoomID)) directoryChanged();
  } else if (frame.Type === "joined") {
    loadRooms();                  // in another tab, perhaps: list it here too
  } else if (frame.Type === "members") {
    loadRooms();                  // a group conversation's people changed: its name too
  } else if (frame.Type === "edited" || frame.Type === "deleted" || frame.Type === "reactions") {
    changed(frame);
    if (frame.Type !== "reactions") {
      pinsChanged(frame);     // a pinned message, as it is now
      threadChanged(frame);   // a message in the thread panel; a reply deleted, uncounted
    }
  } else if (frame.Type === "thread") {
    // A thread root's new summary: a place in the room's stream too (threads.js).
    if (frame.RoomID === state.shown) state.since = Math.max(state.since, frame.Seq);
    threadSummary(frame);
  } else if (frame.Type === "previews") {
    previewsChanged(frame);   // a place in the room's stream, and the message's cards
  } else if (frame.Type === "pins") {
    // A pin or unpin: a place in the room's stream, and its pinned list (pins.js).
    if (frame.RoomID === state.shown) state.since = Math.max(state.since, frame.Seq);
    pinsChanged(frame);
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
  } else if (frame.Type === "status") {
    statusFrame(frame);   // someone's status changed or ended (status.js)
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
