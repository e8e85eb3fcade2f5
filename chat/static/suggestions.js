// A list of suggestions for what is being typed before the composer's caret, as
// completion.js (`@` names) and emoji-completion.js (`:` emoji) offer them: a listbox
// above the composer; Up and Down choose, Enter or Tab takes the one chosen, Escape
// closes it. The textarea keeps the focus throughout (aria-activedescendant tells a
// screen reader which one is chosen).

// The list `box` (a <ul role=listbox>) for `input`, its options' ids starting `idPrefix`.
// Returns { show(choices, label(choice) -> text or node, take(choice)), close() }. Set
// up before sending.js's keydown (Enter sends): a key used here is not used again there.
export function suggestionList(input, box, idPrefix) {
  let choices = [];
  let chosen = 0;
  let take = null;
  const controls = new Set((input.getAttribute("aria-controls") ?? "").split(" ").filter(Boolean));
  controls.add(box.id);
  input.setAttribute("aria-controls", [...controls].join(" "));
  input.setAttribute("aria-autocomplete", "list");

  const choose = (index) => {
    chosen = index;
    for (const [i, option] of [...box.children].entries()) {
      option.setAttribute("aria-selected", String(i === index));
    }
    input.setAttribute("aria-activedescendant", `${idPrefix}${index}`);
  };
  const close = () => {
    if (box.hidden) return;
    box.hidden = true;
    box.replaceChildren();
    choices = [];
    input.removeAttribute("aria-activedescendant");
  };
  const show = (shown, label, taken) => {
    choices = shown;
    take = taken;
    if (shown.length === 0) return close();
    box.replaceChildren(...shown.map((choice, i) => {
      const option = document.createElement("li");
      option.id = `${idPrefix}${i}`;
      option.setAttribute("role", "option");
      option.append(label(choice));
      // mousedown, not click: the textarea must not lose the focus first.
      option.addEventListener("mousedown", (event) => {
        event.preventDefault();
        taken(choice);
      });
      return option;
    }));
    // (No aria-expanded: a textarea may not carry it. The list's own hidden state, and
    // aria-activedescendant naming an option in it, say whether it is open.)
    box.hidden = false;
    choose(0);
  };

  input.addEventListener("blur", () => setTimeout(close, 150));
  input.addEventListener("keydown", (event) => {
    if (box.hidden || event.isComposing) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      choose((chosen + step + choices.length) % choices.length);
    } else if (event.key === "Enter" || event.key === "Tab") {
      take(choices[chosen]);
    } else if (event.key === "Escape") {
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  });
  return { show, close };
}

// Put `text` and a space in place of the word before `input`'s caret that `typed`
// (a pattern whose group 1 is that word) finds; false if there is none.
export function replaceTyped(input, typed, text) {
  const before = input.value.slice(0, input.selectionStart);
  const after = input.value.slice(input.selectionStart);
  const found = typed.exec(before);
  if (found === null) return false;
  const start = before.length - found[1].length;
  input.value = `${before.slice(0, start)}${text} ${after}`;
  const caret = start + text.length + 1;
  input.setSelectionRange(caret, caret);
  return true;
}
