// What the page says above the conversation: an error (#error), a notice that is no
// error (#notice: the page went somewhere else than asked, say), each closable, and the connection's
// state (the header's badge and the "Not connected" banner). The other modules show
// their errors and notices through these.

const $ = (selector) => document.querySelector(selector);

// Each of the two has its × button (a button: reachable by Tab, pressed by Enter or
// Space), shown with it; Escape on the button closes it too.
let wired = false;
function wire() {
  wired = true;
  for (const button of document.querySelectorAll(".close-note")) {
    const close = () => {
      hide(`#${button.dataset.closes}`);
      $("#composer")?.focus();   // somewhere to be, as the button goes
    };
    button.addEventListener("click", close);
    button.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
  }
}

function showIn(selector, text) {
  if (!wired) wire();
  const box = $(selector);
  box.textContent = text;
  box.hidden = false;
  const close = box.nextElementSibling;
  if (close?.classList.contains("close-note")) close.hidden = false;
}

function hide(selector) {
  const box = $(selector);
  box.hidden = true;
  const close = box.nextElementSibling;
  if (close?.classList.contains("close-note")) close.hidden = true;
}

export const showError = (text) => showIn("#error", text);
export const clearError = () => hide("#error");
// A short note that is not an error (the page went somewhere else than asked).
export const showNotice = (text) => showIn("#notice", text);
export const clearNotice = () => hide("#notice");

const CONNECTION_LABELS = {
  connecting: "connecting...",
  online: "online",
  reconnecting: "reconnecting...",
  offline: "offline",
};

// The "Not connected" banner follows the connection and nothing else: it is up while we
// are away and trying again, and goes as soon as a socket opens. (It used to be an error
// message that only the next click cleared, so it stayed up after a reconnection.)
export function setConnection(status) {
  const badge = $("#connection");
  badge.hidden = false;  // hidden on the login page: nothing is connecting yet
  badge.dataset.state = status;
  badge.textContent = CONNECTION_LABELS[status];
  $("#offline").hidden = status !== "reconnecting";
}
