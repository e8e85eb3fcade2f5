// The browser's session (chat/app/accounts/sessions.py): signing in sets an HttpOnly cookie that this
// script never sees; the page asks it for short-lived tokens, kept in memory only (never
// in storage, never in a URL), and its WebSocket is signed in by the cookie itself. A new
// tab, or a browser restarted with "keep me signed in", is signed in by the same cookie.

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 204) return null;   // a refresh without a session cookie
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.needsCode = data.NeedsCode === true;   // two-factor authentication: ask for the code
    throw error;
  }
  return data;
}

let refreshTimer = null;
let renewing = null;    // the refresh under way, which every caller of renewNow shares
// What the page does with a new token, and when the session has ended (stayFresh).
let handlers = { onToken: () => {}, onEnded: () => {} };

// Refresh a while before the token expires (ExpiresIn, seconds). A timer that fires late
// (a laptop asleep, a tab in the background) just refreshes then.
function keepFresh(grant) {
  clearTimeout(refreshTimer);
  const inMs = Math.max(5, grant.ExpiresIn * 0.8) * 1000;
  refreshTimer = setTimeout(() => {
    renewNow().catch(() => {
      // The server is away: try again shortly, the token may still be good.
      keepFresh({ ExpiresIn: 10 });
    });
  }, inMs);
}

// A new token now, handed to the page (and the next refresh planned); null, once the
// page was told, if the session has ended. One refresh however many ask at once (a
// request refused with 401 because the token expired while the page slept, the timer).
export function renewNow() {
  if (renewing === null) {
    renewing = resume()
      .then((grant) => {
        if (grant === null) {
          handlers.onEnded();
          return null;
        }
        handlers.onToken(grant.token);
        keepFresh(grant);
        return grant.token;
      })
      .finally(() => { renewing = null; });
  }
  return renewing;
}

// Sign in (POST /session): { token, UID, Username, Remember, ExpiresIn }, and the cookie.
// `code`: the second factor, for an account with two-factor authentication on.
export async function signIn(username, password, remember, code = "") {
  const body = { Username: username, Password: password, Remember: remember };
  if (code) body.Code = code;
  return post("/session", body);
}

// The session's next grant (POST /session/refresh, which rotates the cookie), or null
// when there is no session: no cookie (204: never signed in, logged out) or one whose
// session has ended (401: expired, logged out everywhere). Other failures throw.
export async function resume() {
  try {
    return await post("/session/refresh");
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

// Keep the page's token fresh for as long as the page lives: `onToken(token)` with each
// new one, `onEnded()` when the session has ended (expired, logged out elsewhere).
export function stayFresh(grant, onToken, onEnded) {
  handlers = { onToken, onEnded };
  keepFresh(grant);
}

// End this browser's session (POST /logout; the cookie is cleared). Whatever happens, the
// page forgets its token.
export async function signOut() {
  clearTimeout(refreshTimer);
  try {
    await post("/logout");
  } catch {
    // Offline: the cookie stays until the session expires; nothing else to do here.
  }
}
