// The HTTP API: one request with the session's token, its JSON answer, or an Error with
// the server's message and status. An expired token is renewed once (session.js) and the
// request asked again. Apart so that every module asks the server the same way.

import { renewNow } from "./session.js";
import { state } from "./state.js";

const underWay = new Set();   // the requests asked and not answered yet
let held = null;              // while the session is replaced: settled once it is

export async function api(method, path, body) {
  while (held !== null) await held;
  const asked = ask(method, path, body);
  underWay.add(asked);
  try {
    return await asked;
  } finally {
    underWay.delete(asked);
  }
}

async function ask(method, path, body, renewed = false) {
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
    if (await renewNow().catch(() => null)) return ask(method, path, body, true);
  }
  if (!response.ok) {
    const error = new Error(data.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.needsCode = data.NeedsCode === true;   // two-factor authentication asks for a code
    // A page around a reply in a thread only names the thread to read it in instead.
    if (Number.isInteger(data.ThreadID)) error.threadId = data.ThreadID;
    throw error;
  }
  return data;
}

// Run `change(ask)`, which ends this session and starts the next (a new password ends
// every session), with the page's other requests kept out of the gap between the two,
// where the server refuses them (401): those under way are answered first, and those
// asked meanwhile wait for `change` to end, then carry the new session's token. `change`
// asks the server through the `ask` it is given, which does not wait.
export async function replacingSession(change) {
  while (held !== null) await held;
  let release;
  held = new Promise((resolve) => { release = resolve; });
  try {
    await Promise.allSettled([...underWay]);
    return await change(ask);
  } finally {
    held = null;
    release();
  }
}
