// Direct conversations: going to the one with someone (chosen by name, in the people
// panel or on a message), opening it if there is none yet; the Write to form (several
// names: a group conversation, group-direct.js); and the
// direct message frames, which count a conversation's unread messages elsewhere or add
// a new conversation to the list.

import { api } from "./api.js";
import { namesIn, openGroup } from "./group-direct.js";
import { findUser, knownNames, learnName, suggestPeople } from "./names.js";
import { clearError, showError } from "./notices.js";
import { enter, loadRooms, showMenu } from "./rooms.js";
import { state } from "./state.js";
import { countUnread } from "./unread.js";

const $ = (selector) => document.querySelector(selector);

// Someone was chosen (in the people panel, on a message, by name): go to the direct
// conversation with them, opening one if there is none yet (GET /dm/{UID}), and write.
export async function openDirect(uid, name) {
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
export function directArrived(frame) {
  const roomId = [...state.direct].find(
    ([, pair]) => pair.includes(frame.from) && pair.includes(frame.to),
  )?.[0];
  if (roomId === state.shown) return;
  if (roomId === undefined) loadRooms();   // a new conversation (counted by loadUnread)
  else if (frame.from !== state.me.uid) countUnread(roomId);
  if (frame.from !== state.me.uid) flagNews();
}

// Several names in the Write to form: the group conversation of us and them.
async function writeToGroup(form, names) {
  let roomId;
  try {
    roomId = await openGroup(names);
    await loadRooms();
  } catch (error) {
    return showError(error.message);
  }
  form.reset();
  if (roomId !== state.room) enter(roomId);
  else showMenu(false);
  $("#send-form [name=text]").focus();
}

// The Write to form, which takes a name, or several separated by commas (once the page
// is loaded: app.js).
export function setUpDirect() {
  $("#dm-form input[name=to]").addEventListener("input", (event) => {
    suggestPeople(event.target, knownNames());
  });
  $("#dm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const form = event.target;
    const name = form.elements.to.value.trim();
    const names = namesIn(name);
    if (names.length > 1) return writeToGroup(form, names);
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
}
