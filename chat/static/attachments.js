// Files in messages (docs/PROTOCOL.md, "Files"). A composer's attachments (the room's,
// and the thread panel's: a box each): files chosen with its 📎 button, dropped onto
// the room (or the panel) or pasted (an image from the clipboard) are each uploaded at once (POST /files, by XMLHttpRequest for its upload
// progress; cancelling aborts it, and the server keeps nothing of a cut-off upload), and
// the next message carries the uploaded ones (at most 10). And the files of the messages
// shown: images inline from their thumbnails, sized before they load so the list does
// not jump, opened at full size in a viewer; other files as chips that download.
// Names are server text: they go into the page as text (textContent, alt), never as HTML.

const MAX_FILES = 10;   // a message carries at most this many (the server says so too)
// An inline image's box: a thumbnail (at most 400 px a side) is shown at most this large.
const SHOWN_WIDTH = 360;
const SHOWN_HEIGHT = 280;

const $ = (selector) => document.querySelector(selector);

// What app.js lends us (setUpAttachments): { token() -> the token now, renew() -> a fresh
// token (or null: the session ended) }.
let lent = null;
// A composer's box: its form, composer, list and status line; `pending`, the
// attachments of the message being written, in the order chosen: { file, name, box,
// xhr (while uploading), uploaded (the server's answer, once stored), problem (why it
// was not), again (whether trying again may help), item (its entry in the list),
// removed (cancelled or taken back) }; `sendWhenDone`, called once every upload is done
// if the person pressed Send meanwhile. The room's other rooms' attachments are put
// aside with their drafts (takeAttachments, drafts.js): their uploads go on, shown
// when they are back.
const boxOf = (form, composer, list, status) =>
  ({ form, composer, list, status, pending: [], sendWhenDone: null });
let room = null;

export function setUpAttachments(lentByApp) {
  lent = lentByApp;
  room = boxOf($("#send-form"), $("#composer"), $("#attachments"), $("#attach-status"));
  wire(room, $("#attach"), $("#attach-input"), $("#room"));
  setUpViewer();
}

// The thread panel's composer (threads.js): its attachments, as the room's, and what
// its sending needs of them.
export function setUpThreadAttachments() {
  const box = boxOf($("#thread-form"), $("#thread-composer"), $("#thread-attachments"),
    $("#thread-attach-status"));
  wire(box, $("#thread-attach"), $("#thread-attach-input"), $("#thread-panel"));
  return {
    has: () => box.pending.length > 0,
    filesToSend: (send) => filesToSendFrom(box, send),
    clear: () => clearBox(box),
  };
}

function wire(box, button, input, zone) {
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    attach(box, [...input.files]);
    input.value = "";   // the same file may be chosen again
    box.composer.focus();
  });
  box.composer.addEventListener("paste", (event) => pasted(box, event));
  acceptDrops(box, zone);
}

// --- attaching ---

// Files chosen (any way): each uploads at once; past MAX_FILES the rest are left out,
// saying so.
function attach(box, files) {
  const free = MAX_FILES - box.pending.length;
  if (files.length > free) {
    say(box, `A message carries at most ${MAX_FILES} files: ${files.length - free} left out.`);
  }
  for (const file of files.slice(0, Math.max(free, 0))) {
    const entry = {
      file, name: file.name || "file", box, xhr: null, uploaded: null, problem: null,
    };
    entry.item = document.createElement("li");
    box.pending.push(entry);
    box.list.append(entry.item);
    upload(entry);
  }
  changed(box);
}

// A paste with files in it (a screenshot, an image copied in a browser) attaches them;
// one with text pastes the text, as always (a spreadsheet's cells come as text and as a
// picture of them: the text is what is meant).
function pasted(box, event) {
  const data = event.clipboardData;
  if (data === null || data.files.length === 0 || data.types.includes("text/plain")) return;
  event.preventDefault();
  attach(box, [...data.files].map(named));
}

// The browser calls every pasted image "image.png": give it a name that tells one from
// the next, from when it was pasted.
function named(file) {
  if (!/^image\.\w+$/.test(file.name)) return file;
  const now = new Date();
  const two = (n) => String(n).padStart(2, "0");
  const stamp = `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`
    + ` ${two(now.getHours())}.${two(now.getMinutes())}.${two(now.getSeconds())}`;
  return new File([file], `Pasted image ${stamp}.${file.name.split(".").pop()}`, { type: file.type });
}

