// Logging in and out: the login form (Log in, or Register once chosen, with an invite
// code: registration.js; the code of two-factor authentication when the server asks
// for it), the session it begins (session.js) and the page started with it (the room
// list, then the socket), a session the browser already has (no form then), and Log
// out.

import { firstRoom } from "./address.js";
import { adminSignedIn } from "./admin.js";
import { api } from "./api.js";
import { signedIn } from "./attention.js";
import { forgetDrafts } from "./drafts.js";
import { learnName } from "./names.js";
import { clearError, showError } from "./notices.js";
import { inviteCode, setUpRegistration } from "./registration.js";
import { forgetOffline } from "./offline.js";
import { stopPush } from "./push.js";
import { loadRooms } from "./rooms.js";
import { ownStatus } from "./status.js";
import { resume, signIn, signOut, stayFresh } from "./session.js";
import { connect } from "./socket.js";
import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

function claims(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part));
}

// The login form logs in, or registers once the person chose to (focused or clicked
// Register; Log in takes it back): Enter in a field then does what the chosen button
// says, a password manager is asked for a new password, and the rule for new passwords
// (validation.MIN_PASSWORD_CHARS) is shown before it is broken.
function chooseRegistering(registering) {
  state.registering = registering;
  $("#login-form").elements.password.autocomplete = registering
    ? "new-password"
    : "current-password";
  // Shown or not, the hint keeps its place: the form must not move under the pointer
  // between the press on Register (which focuses it) and the release (the click).
  $("#password-hint").classList.toggle("shown", registering);
  $("#register").classList.toggle("chosen", registering);
}

// Register (if asked to), then sign in: a session cookie (session.js), which "Keep me
// signed in" makes last across browser restarts, and a token kept in memory only.
async function authenticate(registering) {
  clearError();
  const form = $("#login-form");
  const username = form.elements.name.value;
  const password = form.elements.password.value;
  const code = $("#login-code").hidden ? "" : form.elements.code.value.trim();
  try {
    if (registering) {
      await api("POST", "/api/reg", { username, password, invite: inviteCode() });
    }
    await begin(await signIn(username, password, form.elements.remember.checked, code));
  } catch (error) {
    if (error.needsCode) return askForCode(code !== "");
    showError(error.message);
  }
}

// The password was right and the account has two-factor authentication on: the form
// asks for the code (the server said so: "NeedsCode"), and Log in sends both again.
function askForCode(wrong) {
  const field = $("#login-form").elements.code;
  $("#login-code").hidden = false;
  $("#login-code-hint").hidden = false;
  if (wrong) showError("That code is wrong or was used already: enter the one your app shows now.");
  field.value = "";
  field.focus();
}

// Start the page with a session's grant ({ token, ExpiresIn, ... }), keeping its token
// fresh until the session ends.
async function begin(grant) {
  stayFresh(grant, (token) => { state.token = token; }, () => {
    logout("Your session has ended: log in again.");
  });
  await start(grant.token);
}

async function start(token) {
  state.token = token;
  const { sub, name } = claims(token);
  state.me = { uid: Number(sub), name };
  let profileName = null;
  let operator = false;
  try {
    const profile = await api("GET", "/profile");
    state.me.name = profile.Username;
    operator = profile.Operator === true;
    profileName = profile.DisplayName ?? null;
    ownStatus(profile.Status ?? null);   // beside our name; do not disturb (status.js)
  } catch (error) {
    if (error.status === 401) return logout("Your session has expired: log in again.");
    if (error.status === 403 && error.message.includes("two-factor")) return enrolFirst();
    showError(error.message);
  }
  learnName(state.me.uid, state.me.name);
  // The header says who you are as others see you: your display name, if you chose one.
  const whoami = $("#whoami");
  whoami.textContent = profileName ?? state.me.name;
  whoami.dataset.uid = String(state.me.uid);
  whoami.title = `logged in as ${state.me.name} (user number ${state.me.uid})`;
  $("#login-view").hidden = true;
  $("#chat-view").hidden = false;
  $("#logout").hidden = false;
  $("#account").hidden = false;
  $("#menu").hidden = false;
  $("#search-form").hidden = false;
  adminSignedIn(operator);   // the Admin button; the console itself at /admin (admin.js)
  await loadRooms();
  if (state.room === null) state.room = firstRoom();
  connect();
  signedIn();  // Web Push, if notifications are allowed (attention.js)
}

// The server requires two-factor authentication (CHAT_REQUIRE_2FA) and this account has
// none: nothing but the account screen works until it is on (two-factor.js reloads the
// page once it is, and the chat opens).
function enrolFirst() {
  state.enrolFirst = true;
  $("#login-view").hidden = true;
  $("#logout").hidden = false;
  $("#account").hidden = false;
  showError("This server requires two-factor authentication: turn it on in your account.");
  $("#account").click();
}

export async function logout(message) {
  if (state.accountDeleted) return;   // the page says so already (account.js)
  if (message) sessionStorage.setItem("chat.notice", message);
  state.leaving = true;
  if (state.ws) state.ws.close(1000, "logged out");
  await stopPush(api);  // the next person on this browser is pushed nothing of ours
  await forgetOffline();  // nor reads what we read
  await signOut();
  location.reload();
}

// The login form's buttons and Log out (once the page is loaded: app.js).
export function setUpLogin() {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    authenticate(state.registering);
  });
  // The choice is made when a button is focused or clicked (a click reaches the button
  // before the submit it causes). Enter in a field also "clicks" Log in, the form's
  // default button, but with no pointer (event.detail 0): that one is not a choice.
  $("#login").addEventListener("focus", () => chooseRegistering(false));
  $("#login").addEventListener("click", (event) => {
    if (event.detail > 0) chooseRegistering(false);
  });
  $("#register").addEventListener("focus", () => chooseRegistering(true));
  $("#register").addEventListener("click", () => {
    chooseRegistering(true);
    authenticate(true);
  });
  $("#logout").addEventListener("click", () => {
    forgetDrafts();   // a shared browser keeps nothing that was being written
    logout();
  });
  // Usable now that a submit is ours (index.html has them disabled until this point).
  $("#login").disabled = false;
  $("#register").disabled = false;
  setUpRegistration();   // an invite link's code; Register disabled if registration is closed
}

// A session this browser already has (another tab, "keep me signed in"): no login form.
// No server to ask (offline): `offline()` shows what this browser kept, read-only.
export function resumeSession(offline) {
  resume().then((grant) => { if (grant !== null) begin(grant); }, offline);
}
