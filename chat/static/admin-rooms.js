// The operators' console's other tabs (admin.js has the accounts): the named rooms
// (GET /admin/rooms), each archived or unarchived (PUT /room/{id}/archive), its owners
// changed (PUT /room/{id}/members/{uid} {"Role"}), or deleted once its name is typed
// (DELETE /room/{id}); and the server as it runs (GET
// /admin/server): version, engines, instances, who may register and the standing invite
// links (GET /registration, GET /invites; each revocable), the settings in force
// (secrets masked by the server). docs/PROTOCOL.md, "The operators' console".

const $ = (selector) => document.querySelector(selector);

// What admin.js lends: { api }.
let lent = null;
let search = { q: "", next: null };
let openRoom = null;   // the room shown below the list: { RoomID, Name, Archived }
let searches = 0;      // only the newest search is drawn

export function setUpAdminRooms(lentByConsole) {
  lent = lentByConsole;
  $("#admin-room-search").addEventListener("submit", (event) => {
    event.preventDefault();
    findRooms($("#admin-room-search").elements.q.value.trim(), false);
  });
  $("#admin-rooms-more").addEventListener("click", () => findRooms(search.q, true));
  $("#admin-room-archive").addEventListener("click", toggleArchived);
  $("#admin-room-delete").addEventListener("submit", (event) => {
    event.preventDefault();
    deleteRoom();
  });
  $("#admin-room-owner").addEventListener("submit", (event) => {
    event.preventDefault();
    makeOwner($("#admin-room-owner").elements.name.value.trim());
  });
}

// The Rooms tab was chosen.
export function showRooms() {
  $("#admin-room").hidden = true;
  openRoom = null;
  findRooms("", false);
}

async function findRooms(q, more) {
  const read = ++searches;
  const params = new URLSearchParams({ q, limit: "50" });
  if (more && search.next !== null) params.set("after", String(search.next));
  let page;
  try {
    page = await lent.api("GET", `/admin/rooms?${params}`);
  } catch (error) {
    if (read === searches) $("#admin-rooms-status").textContent = error.message;
    return;
  }
  if (read !== searches) return;
  search = { q, next: page.Next };
  const body = $("#admin-rooms tbody");
  const rows = page.Rooms.map(roomRow);
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  $("#admin-rooms-more").hidden = page.Next === null;
  const shown = body.children.length;
  $("#admin-rooms-status").textContent = shown === 0
    ? (q ? `No room matches "${q}".` : "No rooms.")
    : `${shown} room${shown === 1 ? "" : "s"}${page.Next === null ? "" : " so far"}.`;
}

