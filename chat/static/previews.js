// Link previews under a message (docs/PROTOCOL.md, "Link previews"): the cards the
// server attached (history's "Previews", a previews frame later), each a link to its
// page with the site, the title and the description as plain text; and Remove, for the
// message's author and the room's moderators (DELETE .../previews: for good, for all).
// A card's image is the server's thumbnail of the page's (/link-images/...).

import { api } from "./api.js";
import { state } from "./state.js";

// What app.js lends us (setUpPreviews): { mayRemove(authorUid) -> whether we may remove
// the previews of their message in the room shown }.
let lent = null;

const LISTS = ["#messages", "#thread-panel"];

export function setUpPreviews(lentByApp) {
  lent = lentByApp;
}

// A message put on the page, with the previews it has now.
export function showPreviews(item, message) {
  item.querySelector(".previews")?.remove();
  if (message.Deleted || !message.Previews?.length) return;
  const box = document.createElement("div");
  box.className = "previews";
  for (const preview of message.Previews) box.append(card(preview));
  if (lent?.mayRemove(message.UID)) {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "plain remove-previews";
    remove.textContent = "Remove preview";
    remove.setAttribute("aria-label", `Remove the link previews of ${message.Username}'s message`);
    remove.addEventListener("click", () => removePreviews(item, message, remove));
    box.append(remove);
  }
  // After the text and its files, before the reactions and panels.
  (item.querySelector(".files") ?? item.querySelector(".text")).after(box);
}

// A previews frame: its room's place in the stream, and the message's cards wherever
// it is shown (the room's list, the thread panel).
export function previewsChanged(frame) {
  if (frame.RoomID !== state.shown) return;
  state.since = Math.max(state.since, frame.Seq ?? 0);
  const selector = LISTS.map((list) => `${list} li[data-id="${frame.MessageID}"]`).join(", ");
  for (const item of document.querySelectorAll(selector)) {
    if (item.classList.contains("deleted") || item.classList.contains("unconfirmed")) continue;
    showPreviews(item, { ...frame, UID: Number(item.dataset.uid), Username: item.querySelector(".name")?.textContent ?? "" });
  }
}

function card(preview) {
  const link = document.createElement("a");
  link.className = "preview";
  link.href = preview.URL;
  link.target = "_blank";
  link.rel = "noopener noreferrer nofollow";
  const site = document.createElement("span");
  site.className = "site";
  site.textContent = preview.SiteName;
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = preview.Title;
  link.append(site, title);
  if (preview.Description) {
    const description = document.createElement("span");
    description.className = "description";
    description.textContent = preview.Description;
    link.append(description);
  }
  if (preview.ImageURL) {
    // The server's own thumbnail of the page's image (never the stranger's address).
    const image = document.createElement("img");
    image.src = preview.ImageURL;
    image.alt = "";
    image.loading = "lazy";
    link.append(image);
  }
  return link;
}

async function removePreviews(item, message, button) {
  button.disabled = true;
  try {
    await api("DELETE", `/messages/${message.RoomID ?? state.shown}/${message.MessageID}/previews`);
    item.querySelector(".previews")?.remove();   // the frame says so to everyone else
  } catch (error) {
    button.disabled = false;
    button.textContent = `Remove preview (${error.message})`;
  }
}
