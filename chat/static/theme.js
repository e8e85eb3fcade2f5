// The page's theme: the system's (prefers-color-scheme, the default), light or dark, as
// chosen in the account screen and kept in the browser (localStorage). style.css has
// each colour for both themes; this sets <html data-theme> to the one chosen ("light",
// "dark", or none: the system's). Applied as soon as this module runs.

const KEY = "chat.theme";
const CHOICES = ["system", "light", "dark"];

export function chosenTheme() {
  try {
    const kept = localStorage.getItem(KEY);
    return CHOICES.includes(kept) ? kept : "system";
  } catch {
    return "system";  // no storage: the system's
  }
}

function apply(theme) {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

apply(chosenTheme());

// The account screen's switch: a group of three radio buttons (System, Light, Dark),
// made here and put in `container`; a choice applies at once and is kept.
export function addThemeSwitch(container) {
  const group = document.createElement("fieldset");
  group.id = "theme-switch";
  const legend = document.createElement("legend");
  legend.textContent = "Theme";
  group.append(legend);
  for (const theme of CHOICES) {
    const label = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "theme";
    radio.value = theme;
    radio.checked = theme === chosenTheme();
    radio.addEventListener("change", () => {
      try {
        if (theme === "system") localStorage.removeItem(KEY);
        else localStorage.setItem(KEY, theme);
      } catch {
        // Applied to this page only, then.
      }
      apply(theme);
    });
    label.append(radio, ` ${theme === "system" ? "As the system" : theme[0].toUpperCase() + theme.slice(1)}`);
    group.append(label);
  }
  container.append(group);
}
