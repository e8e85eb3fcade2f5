// E-mail in the page: the account screen's address (verified or not; a new one, or the
// same again, is sent a link: PUT /me/email) and its digest switch (PUT /me/email/digest);
// the login view's "Forgot password?" (POST /password-reset); and the two pages a mailed
// link opens (#verify-email=..., #reset-password=...). Those carry the token in the
// fragment, which no server sees: the page posts it only when the person presses the
// button, so a mail scanner fetching the link verifies or resets nothing.

import { api } from "./api.js";

const $ = (selector) => document.querySelector(selector);
const LINK = /^#(verify-email|reset-password)=([A-Za-z0-9_-]{1,128})$/;

export function setUpEmail() {
  $("#forgot-open").addEventListener("click", () => {
    const form = $("#forgot-form");
    form.hidden = !form.hidden;
    if (!form.hidden) form.elements.email.focus();
  });
  $("#forgot-form").addEventListener("submit", (event) => {
    event.preventDefault();
    askForReset();
  });
  $("#email-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sendLink();
  });
  $("#email-form").elements.digest.addEventListener("change", setDigest);
}

// The page a mailed link opened, if it is one: shown instead of the login form (true).
export function openLinkPage() {
  const match = LINK.exec(location.hash);
  if (!match) return false;
  const [, page, token] = match;
  // The token leaves the address: not in the history, not in a bookmark.
  history.replaceState(null, "", location.pathname);
  $("#login-view").hidden = true;
  if (page === "verify-email") {
    $("#verify-view").hidden = false;
    $("#verify-confirm").addEventListener("click", () => verify(token), { once: true });
  } else {
    $("#reset-view").hidden = false;
    $("#reset-form").elements.new.focus();
    $("#reset-form").addEventListener("submit", (event) => {
      event.preventDefault();
      reset(token);
    });
  }
  return true;
}

async function verify(token) {
  const status = $("#verify-status");
  try {
    const { Email } = await api("POST", "/email/verify", { Token: token });
    status.textContent = `${Email} is verified. You can close this page, or log in.`;
  } catch (error) {
    status.textContent = error.message;
  }
  $("#verify-confirm").hidden = true;
  $("#login-view").hidden = false;
}

async function reset(token) {
  const form = $("#reset-form");
  const status = $("#reset-status");
  if (form.elements.new.value !== form.elements.again.value) {
    status.textContent = "The two passwords differ.";
    return;
  }
  try {
    const { Username } = await api("POST", `/password-reset/${token}`, {
      Password: form.elements.new.value,
    });
    $("#reset-view").hidden = true;
    $("#login-view").hidden = false;
    const login = $("#login-form");
    login.elements.name.value = Username;
    login.elements.password.focus();
    $("#forgot-status").textContent = "Your password is set: log in with it.";
  } catch (error) {
    status.textContent = error.message;
  }
}

async function askForReset() {
  const form = $("#forgot-form");
  const status = $("#forgot-status");
  try {
    await api("POST", "/password-reset", { Email: form.elements.email.value });
    status.textContent = "If that is an account's verified address, a link is on its way: "
      + "it works once, for an hour.";
  } catch (error) {
    status.textContent = error.message;
  }
}

// The account screen was opened: what the server knows of our address.
export async function showEmail() {
  const form = $("#email-form");
  const state = await api("GET", "/me/email");
  form.hidden = !state.MailEnabled;
  form.elements.email.value = state.Email ?? "";
  form.elements.digest.checked = state.Digest;
  form.elements.digest.disabled = !state.Verified;
  $("#email-state").textContent = state.Email === null
    ? "No address yet."
    : `${state.Email}: ${state.Verified ? "verified" : "not verified yet"}.`;
  $("#email-status").textContent = "";
}

async function sendLink() {
  const form = $("#email-form");
  const status = $("#email-status");
  try {
    const { Email } = await api("PUT", "/me/email", { Email: form.elements.email.value });
    status.textContent = `A link is on its way to ${Email}: open it to confirm.`;
  } catch (error) {
    status.textContent = error.message;
  }
}

async function setDigest(event) {
  const status = $("#email-status");
  try {
    const state = await api("PUT", "/me/email/digest", { Digest: event.target.checked });
    status.textContent = state.Digest
      ? "You will be mailed what you miss."
      : "No more mails of what you miss.";
  } catch (error) {
    status.textContent = error.message;
  }
}
