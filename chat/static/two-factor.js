// Two-factor authentication in the account screen (docs/PROTOCOL.md, "Two-factor
// authentication"): turning it on (POST /me/2fa: a QR code and its key, not in force
// until POST /me/2fa/confirm with a first code; then the ten recovery codes, shown this
// once, with a button to copy them), and off (DELETE /me/2fa with the password and a
// code). While it is on, the password and delete forms ask for a code too.

import { state } from "./state.js";

const $ = (selector) => document.querySelector(selector);

// What app.js lends (account.js passes it on): { api }.
let lent = null;

export function setUpTwoFactor(lentByApp) {
  lent = lentByApp;
  $("#two-factor-start").addEventListener("click", start);
  $("#two-factor-enrol").addEventListener("submit", (event) => {
    event.preventDefault();
    confirm();
  });
  $("#two-factor-off").addEventListener("submit", (event) => {
    event.preventDefault();
    turnOff();
  });
  $("#two-factor-copy").addEventListener("click", copyCodes);
  // A page that could do nothing until it was on (login.js) starts the chat once the
  // screen showing the recovery codes is closed.
  $("#account-dialog").addEventListener("close", () => {
    if (state.enrolFirst && !$("#two-factor-off").hidden) location.reload();
  });
}

// The account screen was opened: say whether it is on (the promise settles once shown).
export async function showTwoFactor() {
  $("#two-factor-enrol").hidden = true;
  $("#two-factor-codes").hidden = true;
  $("#two-factor-off").elements.username.value = state.me.name;
  try {
    draw(await lent.api("GET", "/me/2fa"));
  } catch (error) {
    $("#two-factor-status").textContent = error.message;
  }
}

function draw(found) {
  const on = found.Enabled;
  $("#two-factor-state").textContent = on
    ? `On: logging in asks for a code from your app. Recovery codes left: ${found.RecoveryCodesLeft}.`
    : "Off: your password alone logs you in.";
  $("#two-factor-start").hidden = on;
  $("#two-factor-off").hidden = !on;
  // The password change and the deletion ask for a code while it is on.
  for (const label of document.querySelectorAll("#account-dialog .second-factor")) {
    label.hidden = !on;
    label.querySelector("input").required = on;
  }
}

async function start() {
  const status = $("#two-factor-status");
  status.textContent = "";
  let enrolment;
  try {
    enrolment = await lent.api("POST", "/me/2fa");
  } catch (error) {
    status.textContent = error.message;
    return;
  }
  $("#two-factor-qr").src = enrolment.QR;
  $("#two-factor-secret").textContent = enrolment.Secret;
  $("#two-factor-start").hidden = true;
  const form = $("#two-factor-enrol");
  form.hidden = false;
  form.elements.code.value = "";
  form.elements.code.focus();
}

async function confirm() {
  const form = $("#two-factor-enrol");
  const status = $("#two-factor-status");
  let answer;
  try {
    answer = await lent.api("POST", "/me/2fa/confirm", { Code: form.elements.code.value.trim() });
  } catch (error) {
    status.textContent = error.status === 401
      ? "That code is not the one the app shows now: check the app and try again."
      : error.message;
    form.elements.code.select();
    return;
  }
  form.hidden = true;
  $("#two-factor-qr").removeAttribute("src");
  $("#two-factor-secret").textContent = "";
  const list = $("#two-factor-code-list");
  list.replaceChildren(...answer.RecoveryCodes.map((code) => {
    const item = document.createElement("li");
    item.textContent = code;
    return item;
  }));
  $("#two-factor-codes").hidden = false;
  status.textContent = state.enrolFirst
    ? "Two-factor authentication is on: close this screen to open the chat."
    : "Two-factor authentication is on.";
  draw({ Enabled: true, RecoveryCodesLeft: answer.RecoveryCodes.length });
}

async function copyCodes() {
  const codes = [...document.querySelectorAll("#two-factor-code-list li")]
    .map((item) => item.textContent);
  const status = $("#two-factor-status");
  try {
    await navigator.clipboard.writeText(codes.join("\n"));
    status.textContent = "The recovery codes are copied.";
  } catch {
    status.textContent = "Copying is not allowed here: select the codes and copy them.";
  }
}

async function turnOff() {
  const form = $("#two-factor-off");
  const status = $("#two-factor-status");
  try {
    await lent.api("DELETE", "/me/2fa", {
      Password: form.elements.password.value,
      Code: form.elements.code.value.trim(),
    });
  } catch (error) {
    status.textContent = error.status === 401
      ? "The password or the code is wrong: two-factor authentication is still on."
      : error.message;
    return;
  }
  form.reset();
  form.elements.username.value = state.me.name;
  $("#two-factor-codes").hidden = true;
  status.textContent = "Two-factor authentication is off.";
  draw({ Enabled: false, RecoveryCodesLeft: 0 });
}
