// Sending our messages: the send form and its composer (Enter sends, Up edits our last
// message, the composer grows with its lines), and each message kept until the server
// confirms it: sent again after every reconnection, marked "Not sent" with Retry and
// Discard when refused or unanswered (NO_ANSWER_MS), or sent again by itself after a wait
// the server names (sending too fast, slow mode).

import { api } from "./api.js";
import {
  clearAttachments, filesToSend, hasAttachments, showFiles,
} from "./attachments.js";
import { mentionsManyPeople } from "./attention.js";
import { editLastOwn } from "./changes.js";
import { setUpCommandCompletion } from "./commands.js";
import { setUpCompletion } from "./completion.js";
import { countCharacters, fitComposer, setUpComposer } from "./composer.js";
import { setUpEmojiCompletion } from "./emoji-completion.js";
import { setUpComposerEmoji } from "./emoji-picker.js";
import { inContext } from "./context.js";
import { typingHere } from "./presence.js";
import { cancelReply, replyingTo } from "./replies.js";
import { mayPost } from "./room-settings.js";
import { pinToNewest } from "./scrolling.js";
import { connected } from "./socket.js";
import { state } from "./state.js";
import { loadRoom, pendingItem } from "./timeline.js";

const $ = (selector) => document.querySelector(selector);

// A message sent and neither confirmed nor refused this long after is marked as not
// sent (no answer), with Retry and Discard: nothing stays "sending..." for ever.
const NO_ANSWER_MS = 15_000;
// A refusal for sending too fast says when to try again ("too many messages: try again
// in 3 s", docs/PROTOCOL.md); the message is sent again then, by itself.
const RETRY_AFTER = /^too many [^:]*: try again in (\d+) s$/;

// An id of ours for a message (1-64 characters), so that sending it again is harmless.
// (crypto.randomUUID needs https or localhost; getRandomValues works everywhere.)
function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
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
export function confirmed(clientMsgId) {
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
export function failed(clientMsgId, problem, retryAfter = undefined) {
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
export function resendTo(roomId) {
  for (const { roomId: target, item } of state.notSent) {
    if (target === roomId) $("#messages").append(item);
  }
  for (const entry of state.unconfirmed) {
    if (entry.roomId !== roomId) continue;
    $("#messages").append(entry.item);
    transmit(entry);
  }
}

// The send form and its composer (once the page is loaded: app.js).
export function setUpSending() {
  $("#send-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = event.target.elements.text;
    // What the composer holds is the draft of the room shown (drafts.js), and goes there
    // only: not while the page is moving to another room (asked for, not entered yet).
    const roomId = state.shown;
    if ((!input.value && !hasAttachments()) || roomId === null || state.room !== roomId) return;
    if (!mayPost(roomId)) return;   // slow mode or a mute: the composer says why
    // Files still uploading: it goes once they are done (if we are still in its room).
    const files = filesToSend(() => { if (state.shown === roomId) event.target.requestSubmit(); });
    if (files === null) return;
    if (inContext()) loadRoom(roomId);   // an older page is shown: back to the present
    // @room calls everyone: in a room of more than ten, only once the person says so.
    if (/(^|[^\p{L}\p{N}_.+\-=@])@room\b/iu.test(input.value)
        && await mentionsManyPeople(roomId, roomId === state.lobby)
        && !window.confirm("@room notifies everyone in this room. Send it?")) return;
    // Gone to another room meanwhile: the composer holds that room's draft now.
    if (state.shown !== roomId) return;
    const frame = { Type: "message", Text: input.value, ClientMsgID: newClientMsgId() };
    if (replyingTo() !== null) frame.ReplyTo = replyingTo();
    if (files.length > 0) frame.Files = files.map(({ FileID }) => FileID);
    cancelReply();
    const item = pendingItem(state.me.name, input.value);
    showFiles(item, files);
    clearAttachments();
    $("#messages").append(item);
    post(frame, roomId, item);
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
  setUpCompletion(composer, {
    api,
    me: () => state.me.uid,
    shown: () => state.shown,
  });
  setUpEmojiCompletion(composer);
  setUpCommandCompletion(composer);
  setUpComposerEmoji();
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
}