// Files dragged over `zone` (the room, the thread panel) show where to drop them;
// dropped, they attach to `box` (the panel's, inside the room, first). Anywhere else on
// the page a dropped file does nothing (the browser would open it in place of the page,
// losing what was typed).
function acceptDrops(box, zone) {
  const carriesFiles = (event) => event.dataTransfer?.types.includes("Files");
  let depth = 0;   // dragenter and dragleave come for each element crossed
  const hint = (shown) => zone.classList.toggle("dropping", shown);
  zone.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    depth += 1;
    hint(true);
  });
  zone.addEventListener("dragleave", (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(depth - 1, 0);
    if (depth === 0) hint(false);
  });
  zone.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    hint(false);
    // Dropped on the thread panel, the room hears it next: the panel's box takes them.
    if (event.attachedHere) return;
    event.attachedHere = true;
    if (box.composer.disabled) return;   // nothing may be written here (room-settings.js)
    attach(box, [...event.dataTransfer.files]);
    box.composer.focus();
  });
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (carriesFiles(event) && !zone.contains(event.target)) event.preventDefault();
    });
  }
}

// --- uploading ---

// POST /files with the file as the body. A token that expired (the page slept past
// its refresh) is renewed once and the upload starts again.
function upload(entry, renewed = false) {
  if (entry.removed) return;   // removed while its token was renewed
  const xhr = new XMLHttpRequest();
  entry.xhr = xhr;
  entry.problem = null;
  showEntry(entry, 0);
  xhr.open("POST", `/files?name=${encodeURIComponent(entry.name)}`);
  xhr.setRequestHeader("Authorization", `Bearer ${lent.token()}`);
  xhr.setRequestHeader("Content-Type", entry.file.type || "application/octet-stream");
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable && event.total > 0) showEntry(entry, event.loaded / event.total);
  });
  xhr.addEventListener("load", async () => {
    let answer = {};
    try {
      answer = JSON.parse(xhr.responseText);
    } catch {
      // Not JSON (a proxy's page): the status says enough.
    }
    if (xhr.status === 401 && answer.error === "token has expired" && !renewed) {
      if (await lent.renew().catch(() => null)) return upload(entry, true);
    }
    if (xhr.status === 201) {
      entry.uploaded = answer;
    } else {
      entry.problem = answer.error || `the server answered ${xhr.status} ${xhr.statusText}`;
      entry.again = xhr.status !== 413;   // too large stays too large
    }
    finished(entry);
  });
  xhr.addEventListener("error", () => {
    entry.problem = "the connection failed";
    entry.again = true;
    finished(entry);
  });
  xhr.send(entry.file);
}

// An upload ended, stored or not (a cancelled one is gone: it ends nowhere; one put
// aside with another room's draft is shown as it ended when it is back).
function finished(entry) {
  entry.xhr = null;
  if (entry.removed) return;
  showEntry(entry);
  if (!entry.box.pending.includes(entry)) return;
  changed(entry.box);
  sendIfDone(entry.box);
}

// Send was pressed while files were uploading: once none is, the message goes (but not
// if one failed: that is said on the file, and the message waits for the person).
function sendIfDone(box) {
  if (box.sendWhenDone === null || box.pending.some(({ xhr }) => xhr !== null)) return;
  const send = box.sendWhenDone;
  box.sendWhenDone = null;
  say(box, "");
  if (box.pending.every(({ problem }) => problem === null)) send();
}

// Cancel an upload (aborted: the server keeps nothing), or take back an uploaded file.
function remove(entry) {
  const { box } = entry;
  const index = box.pending.indexOf(entry);
  if (index === -1) return;
  box.pending.splice(index, 1);
  entry.removed = true;
  entry.xhr?.abort();
  entry.item.remove();
  changed(box);
  box.composer.focus();
  sendIfDone(box);   // the upload Send waited for may be the one cancelled
}

