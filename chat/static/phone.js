// A phone (a narrow screen, or one without hover): the page gives the messages the
// screen. The search box opens under a button; the room's tools (Settings, Reports,
// Leave, notifications, Invite) wait behind its "⋯" button; its topic shows one line
// until tapped; and each message's actions (Reply, React, Edit, Delete, Report) wait
// behind one "⋯" button of its own (addMessageMenu), instead of a row under every
// message. Which of these show is the style sheet's choice (style.css, "a phone").

import { menuButton } from "./roving.js";

const $ = (selector) => document.querySelector(selector);

// A message's "⋯" button, opening its actions as a menu (arrow keys, Escape).
export function addMessageMenu(item, author, idPrefix = "actions-") {
  const actions = item.querySelector(".actions");
  if (actions === null) return;
  actions.id = `${idPrefix}${item.dataset.id}`;   // (a message shown twice: two prefixes)
  const more = document.createElement("button");
  more.type = "button";
  more.className = "more-button";
  more.textContent = "⋯";
  more.setAttribute("aria-label", `Actions on ${author}'s message`);
  more.setAttribute("aria-controls", actions.id);
  more.setAttribute("aria-haspopup", "true");
  actions.before(more);
  menuButton(more, actions, {
    onOpen: () => item.classList.add("menu-open"),
    onClose: () => item.classList.remove("menu-open"),
  });
}

export function setUpPhone() {
  const header = $("header");
  $("#search-open").addEventListener("click", () => {
    const open = !header.classList.contains("searching");
    header.classList.toggle("searching", open);
    $("#search-open").setAttribute("aria-expanded", String(open));
    if (open) $("#search-q").focus();
  });
  menuButton($("#room-more"), $("#room-tools"), {
    onOpen: () => $("#room-header").classList.add("tools-open"),
    onClose: () => $("#room-header").classList.remove("tools-open"),
  });
  $("#invite-open").addEventListener("click", () => {
    $("#room").classList.add("inviting");
    $("#invitee").focus();
  });
  // The topic, one line on a phone: a tap (or Enter) shows it whole, another folds it.
  const topic = $("#room-topic");
  topic.addEventListener("click", () => topic.classList.toggle("whole"));
}
