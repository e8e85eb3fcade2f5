// Who may register here (GET /registration; docs/PROTOCOL.md, "Who may register; invite
// links"): the login form says so before anyone types, takes an invite link's code
// (/?invite=CODE: filled in, then taken out of the address bar and its history, as a
// secret), and Register sends it ("invite").

const $ = (selector) => document.querySelector(selector);

// The code of an invite link this page was opened with, or null; the address is left
// without it (a bookmark, a shared screen or the history must not keep it).
function inviteFromAddress() {
  const params = new URLSearchParams(location.search);
  const code = params.get("invite");
  if (code === null) return null;
  params.delete("invite");
  const rest = params.toString();
  const address = `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`;
  history.replaceState(history.state, "", address);
  return code;
}

function showInviteField() {
  $("#invite-field").hidden = false;
}

// What the policy means for someone at the login form, said above its buttons.
function explain(policy) {
  const note = $("#registration-note");
  if (policy.Registration === "closed") {
    note.textContent =
      "Registration is closed on this server: ask its operators for an account.";
    $("#register").disabled = true;
    $("#register").hidden = true;   // nothing to choose: Log in is the only way in
  } else if (policy.Registration === "invite") {
    note.textContent =
      "Registration here is by invitation: open your invite link, or paste its code.";
    showInviteField();
  } else if (policy.EmailDomains.length > 0) {
    note.textContent = "Registering here takes an invite link: ask someone who is in.";
    showInviteField();
  }
  note.hidden = note.textContent === "";
}

// Take an invite link's code, then ask the server who may register (once the login
// form's buttons are usable: login.js).
export async function setUpRegistration() {
  const code = inviteFromAddress();
  if (code !== null) {
    $("#login-form").elements.invite.value = code;
    showInviteField();
  }
  let policy;
  try {
    const response = await fetch("/registration");
    if (!response.ok) return;
    policy = await response.json();
  } catch {
    return;   // offline: the form stays as it is, and Register says why if refused
  }
  explain(policy);
}

// The invite code to register with, or undefined (none typed or given).
export function inviteCode() {
  const code = $("#login-form").elements.invite.value.trim();
  return code === "" ? undefined : code;
}