// One attachment in the composer: its name and size, then its upload's progress and a
// Cancel button, or (stored) its thumbnail and a Remove button, or why it was not
// stored with Retry and Remove.
function showEntry(entry, progress) {
  const { item, name } = entry;
  const existing = item.querySelector("progress");
  if (existing !== null && progress !== undefined && entry.xhr !== null) {
    existing.value = progress;   // only the bar and its count move: no rebuilding
    item.querySelector(".size").textContent = uploadedShare(entry, progress);
    return;
  }
  item.className = entry.problem !== null ? "failed" : entry.uploaded ? "uploaded" : "uploading";
  const label = document.createElement("span");
  label.className = "file-name";
  label.textContent = name;
  label.title = name;
  const size = document.createElement("span");
  size.className = "size";
  size.textContent = entry.xhr === null ? humanSize(entry.file.size) : uploadedShare(entry, progress);
  const parts = [preview(entry), label, size];
  if (entry.xhr !== null) {
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = progress ?? 0;
    bar.setAttribute("aria-label", `Uploading ${name}`);
    parts.push(bar, action("×", `Cancel uploading ${name}`, () => remove(entry)));
  } else if (entry.problem !== null) {
    const problem = document.createElement("span");
    problem.className = "problem";
    problem.setAttribute("role", "alert");
    problem.textContent = `Not uploaded: ${entry.problem}.`;
    parts.push(problem);
    if (entry.again) parts.push(action("Retry", `Upload ${name} again`, () => upload(entry)));
    parts.push(action("×", `Remove ${name}`, () => remove(entry)));
  } else {
    parts.push(action("×", `Remove ${name}`, () => remove(entry)));
  }
  item.replaceChildren(...parts);
}

// "34% of 3.0 MB"
const uploadedShare = (entry, progress) =>
  `${Math.floor((progress ?? 0) * 100)}% of ${humanSize(entry.file.size)}`;

// A stored image shows its thumbnail; anything else (and an image on its way) an icon.
function preview(entry) {
  const shape = entry.uploaded;
  if (shape?.Width) {
    const image = document.createElement("img");
    image.src = thumbnailOf(shape);
    image.alt = "";   // the name is beside it
    return image;
  }
  const icon = document.createElement("span");
  icon.className = "icon";
  icon.setAttribute("aria-hidden", "true");
  icon.append(pageIcon());
  return icon;
}

function action(label, ariaLabel, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-label", ariaLabel);
  button.addEventListener("click", onClick);
  return button;
}

// A line under the attachments, for what is not about one of them.
function say(box, text) {
  box.status.textContent = text;
  box.status.hidden = text === "";
}

// The attachments changed: the list shows while there are any, and a message may then
// be sent with no text (the composer is no longer required).
function changed(box) {
  box.form.dispatchEvent(new Event("draftchange"));   // drafts.js keeps the room's
  box.list.hidden = box.pending.length === 0;
  box.composer.required = box.pending.length === 0;
  if (box.pending.length === 0 && box.sendWhenDone === null) say(box, "");
}

// --- sending ---

export const hasAttachments = () => room.pending.length > 0;
// The composer's files already stored (drafts.js keeps them with the room's draft).
export const uploadedNow = () => uploadedOf(room.pending);

// The files the message being sent carries (the servers' answers: FileID, Name, Size,
// ContentType, Width, Height), or null if it cannot go yet: while uploads are on their
// way, `send` is called once they are all done (the person pressed Send: it goes then);
// while one failed, the message waits for it to be retried or removed.
export const filesToSend = (send) => filesToSendFrom(room, send);

function filesToSendFrom(box, send) {
  if (box.pending.some(({ problem }) => problem !== null)) {
    say(box, "Retry or remove the files that were not uploaded, then send.");
    return null;
  }
  if (box.pending.some(({ xhr }) => xhr !== null)) {
    box.sendWhenDone = send;
    say(box, "Sending when the uploads are done…");
    return null;
  }
  return box.pending.map(({ uploaded }) => uploaded);
}

// The message went: the composer starts with no attachments.
export const clearAttachments = () => clearBox(room);

function clearBox(box) {
  for (const entry of box.pending) {
    entry.removed = true;
    entry.xhr?.abort();   // (only a box given up on still uploads: another thread)
  }
  box.pending.splice(0);
  box.sendWhenDone = null;
  box.list.replaceChildren();
  changed(box);
}

// The attachments being written, taken off the composer (drafts.js keeps them with
// their room's draft). A send waiting for their uploads is called off: it was for the
// room they belong to.
export function takeAttachments() {
  const taken = room.pending.splice(0);
  room.sendWhenDone = null;
  room.list.replaceChildren();
  changed(room);
  say(room, "");
  return taken;
}

// Attachments taken by takeAttachments, back in the composer.
export function restoreAttachments(entries) {
  room.pending.push(...entries);
  room.list.replaceChildren(...entries.map(({ item }) => item));
  changed(room);
}

// The stored files of `entries` (the server's answers), as a draft kept in the
// browser's storage holds them: a file not uploaded yet cannot be kept there.
export const uploadedOf = (entries) =>
  entries.filter(({ uploaded, removed }) => uploaded && !removed).map(({ uploaded }) => uploaded);

