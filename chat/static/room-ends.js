// A group room's end, for its owners (docs/PROTOCOL.md, "Archiving and deleting a
// room"): at the foot of the Settings dialog, "Archive room" or "Unarchive room" (PUT
// /room/{id}/archive) and "Delete room", once the room's name is typed (DELETE
// /room/{id}), as deleting an account asks for the user's name (account.js). What
// follows is the frames': the room frame carries "Archived" (room-settings.js: the
// banner and the closed composer), room-deleted takes the room away (moderation.js), in
// every tab of every member.

const $ = (selector) => document.querySelector(selector);

// What room-settings.js lends us (setUpRoomEnds): { api(method, path, body),
// room(roomId) -> the room as last described, changed(room) -> the room as the answer
// describes it, shown everywhere it shows }.
let lent = null;

export function setUpRoomEnds(lentBySettings) {
  lent = lentBySettings;
  $("#archive-room").addEventListener("click", toggleArchived);
  $("#delete-room-form").addEventListener("submit", (event) => {
    event.preventDefault();
    deleteRoom();
  });
}

// The section for the room whose settings are open: its owners' only.
export function showRoomEnds(roomId, owner) {
  const section = $("#room-ends-section");
  section.hidden = !owner;
  section.dataset.room = String(roomId);
  const room = lent.room(roomId) ?? {};
  $("#archive-room").textContent = room.Archived ? "Unarchive room" : "Archive room";
  $("#archive-explained").textContent = room.Archived
    ? "The room is archived: everyone can read it, nobody can write in it. Unarchive it to open it again."
    : "An archived room is read-only for everyone, and leaves the list of public rooms. It can be unarchived.";
  $("#delete-room-name").textContent = room.Name ?? "";
  const form = $("#delete-room-form");
  form.elements.confirm.value = "";
  $("#room-ends-error").hidden = true;
}

const shownRoom = () => Number($("#room-ends-section").dataset.room);

function problem(text) {
  $("#room-ends-error").textContent = text;
  $("#room-ends-error").hidden = false;
}

async function toggleArchived() {
  const roomId = shownRoom();
  const archived = !lent.room(roomId)?.Archived;
  const button = $("#archive-room");
  button.disabled = true;
  try {
    const answer = await lent.api("PUT", `/room/${roomId}/archive`, { Archived: archived });
    lent.changed({ ...answer, RoomID: roomId });
    $("#settings-dialog").close();
  } catch (error) {
    problem(error.message);
  } finally {
    button.disabled = false;
  }
}

async function deleteRoom() {
  const roomId = shownRoom();
  const name = lent.room(roomId)?.Name ?? "";
  const form = $("#delete-room-form");
  const typed = form.elements.confirm.value.trim();
  if (typed !== name) {
    problem(`Type the room's name, ${name}, exactly: nothing was deleted.`);
    form.elements.confirm.select();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await lent.api("DELETE", `/room/${roomId}`, { Confirm: typed });
  } catch (error) {
    problem(error.message);
    return;
  } finally {
    button.disabled = false;
  }
  // The room-deleted frame takes it off the list and out of view (moderation.js).
  $("#settings-dialog").close();
}
