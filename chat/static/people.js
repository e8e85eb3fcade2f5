// The people panel: who is in the room shown, online first. A group room or direct
// conversation lists its members (GET /room/{id}/members, which says who is online:
// connected anywhere, in any room, on any instance); the lobby, where everyone is a
// member, lists the people present in it (the presence frames on /ws); asked for its
// members (a refresh due as the page went there), it reads one page of them. Each person is a
// button (reachable by keyboard) that opens a direct conversation with them; we are
// listed too, as "(you)", and are no button. A group room's owners and moderators are
// marked so (their role, data-role, which the style sheet writes beside the name); a
// moderator gets a menu on each person they may act on (moderation.js's decorate).

import { learnStatuses } from "./status.js";

const MEMBERS_PAGE = 100;   // the server's page size (a shorter page is the last)
const MAX_MEMBERS = 1000;   // listed at most (ten pages): a panel, not a directory
// Online anywhere is announced by no frame: the list is asked for again this often, and
// soon after someone leaves the room (they may still be online elsewhere).
const REFRESH_EVERY_MS = 30_000;
const REFRESH_AFTER_LEAVING_MS = 1_000;

const $ = (selector) => document.querySelector(selector);

const people = {
  api: null,
  me: () => null,      // our UID
  avatar: null,        // (name) -> the avatar element
  open: null,          // (uid, name) -> open a direct conversation with them
  decorate: null,      // (item, uid, name, role) -> add what a moderator may do
  away: () => null,    // (uid) -> "away" or "do not disturb" by their status, or null
  badge: () => null,   // (uid) -> their status's emoji (its words in a tooltip), or null
  room: null,          // the RoomID listed
  lobby: false,        // the room listed is the lobby (no member list: the people present)
  present: new Map(),  // UID -> name of the people present in the room (presence frames)
  members: new Map(),  // UID -> { name, online, role } of its members (GET /room/{id}/members)
  asked: 0,            // how many times the members were asked for (a later answer wins)
  loading: null,       // the latest of those requests, until it is answered
  refresh: null,       // the timer of a refresh after someone left
};

export function setUpPeople({ api, me, avatar, open, decorate, away, badge }) {
  Object.assign(people, { api, me, avatar, open, decorate, away, badge });
  setInterval(() => { if (people.room !== null && !people.lobby) loadMembers(); }, REFRESH_EVERY_MS);
}

// The page entered `roomId` (again, after a reconnection): its list starts afresh, the
// presence list that follows "entered" filling it.
export function showPeopleOf(roomId, { lobby }) {
  const again = roomId === people.room;
  people.room = roomId;
  people.lobby = lobby;
  people.present = new Map();
  if (!again) people.members = new Map();
  show();
  if (!lobby) loadMembers();
}

// The people present in the room listed, as we enter it ([{ UID, Username }]).
export function presenceListed(roomId, users) {
  if (roomId !== people.room) return;
  people.present = new Map(users.map(({ UID, Username }) => [UID, Username]));
  // Someone we do not list yet (they joined since it was read): the list is out of date
  // (unless it is being read now, as it is right after entering).
  const unlisted = users.some(({ UID }) => !people.members.has(UID));
  if (!people.lobby && people.loading === null && unlisted) loadMembers();
  show();
}

// People of the room listed arrived (so are online) or left it ([{ UID, Username,
// Online }]): the panel drawn once for all of them.
export function presenceChanged(roomId, changes) {
  if (roomId !== people.room) return;
  let stale = false;
  let left = false;
  for (const { UID, Username, Online } of changes) {
    if (Online) {
      people.present.set(UID, Username);
      // Someone we do not list yet (they joined since): the list is out of date.
      if (!people.lobby && !people.members.has(UID)) stale = true;
    } else {
      people.present.delete(UID);
      left = true;
    }
  }
  if (stale) loadMembers();
  if (left && !people.lobby) {
    clearTimeout(people.refresh);
    people.refresh = setTimeout(loadMembers, REFRESH_AFTER_LEAVING_MS);
  }
  show();
}

