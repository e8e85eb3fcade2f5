// Invite links, in the account screen (account.js), for those who may make them
// (GET /registration's MayInvite: operators, and members when the server lets them):
// making one (POST /invites: how many uses, how many days, which rooms to join), whose
// link is shown this once with "Copy link"; the links made (GET /invites: an operator
// sees everyone's), each with "Revoke" (DELETE /invites/{InviteID}). docs/PROTOCOL.md,
// "Who may register; invite links".

const $ = (selector) => document.querySelector(selector);

// What app.js lends (account.js passes it on): { api }.
let lent = null;
// Only the newest read of the list is drawn (an older answer arriving last would bring
// back a link just revoked).
let reads = 0;

export function setUpInvites(lentByApp) {
  lent = lentByApp;
  $("#invite-link-form").addEventListener("submit", (event) => {
    event.preventDefault();
    makeInvite();
  });
  $("#invite-link-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("#invite-link").textContent);
      $("#invite-link-status").textContent = "The link is copied.";
    } catch {
      $("#invite-link-status").textContent = "Copy the link by hand: the browser refused.";
    }
  });
}

// The account screen was opened: the section, if the caller may make invites.
export async function showInvites() {
  $("#invite-link-made").hidden = true;
  let policy;
  try {
    policy = await lent.api("GET", "/registration");
  } catch {
    return;
  }
  $("#invite-links-section").hidden = !policy.MayInvite;
  if (!policy.MayInvite) return;
  // An operator may invite to any group room; a member to those they run.
  await listRooms(!policy.MemberInvites);
  await listInvites();
}

async function listRooms(everyGroupRoom) {
  let rooms;
  try {
    rooms = await lent.api("GET", "/rooms/details");
  } catch (error) {
    $("#invite-link-status").textContent = error.message;
    return;
  }
  // The lobby (first) takes everyone already; direct conversations take no invitations.
  const groups = rooms.slice(1).filter((room) => !room.UIDs && !room.Members);
  const choices = groups.filter(
    (room) => everyGroupRoom || room.Role === "owner" || room.Role === "moderator",
  );
  const legend = document.createElement("legend");
  legend.textContent = choices.length ? "Rooms to join" : "Rooms to join: none you run";
  $("#invite-link-rooms").replaceChildren(legend, ...choices.map(roomChoice));
}

function roomChoice(room) {
  const label = document.createElement("label");
  label.className = "check";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.name = "room";
  box.value = String(room.RoomID);
  label.append(box, ` ${room.Name}`);
  return label;
}

async function listInvites() {
  const read = ++reads;
  let invites;
  try {
    invites = await lent.api("GET", "/invites");
  } catch (error) {
    if (read === reads) $("#invite-link-status").textContent = error.message;
    return;
  }
  if (read !== reads) return;
  $("#invite-links").replaceChildren(...invites.map(inviteItem));
}

function inviteItem(invite) {
  const item = document.createElement("li");
  item.dataset.invite = invite.InviteID;
  const name = document.createElement("span");
  name.className = "token-name";
  name.textContent = `${invite.Used} of ${invite.Uses} used`;
  const what = document.createElement("span");
  what.className = "token-scopes";
  const until = new Date(invite.ExpiresAt);
  const rooms = invite.RoomIDs.length ? `, ${invite.RoomIDs.length} room(s)` : "";
  const ended = until <= new Date() ? "ended" : `until ${until.toLocaleDateString()}`;
  what.textContent = `by ${invite.Username}, ${ended}${rooms}`;
  const revoke = document.createElement("button");
  revoke.type = "button";
  revoke.className = "plain";
  revoke.textContent = "Revoke";
  revoke.setAttribute("aria-label", `Revoke the invite link ${invite.InviteID}`);
  revoke.addEventListener("click", async () => {
    try {
      await lent.api("DELETE", `/invites/${invite.InviteID}`);
    } catch (error) {
      $("#invite-link-status").textContent = error.message;
      return;
    }
    $("#invite-link-status").textContent = "The invite link is revoked.";
    item.remove();
    listInvites();   // newer than any read begun before the revoke: the link stays gone
  });
  item.append(name, what, revoke);
  return item;
}

async function makeInvite() {
  const form = $("#invite-link-form");
  const days = Number(form.elements.days.value);
  const body = {
    Uses: Number(form.elements.uses.value),
    ExpiresAt: new Date(Date.now() + days * 86400 * 1000).toISOString(),
    RoomIDs: [...form.querySelectorAll("input[name=room]:checked")].map((box) =>
      Number(box.value),
    ),
  };
  let made;
  try {
    made = await lent.api("POST", "/invites", body);
  } catch (error) {
    $("#invite-link-status").textContent = error.message;
    return;
  }
  form.reset();
  $("#invite-link").textContent = made.URL;
  $("#invite-link-made").hidden = false;
  $("#invite-link-status").textContent = "The invite link is made: copy it now.";
  await listInvites();
}
