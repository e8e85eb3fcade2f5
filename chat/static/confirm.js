// Asking before what cannot be taken back (removing someone from a room, a ban, deleting
// someone's message): one modal dialog (#confirm-dialog), the question and the action
// named on its button, Cancel focused first. A <dialog> keeps the focus inside while it
// is open and closes on Escape (a cancel); the focus goes back where it was.

const $ = (selector) => document.querySelector(selector);

let answer = null;   // while the dialog is open: (yes) -> settles the question asked
let wired = false;

function wire() {
  wired = true;
  $("#confirm-yes").addEventListener("click", () => answer?.(true));
  $("#confirm-no").addEventListener("click", () => answer?.(false));
  $("#confirm-dialog").addEventListener("close", () => answer?.(false));   // Escape
}

// Whether the person confirms `question` (the button says `action`): a promise of true
// or false. A question still open when another is asked is cancelled.
export function confirmAction(question, action) {
  if (!wired) wire();
  answer?.(false);
  const opener = document.activeElement;
  const dialog = $("#confirm-dialog");
  $("#confirm-question").textContent = question;
  $("#confirm-yes").textContent = action;
  return new Promise((resolve) => {
    answer = (yes) => {
      answer = null;
      if (dialog.open) dialog.close();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(yes);
    };
    dialog.showModal();
    $("#confirm-no").focus();
  });
}