// The members of the room listed, as the panel has them ([{ UID, Username }], by UID;
// none for another room or the lobby): the composer completes names from them and asks
// before @room in a room of more than ten. A first list on its way is waited for.
export async function membersListed(roomId) {
  if (roomId !== people.room || people.lobby) return [];
  if (people.members.size === 0 && people.loading !== null) await people.loading;
  return [...people.members].map(([UID, { name }]) => ({ UID, Username: name }));
}

function loadMembers() {
  const loading = fetchMembers();
  people.loading = loading;
  loading.finally(() => { if (people.loading === loading) people.loading = null; });
  return loading;
}

async function fetchMembers() {
  const asked = ++people.asked;
  const roomId = people.room;
  // The lobby's members are every user: one page of them, at most.
  const most = people.lobby ? MEMBERS_PAGE : MAX_MEMBERS;
  const members = new Map();
  const statuses = new Map();   // UID -> their status (null: none in force)
  try {
    for (let after = 0; members.size < most;) {
      const page = await people.api("GET", `/room/${roomId}/members?limit=${MEMBERS_PAGE}${after ? `&after=${after}` : ""}`);
      for (const { UID, Username, Online, Role, Status } of page) {
        members.set(UID, { name: Username, online: Online, role: Role ?? "member" });
        statuses.set(UID, Status ?? null);
      }
      if (page.length < MEMBERS_PAGE) break;
      after = page[page.length - 1].UID;
    }
  } catch {
    return;   // the list is a help: the next refresh asks again
  }
  if (asked !== people.asked || roomId !== people.room) return;   // overtaken
  people.members = members;
  show();
  // Their statuses, for the panel and for their messages (status.js).
  learnStatuses(statuses);
}

// The role of a member of the room listed (undefined: not listed as one).
export const memberRole = (uid) => people.members.get(uid)?.role;

// A role frame (or our own change, answered): the list shows it at once.
export function roleChanged(roomId, uid, role) {
  const member = people.members.get(uid);
  if (roomId !== people.room || member === undefined) return;
  member.role = role;
  show();
}

// Drawn again as it is (our role changed, or a person's menu opened or closed).
export const showPeopleAgain = () => show();

// Everyone to list: [uid, name, online, role], online first, then by name.
function listed() {
  const all = new Map();
  if (!people.lobby) {
    for (const [uid, { name, online, role }] of people.members) all.set(uid, [uid, name, online, role]);
  }
  // Present in the room: online, whatever the last list said (and listed in the lobby).
  for (const [uid, name] of people.present) {
    all.set(uid, [uid, name, true, people.members.get(uid)?.role ?? "member"]);
  }
  return [...all.values()].sort(
    ([, a, aOnline], [, b, bOnline]) => Number(bOnline) - Number(aOnline) || a.localeCompare(b),
  );
}

function show() {
  const entries = listed();
  const items = entries.map(([uid, name, online, role]) => {
    const item = document.createElement("li");
    item.dataset.uid = String(uid);
    item.dataset.online = String(online);
    item.dataset.role = role;
    const said = role === "member" ? "" : `, ${role}`;
    const avatar = people.avatar(name);
    // Online, but away or not to be disturbed by their status (status.js).
    const away = online ? people.away(uid) : null;
    if (away !== null) item.dataset.away = away;
    const status = away ?? (online ? "online" : "offline");
    const badge = people.badge(uid);
    if (uid === people.me()) {
      item.className = "me";
      item.append(avatar, `${name} (you)`);
      if (badge !== null) item.append(badge);
      item.title = `${status}${said}`;
      return item;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "person";
    button.append(avatar, name);
    if (badge !== null) {
      badge.removeAttribute("role");   // said in the button's label instead
      badge.removeAttribute("aria-label");
      badge.setAttribute("aria-hidden", "true");
      button.append(badge);
    }
    button.title = `${status}: write a direct message`;
    const words = badge === null ? "" : `, ${badge.title}`;
    button.setAttribute("aria-label", `${name}${said}, ${status}${words}: write a direct message`);
    button.addEventListener("click", () => people.open(uid, name));
    item.append(button);
    if (!people.lobby) people.decorate?.(item, uid, name, role);
    return item;
  });
  $("#here").replaceChildren(...items);
  const online = entries.filter(([, , isOnline]) => isOnline).length;
  $("#people-heading").firstChild.textContent = people.lobby ? "Here now " : "People ";
  $("#here-count").textContent = entries.length ? `${online} online` : "";
}