function roomRow(room) {
  const row = document.createElement("tr");
  row.dataset.roomId = String(room.RoomID);
  const name = document.createElement("td");
  const label = `${room.Kind === "lobby" ? "" : "#"}${room.Name ?? room.RoomID}${room.Private ? " (private)" : ""}`;
  if (room.Kind === "group") {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "plain";
    button.textContent = label;
    button.addEventListener("click", () => showRoom(room));
    name.append(button);
  } else {
    name.textContent = `${label} (the lobby)`.replace("lobby (the lobby)", "lobby");
  }
  const owners = room.Owners.map((owner) => owner.Username).join(", ");
  const last = room.LastMessageAt ? new Date(room.LastMessageAt).toLocaleString() : "none";
  const members = room.Kind === "lobby" ? "everyone" : String(room.Members);
  row.append(name, cell(members), cell(owners), cell(last),
    cell(room.Archived ? "archived" : "open"));
  return row;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function showRoom(room) {
  openRoom = room;
  $("#admin-room").hidden = false;
  $("#admin-room-name").textContent = `#${room.Name}`;
  $("#admin-room-archive").textContent = room.Archived ? "Unarchive room" : "Archive room";
  $("#admin-room-delete").reset();
  $("#admin-room-owner").reset();
  $("#admin-room-owners").replaceChildren(...room.Owners.map((owner) => ownerItem(room, owner)));
}

function ownerItem(room, owner) {
  const item = document.createElement("li");
  item.textContent = `${owner.Username} (owner) `;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "plain";
  button.textContent = "Make a member";
  button.setAttribute("aria-label", `Make ${owner.Username} a member of #${room.Name}, no longer an owner`);
  button.addEventListener("click", () => setRole(room, owner, "member"));
  item.append(button);
  return item;
}

// The account called exactly `name` (the console's search finds it among those like it).
async function accountNamed(name) {
  const found = await lent.api("GET", `/admin/users?${new URLSearchParams({ q: name, limit: "100" })}`);
  return found.Users.find((user) => user.Username.toLowerCase() === name.toLowerCase()) ?? null;
}

async function makeOwner(name) {
  const room = openRoom;
  if (room === null || !name) return;
  let user;
  try {
    user = await accountNamed(name);
  } catch (error) {
    $("#admin-rooms-status").textContent = error.message;
    return;
  }
  if (user === null) {
    $("#admin-rooms-status").textContent = `There is no account called ${name}.`;
    return;
  }
  await setRole(room, { UID: user.UID, Username: user.Username }, "owner");
}

async function setRole(room, person, role) {
  try {
    await lent.api("PUT", `/room/${room.RoomID}/members/${person.UID}`, { Role: role });
  } catch (error) {
    $("#admin-rooms-status").textContent = error.message;
    return;
  }
  const others = room.Owners.filter((owner) => owner.UID !== person.UID);
  const changed = { ...room, Owners: role === "owner" ? [...others, person] : others };
  $(`#admin-rooms tr[data-room-id="${room.RoomID}"]`)?.replaceWith(roomRow(changed));
  showRoom(changed);
  $("#admin-rooms-status").textContent = role === "owner"
    ? `${person.Username} is an owner of #${room.Name}.`
    : `${person.Username} is a member of #${room.Name}, no longer an owner.`;
}

async function toggleArchived() {
  const room = openRoom;
  if (room === null) return;
  try {
    await lent.api("PUT", `/room/${room.RoomID}/archive`, { Archived: !room.Archived });
  } catch (error) {
    $("#admin-rooms-status").textContent = error.message;
    return;
  }
  const changed = { ...room, Archived: !room.Archived };
  $(`#admin-rooms tr[data-room-id="${room.RoomID}"]`)?.replaceWith(roomRow(changed));
  showRoom(changed);
  $("#admin-rooms-status").textContent = `#${room.Name} is ${changed.Archived ? "archived" : "open again"}.`;
}

async function deleteRoom() {
  const room = openRoom;
  if (room === null) return;
  const typed = $("#admin-room-delete").elements.confirm.value.trim();
  if (typed !== room.Name) {
    $("#admin-rooms-status").textContent = `Type the room's name, ${room.Name}, exactly: nothing was deleted.`;
    return;
  }
  try {
    await lent.api("DELETE", `/room/${room.RoomID}`, { Confirm: typed });
  } catch (error) {
    $("#admin-rooms-status").textContent = error.message;
    return;
  }
  $(`#admin-rooms tr[data-room-id="${room.RoomID}"]`)?.remove();
  $("#admin-room").hidden = true;
  openRoom = null;
  $("#admin-rooms-status").textContent = `#${room.Name} is deleted.`;
}

// The Server tab was chosen.
export async function showServer() {
  let server;
  try {
    server = await lent.api("GET", "/admin/server");
  } catch (error) {
    $("#admin-server-status").textContent = error.message;
    return;
  }
  $("#admin-server-status").textContent = "";
  const connections = Object.entries(server.Connections)
    .map(([protocol, count]) => `${protocol} ${count}`).join(", ") || "none";
  const facts = [
    ["Version", server.Version],
    ["Database", server.Database],
    ["Bus between instances", server.Bus],
    ["Connections here", connections],
  ];
  $("#admin-server-facts").replaceChildren(...facts.flatMap(([term, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    return [dt, dd];
  }));
  $("#admin-instances tbody").replaceChildren(...server.Instances.map((instance) => {
    const row = document.createElement("tr");
    row.append(cell(`${instance.InstanceID}${instance.This ? " (this one)" : ""}`),
      cell(String(instance.UsersOnline)));
    return row;
  }));
  showRegistration();
  $("#admin-settings tbody").replaceChildren(...Object.entries(server.Settings).map(([name, value]) => {
    const row = document.createElement("tr");
    const shown = value === null ? "unset" : typeof value === "string" ? value : JSON.stringify(value);
    row.append(cell(name), cell(shown));
    return row;
  }));
}

const POLICIES = {
  open: "Anyone may register.",
  invite: "Registration is by invitation only.",
  closed: "Registration is closed: operators add accounts.",
};

async function showRegistration() {
  let policy;
  let invites;
  try {
    [policy, invites] = await Promise.all([
      lent.api("GET", "/registration"), lent.api("GET", "/invites"),
    ]);
  } catch (error) {
    $("#admin-server-status").textContent = error.message;
    return;
  }
  const domains = policy.EmailDomains.length
    ? ` Without an invite, only addresses at ${policy.EmailDomains.join(", ")}.` : "";
  const members = policy.MemberInvites ? " Members may make invite links too." : "";
  $("#admin-registration").textContent = `${POLICIES[policy.Registration] ?? policy.Registration}${domains}${members} Standing invite links: ${invites.length}.`;
  $("#admin-invites tbody").replaceChildren(...invites.map(inviteRow));
}

function inviteRow(invite) {
  const row = document.createElement("tr");
  row.dataset.inviteId = invite.InviteID;
  const revoke = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "plain";
  button.textContent = "Revoke";
  button.setAttribute("aria-label", `Revoke the invite ${invite.InviteID} made by ${invite.Username}`);
  button.addEventListener("click", async () => {
    try {
      await lent.api("DELETE", `/invites/${encodeURIComponent(invite.InviteID)}`);
    } catch (error) {
      $("#admin-server-status").textContent = error.message;
      return;
    }
    $("#admin-server-status").textContent = `The invite ${invite.InviteID} is revoked.`;
    showRegistration();
  });
  revoke.append(button);
  row.append(cell(invite.InviteID), cell(invite.Username), cell(`${invite.Used} of ${invite.Uses}`),
    cell(new Date(invite.ExpiresAt).toLocaleDateString()), revoke);
  return row;
}
