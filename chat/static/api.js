// The HTTP API: one request with the session's token, its JSON answer, or an Error with
// the server's message and status. An expired token is renewed once (session.js) and the
// request asked again. Apart so that every module asks the server the same way.

import { renewNow } from "./session.js";
import { state } from "./state.js";

export async function api(method, path, body, renewed = false) {
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
    if (await renewNow().catch(() => null)) return api(method, path, body, true);
  }
  if (!response.ok) {
    const error = new Error(data.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    // A page around a reply in a thread only names the thread to read it in instead.
    if (Number.isInteger(data.ThreadID)) error.threadId = data.ThreadID;
    throw error;
  }
  return data;
}
