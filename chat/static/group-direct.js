// Group direct conversations (3 to 10 people): listed by their members' names, started
// from the Write to form with several names ("bob, cat"), someone added from the room's
// invite form (which says "Add someone" there), left as a room is. Who is in one comes
// with the room list (GET /rooms/details, "Members"); a "members" frame asks for it again.

import { api } from "./api.js";
import { findUser, learnName } from "./names.js";
import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

export const isGroupDirect = (roomId) => state.groups.has(roomId);

// A group conversation as the list names it: after the others in it ("with bob, cat").
export function groupLabel(room) {
  state.groups.set(room.RoomID, room.Members.map(({ UID }) => UID));
  for (const { UID, Username } of room.Members) learnName(UID, Username);
  const others = room.Members.filter(({ UID }) => UID !== state.me.uid);
  return others.length === 0 ? "with nobody else" : `with ${others.map(({ Username }) => Username).join(", ")}`;
}

// Names typed in the Write to form, separated by commas: more than one is a group.
export const namesIn = (text) => text.split(",").map((name) => name.trim()).filter(Boolean);

// The conversation of us and the people named (POST /dm: the one there is, or a new one).
// Throws an Error that says what to fix.
export async function openGroup(names) {
  const uids = [];
  for (const name of names) {
    const uid = await findUser(name);
    if (uid === null) throw new Error(`No one called "${name}" has an account here: check the name.`);
    if (uid !== state.me.uid) uids.push(uid);
  }
  return (await api("POST", "/dm", { UIDs: uids })).RoomID;
}

// Someone added to the group conversation shown (any member may).
export async function addToGroup(roomId, uid) {
  await api("PUT", `/dm/${roomId}/members/${uid}`);
}

// The room's invite form: "Invite someone" in a group room its owners run, "Add someone"
// in a group conversation (any member).
export function showGroupAdd(roomId) {
  const adding = isGroupDirect(roomId);
  const words = adding ? "Add someone" : "Invite someone";
  $("#invite-form label").textContent = `${words} (a name)`;
  $("#invitee").placeholder = adding ? words : `${words} (name)`;
  $("#invite-form button[type=submit]").textContent = adding ? "Add" : "Invite";
  $("#invite-open").textContent = words;
}
