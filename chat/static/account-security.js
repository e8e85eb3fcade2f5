// Your password and your sessions, in the account screen (account.js): changing the
// password (PUT /password, which logs out every session, this one included, so this page
// signs in again with the new one), the browsers signed in as you (GET /sessions), each
// with "Log out" (DELETE /sessions/{SessionID}: its page is signed out at once), and
// "Log out everywhere" (POST /logout-everywhere).

import { replacingSession } from "./api.js";
import { renewNow, resume, signIn } from "./session.js";
import { connect, connected } from "./socket.js";
import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends (account.js passes it on): { api, signedOut(message) }.
let lent = null;

export function setUpSecurity(lentByApp) {
  lent = lentByApp;
  $("#password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    changePassword();
  });
  $("#logout-everywhere").addEventListener("click", logoutEverywhere);
}

// The account screen was opened: list the sessions (the promise settles once drawn).
export function showSecurity() {
  $("#password-form").elements.username.value = state.me.name;
  return listSessions();
}

async function changePassword() {
  const form = $("#password-form");
  const status = $("#password-status");
  const { old, again } = form.elements;
  const fresh = form.elements.new.value;
  if (fresh !== again.value) {
    status.textContent = "The two new passwords differ: nothing changed.";
    again.select();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  status.textContent = "Changing your password...";
  const code = form.elements.code.value.trim();
  // Every session ends with the change, this page's socket included: it must not try to
  // reconnect with the old session meanwhile (socket.js stays down while `leaving`), and
  // the page's other requests wait for the new session (api.js).
  const outcome = await replacingSession(async (ask) => {
    const grant = await resume().catch(() => null);
    state.leaving = true;
    try {
      await ask("PUT", "/password", {
        OldPassword: old.value,
        NewPassword: fresh,
        ...(code ? { Code: code } : {}),
      });
    } catch (error) {
      state.leaving = false;
      return { refused: error };
    }
    try {
      // A new session for this browser, with the new password; the socket with it. (With
      // two-factor authentication on, the code just used cannot sign in again: the
      // person logs in anew, with the next code.)
      await signIn(state.me.name, fresh, grant?.Remember ?? false);
      await renewNow();
      return { signedIn: true };
    } catch {
      return { signedIn: false };
    }
  });
  button.disabled = false;
  if (outcome.refused) {
    const error = outcome.refused;
    if (!connected()) connect();
    status.textContent = error.status === 401
      ? (error.needsCode
        ? "The code from your app is missing or wrong: nothing changed."
        : "That is not your current password: nothing changed.")
      : error.message;
    old.select();
    return;
  }
  if (!outcome.signedIn) return lent.signedOut("Your password was changed: log in with the new one.");
  if (state.ws) state.ws.close(1000, "password changed");
  connect();
  form.reset();
  status.textContent = "Your password is changed. Every other browser was logged out.";
  listSessions();
}

async function listSessions() {
  const list = $("#sessions");
  const status = $("#sessions-status");
  let sessions;
  try {
    sessions = await lent.api("GET", "/sessions");
  } catch (error) {
    status.textContent = error.message;
    return;
  }
  list.replaceChildren(...sessions.map(sessionItem));
}

function sessionItem(session) {
  const item = document.createElement("li");
  item.dataset.session = session.SessionID;
  const device = document.createElement("span");
  device.className = "device";
  device.textContent = describeDevice(session.Device);
  if (session.Device) device.title = session.Device;
  const seen = document.createElement("time");
  seen.dateTime = session.LastSeen;
  seen.textContent = session.Current
    ? "this browser"
    : `last seen ${new Date(session.LastSeen).toLocaleString()}`;
  item.append(device, seen);
  if (!session.Current) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "plain";
    button.textContent = "Log out";
    button.setAttribute("aria-label", `Log out ${device.textContent}, ${seen.textContent}`);
    button.addEventListener("click", () => endSession(session, device.textContent));
    item.append(button);
  }
  return item;
}

async function endSession(session, name) {
  const status = $("#sessions-status");
  try {
    await lent.api("DELETE", `/sessions/${encodeURIComponent(session.SessionID)}`);
    status.textContent = `Logged out: ${name}.`;
  } catch (error) {
    status.textContent = error.message;
  }
  listSessions();
}

async function logoutEverywhere() {
  try {
    await lent.api("POST", "/logout-everywhere");
  } catch (error) {
    $("#sessions-status").textContent = error.message;
    return;
  }
  lent.signedOut("You logged out everywhere: log in again.");
}

// "Firefox on Linux", from a User-Agent; the whole of it is the item's tooltip.
export function describeDevice(userAgent) {
  if (!userAgent) return "A browser that did not say which";
  const browsers = [["Edg/", "Edge"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"],
    ["Safari/", "Safari"]];
  const systems = [["Android", "Android"], ["iPhone", "iPhone"], ["iPad", "iPad"],
    ["Windows", "Windows"], ["Mac OS X", "macOS"], ["CrOS", "ChromeOS"], ["Linux", "Linux"]];
  const browser = browsers.find(([mark]) => userAgent.includes(mark))?.[1];
  const system = systems.find(([mark]) => userAgent.includes(mark))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? userAgent.slice(0, 40);
}
