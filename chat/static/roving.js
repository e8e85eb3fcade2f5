// Arrow keys in menus and pickers, the same everywhere: one of a group's buttons is in
// the Tab order (the one last chosen, "roving" focus); the arrow keys move between them
// (Left/Up back, Right/Down on, wrapping around), Home and End go to the first and the
// last. And a menu opened by a button: Escape, or a click elsewhere, closes it and
// focus goes back to its button. Any picker or menu can use these (changes.js's
// reaction picker, menus.js's message and room menus).

const openMenus = [];   // { button, panel, close } of the menus open, the latest last

// Arrow keys move the focus among `container`'s `selector` elements (those shown).
// `tabStops`: only the one last focused is in the Tab order (a picker); false leaves the
// Tab order alone (a menu, or a bar of buttons that is a menu on a phone only).
export function rovingFocus(container, { selector = "button", tabStops = true } = {}) {
  const items = () => [...container.querySelectorAll(selector)].filter(
    (item) => !item.disabled && item.getClientRects().length > 0,
  );
  const settle = (current) => {
    if (!tabStops) return;
    for (const item of items()) item.tabIndex = item === current ? 0 : -1;
  };
  container.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const all = items();
    const at = all.indexOf(document.activeElement);
    if (at === -1 || all.length === 0) return;
    const to = {
      ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1,
      Home: 0, End: all.length - 1,
    }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const next = all[(to + all.length) % all.length];
    settle(next);
    next.focus();
  });
  container.addEventListener("focusin", (event) => {
    if (items().includes(event.target)) settle(event.target);
  });
  settle(items()[0]);
}

// `button` opens and closes `panel` (a menu of buttons, with the arrow keys): `onOpen`
// and `onClose` show and hide it. Returns { open, close }.
export function menuButton(button, panel, { onOpen, onClose }) {
  button.setAttribute("aria-expanded", "false");
  rovingFocus(panel, { tabStops: false });
  const entry = { button, panel, close: null };
  const close = ({ focus = false } = {}) => {
    const at = openMenus.indexOf(entry);
    if (at === -1) return;
    openMenus.splice(at, 1);
    button.setAttribute("aria-expanded", "false");
    onClose();
    if (focus) button.focus();
  };
  entry.close = close;
  const open = () => {
    closeMenus();
    openMenus.push(entry);
    button.setAttribute("aria-expanded", "true");
    onOpen();
    const first = [...panel.querySelectorAll("button")].find((b) => b.getClientRects().length > 0);
    first?.focus();
  };
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    if (openMenus.includes(entry)) close();
    else open();
  });
  // A choice made in the menu closes it (what it does may move the focus on).
  panel.addEventListener("click", (event) => {
    if (event.target.closest("button") !== null) close();
  });
  return { open, close };
}

// Close every menu open (a click elsewhere); returns whether there was one.
export function closeMenus() {
  const had = openMenus.length > 0;
  for (const { close } of [...openMenus].reverse()) close();
  return had;
}

// Escape closes the latest menu open, focus back on its button; returns whether it did.
export function escapeMenu() {
  const latest = openMenus.at(-1);
  if (latest === undefined) return false;
  latest.close({ focus: true });
  return true;
}

document.addEventListener("click", (event) => {
  for (const { panel, close } of [...openMenus]) {
    if (!panel.contains(event.target)) close();
  }
});
