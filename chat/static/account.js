// Your account (docs/PROTOCOL.md, "Profiles"; docs/SECURITY.md, "Your data"): how others
// see you (a display name, PUT /profile; a picture, PUT and DELETE /profile/avatar), your
// password and sessions (account-security.js), two-factor authentication (two-factor.js),
// "Download my data" (GET /me/export, a zip archive the browser downloads with the
// session cookie), invite links (invites.js) and "Delete account" (DELETE /me with the
// password, once the user name is typed: what is erased and what is kept is said before
// asking; then a page that says the account is deleted).

import { setUpSecurity, showSecurity } from "./account-security.js";
import { setUpInvites, showInvites } from "./invites.js";
import { showEmail } from "./email.js";
import { setUpTokens, showTokens } from "./tokens.js";
import { setUpTwoFactor, showTwoFactor } from "./two-factor.js";
import { connect, connected } from "./socket.js";
import { state } from "./state.js";
import { avatar } from "./timeline.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpAccount): { api(method, path, body), erased() -> the page
// forgets its session (nothing else may end it meanwhile), signedOut(message) -> the page
// ends its session and shows the login page with `message` }.
let lent = null;

export function setUpAccount(lentByApp) {
  lent = lentByApp;
  $("#account").addEventListener("click", open);
  $("#account-close").addEventListener("click", () => $("#account-dialog").close());
  $("#profile-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveDisplayName();
  });
  $("#avatar-file").addEventListener("change", uploadAvatar);
  $("#avatar-remove").addEventListener("click", removeAvatar);
  $("#delete-account-form").addEventListener("submit", (event) => {
    event.preventDefault();
    erase();
  });
  setUpSecurity(lent);
  setUpTokens(lent);
  setUpTwoFactor(lent);
  setUpInvites(lent);
}

async function open() {
  for (const form of document.querySelectorAll("#account-dialog form")) form.reset();
  for (const status of document.querySelectorAll("#account-dialog [role=status]")) {
    status.textContent = "";
  }
  $("#delete-account-error").hidden = true;
  $("#login-name").textContent = state.me.name;
  $("#delete-name").textContent = state.me.name;
  // The profile first: what is typed in the dialog must not be replaced by its answer.
  try {
    showProfile(await lent.api("GET", "/profile"));
  } catch (error) {
    $("#profile-status").textContent = error.message;
  }
  if ($("#account-dialog").open) return;   // opened twice meanwhile
  $("#account-dialog").showModal();
  $("#profile-form").elements.display.focus();
  // Each list shows its own failure; none stops the others.
  Promise.allSettled([showSecurity(), showTokens(), showInvites(), showTwoFactor(), showEmail()]);
}

// The profile as the server answered it: the display name, and the picture (or the
// initial of the name, as on messages, when there is none).
function showProfile(profile) {
  $("#profile-form").elements.display.value = profile.DisplayName ?? "";
  const preview = $("#avatar-preview");
  // Without a picture: the badge messages show, with the initial of the user name.
  const none = avatar(profile.Username);
  none.id = "avatar-none";
  none.classList.add("avatar-large");
  $("#avatar-none").replaceWith(none);
  if (profile.AvatarURL) {
    preview.src = profile.AvatarURL;
    preview.alt = "your picture";
  }
  preview.hidden = !profile.AvatarURL;
  none.hidden = Boolean(profile.AvatarURL);
  $("#avatar-remove").hidden = !profile.AvatarURL;
}

async function saveDisplayName() {
  const status = $("#profile-status");
  const value = $("#profile-form").elements.display.value.trim();
  status.textContent = "";
  try {
    const profile = await lent.api("PUT", "/profile", { DisplayName: value });
    showProfile(profile);
    $("#whoami").textContent = profile.DisplayName ?? profile.Username;   // the header's name
    status.textContent = profile.DisplayName
      ? `Saved: your messages now show "${profile.DisplayName}".`
      : "Saved: your messages show your user name only.";
  } catch (error) {
    status.textContent = error.message;
  }
}

// The chosen file is the body of PUT /profile/avatar (the server reads its type from its
// bytes, and says so when it is not a picture).
async function uploadAvatar() {
  const input = $("#avatar-file");
  const file = input.files[0];
  if (!file) return;
  const status = $("#profile-status");
  status.textContent = "Uploading your picture...";
  try {
    showProfile(await sendAvatar(file));
    status.textContent = "Your picture is saved.";
  } catch (error) {
    status.textContent = error.message;
  } finally {
    input.value = "";
  }
}

async function sendAvatar(file) {
  const response = await fetch("/profile/avatar", {
    method: "PUT",
    headers: { Authorization: `Bearer ${state.token}` },
    body: file,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

async function removeAvatar() {
  const status = $("#profile-status");
  try {
    showProfile(await lent.api("DELETE", "/profile/avatar"));
    status.textContent = "Your picture is removed.";
  } catch (error) {
    status.textContent = error.message;
  }
}

async function erase() {
  const form = $("#delete-account-form");
  const button = form.querySelector("button[type=submit]");
  const problem = $("#delete-account-error");
  problem.hidden = true;
  if (form.elements.confirm.value.trim() !== state.me.name) {
    problem.textContent = `Type your user name, ${state.me.name}, exactly: nothing was deleted.`;
    problem.hidden = false;
    form.elements.confirm.select();
    return;
  }
  button.disabled = true;
  // The server closes this page's socket as it erases: it must not try to reconnect.
  state.leaving = true;
  try {
    const code = form.elements.code.value.trim();
    await lent.api("DELETE", "/me", {
      Password: form.elements.password.value,
      ...(code ? { Code: code } : {}),
    });
  } catch (error) {
    state.leaving = false;
    if (!connected()) connect();
    problem.textContent = error.status === 401
      ? (error.needsCode
        ? "The code from your app is missing or wrong: nothing was deleted."
        : "That is not your password: nothing was deleted.")
      : error.message;
    problem.hidden = false;
    form.elements.password.select();
    return;
  } finally {
    button.disabled = false;
  }
  $("#account-dialog").close();
  lent.erased();
  showDeleted();
}

// The ending page: the account is gone, and nothing of the chat is shown any more.
function showDeleted() {
  for (const id of ["chat-view", "login-view", "logout", "account", "menu", "search-form"]) {
    $(`#${id}`).hidden = true;
  }
  for (const id of ["connection", "notify-ask", "offline", "error", "notice"]) {
    $(`#${id}`).hidden = true;
  }
  $("#whoami").textContent = "";
  document.body.dataset.ended = "account deleted";   // the connection's badge too
  $("#deleted-view").hidden = false;
  $("#deleted-heading").focus();
  document.title = "Account deleted - chat";
}