// Entries for files stored before (a draft from the browser's storage, after a reload),
// shown as uploaded, ready to send.
export function storedEntries(files) {
  return files.slice(0, MAX_FILES).map((uploaded) => {
    const entry = {
      file: { size: uploaded.Size }, name: uploaded.Name, box: room, xhr: null, uploaded,
      problem: null,
    };
    entry.item = document.createElement("li");
    showEntry(entry);
    return entry;
  });
}

// --- files in messages ---

export const fileAddress = ({ FileID, Name }) =>
  `/files/${encodeURIComponent(FileID)}/${encodeURIComponent(Name)}`;
const thumbnailOf = ({ FileID }) => `/files/${encodeURIComponent(FileID)}/thumbnail`;

// "📎 chart.png, report.pdf": a message's files in a line of text (quotes, the
// announcer, notifications of a message with no text).
export function describeFiles(files) {
  if (!files?.length) return "";
  return `📎 ${files.map(({ Name }) => Name).join(", ")}`;
}

// The same for a message on the page (its item), from what it shows.
export function describeFilesIn(item) {
  const names = [...item.querySelectorAll(".files img, .files .file-name")]
    .map((shown) => (shown.alt ?? shown.textContent));
  return describeFiles(names.map((Name) => ({ Name })));
}

// A message's files, under its text: images inline (a thumbnail in a box of its final
// size, so nothing moves when it loads; a click opens the full size), other files as
// chips with their size (a click downloads).
export function showFiles(item, files) {
  if (!files?.length) return;
  const box = document.createElement("div");
  box.className = "files";
  for (const file of files) box.append(file.Width && file.Height ? inlineImage(file) : chip(file));
  item.querySelector(".text").after(box);
}

function inlineImage(file) {
  const link = document.createElement("a");
  link.className = "image";
  link.href = fileAddress(file);
  link.title = `${file.Name} (${file.Width} × ${file.Height}, ${humanSize(file.Size)})`;
  const image = document.createElement("img");
  const scale = Math.min(1, SHOWN_WIDTH / file.Width, SHOWN_HEIGHT / file.Height);
  image.width = Math.max(1, Math.round(file.Width * scale));
  image.height = Math.max(1, Math.round(file.Height * scale));
  image.alt = file.Name;
  image.src = thumbnailOf(file);
  image.loading = "lazy";
  link.append(image);
  // A plain click opens the viewer; a middle click or a modified one (a new tab) is
  // the browser's, as for any link.
  link.addEventListener("click", (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    view(file);
  });
  return link;
}

function chip(file) {
  const link = document.createElement("a");
  link.className = "file";
  link.href = fileAddress(file);
  link.download = file.Name;
  link.title = `Download ${file.Name}`;
  const name = document.createElement("span");
  name.className = "file-name";
  name.textContent = file.Name;
  const size = document.createElement("span");
  size.className = "size";
  size.textContent = ` · ${humanSize(file.Size)}`;
  link.append(pageIcon(), name, size);
  return link;
}

function pageIcon() {
  const icon = document.createElement("span");
  icon.className = "icon-page";
  icon.setAttribute("aria-hidden", "true");
  return icon;
}

// 48213 -> "48 KB": decimal units, one decimal place under 10.
export function humanSize(bytes) {
  const units = ["bytes", "KB", "MB", "GB"];
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < units.length - 1) {
    size /= 1000;
    unit += 1;
  }
  if (unit === 0) return size === 1 ? "1 byte" : `${size} bytes`;
  return `${size < 10 ? size.toFixed(1) : Math.round(size)} ${units[unit]}`;
}

// --- the viewer: an image at full size ---

function setUpViewer() {
  const viewer = $("#viewer");
  $("#viewer-close").addEventListener("click", () => viewer.close());
  // A click on the backdrop (the dialog itself, around its content) closes it.
  viewer.addEventListener("click", (event) => {
    if (event.target === viewer) viewer.close();
  });
  viewer.addEventListener("close", () => $("#viewer-image").removeAttribute("src"));
}

function view(file) {
  const image = $("#viewer-image");
  image.alt = file.Name;
  image.width = file.Width;
  image.height = file.Height;
  image.src = fileAddress(file);
  $("#viewer-name").textContent = `${file.Name} · ${file.Width} × ${file.Height} · ${humanSize(file.Size)}`;
  const download = $("#viewer-download");
  download.href = fileAddress(file);
  download.download = file.Name;
  $("#viewer").showModal();
}
