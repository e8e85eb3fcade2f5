// The page's state: one object that the client's modules share (app.js wires them
// together), so that each reads and changes the same one. Who is signed in, the socket,
// the room asked for and the room shown, what that room's page holds, the rooms and names
// known, unread counts and read markers, and our messages on their way. Nothing in it is
// saved anywhere: a reload starts afresh (session.js signs it in again).

export const state = {
  registering: false, // the login form registers (Register was chosen), or logs in
  token: null,       // in memory only: the session (session.js) hands out fresh ones
  me: null,          // { uid, name }
  ws: null,
  lobby: null,       // the lobby's RoomID
  room: null,        // the RoomID we asked to be in
  shown: null,       // the RoomID whose messages the page shows
  seen: new Set(),   // MessageIDs shown for that room
  lastId: 0,         // the newest MessageID seen in the current room
  seenId: 0,         // the newest MessageID the reader has had on screen there (reading.js)
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
  accountDeleted: false,   // the account was deleted: the page says so, and ends nothing
  enrolFirst: false,       // the server requires two-factor authentication we lack (login.js)
  names: new Map(),  // UID -> name, of the people the page has met
  direct: new Map(), // RoomID -> [UID, UID] of the caller's direct conversations
  groups: new Map(), // RoomID -> [UID, ...] of the caller's group direct conversations
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
