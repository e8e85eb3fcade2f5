// Your account (docs/SECURITY.md, "Your data"): "Download my data" (GET /me/export, a zip
// archive the browser downloads with the session cookie) and "Delete account" (DELETE /me
// with the password; what is erased and what is kept is said before asking).

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpAccount): { api(method, path, body), erased(message) -> the
// page ends its session and shows the login page with `message` }.
let lent = null;

export function setUpAccount(lentByApp) {
  lent = lentByApp;
  $("#account").addEventListener("click", open);
  $("#account-close").addEventListener("click", () => $("#account-dialog").close());
  $("#delete-account-form").addEventListener("submit", (event) => {
    event.preventDefault();
    erase();
  });
}

function open() {
  const form = $("#delete-account-form");
  form.reset();
  $("#delete-account-error").hidden = true;
  $("#account-dialog").showModal();
  $("#download-data").focus();
}

async function erase() {
  const form = $("#delete-account-form");
  const button = form.querySelector("button[type=submit]");
  const problem = $("#delete-account-error");
  problem.hidden = true;
  button.disabled = true;
  try {
    await lent.api("DELETE", "/me", { Password: form.elements.password.value });
  } catch (error) {
    problem.textContent = error.status === 401
      ? "That is not your password: nothing was deleted."
      : error.message;
    problem.hidden = false;
    form.elements.password.select();
    return;
  } finally {
    button.disabled = false;
  }
  $("#account-dialog").close();
  lent.erased("Your account was deleted.");
}
