// The composer's height (as tall as its lines) and its character count: the server
// refuses texts longer than CHAT_MAX_TEXT characters (GET /client/settings says how
// many), so the composer stops there and, as the text nears the limit, says how many
// are left. Characters are counted as the server counts them (code points: an emoji is
// one), not as a textarea's maxlength does.

const SHOWN_FROM = 0.8;   // the count is shown from this share of the limit on

const composer = { textarea: null, counter: null, limit: null };

export async function setUpComposer(textarea, counter) {
  Object.assign(composer, { textarea, counter });
  textarea.addEventListener("input", countCharacters);
  try {
    const response = await fetch("/client/settings");
    if (response.ok) composer.limit = (await response.json()).MaxTextChars;
  } catch {
    // Without the limit the composer does not count: the server still says "too long".
  }
  countCharacters();
}

// Cut what goes past the limit (a paste, say) and show the count near it.
export function countCharacters() {
  const { textarea, counter, limit } = composer;
  if (textarea === null || limit === null) return;
  let characters = [...textarea.value];
  if (characters.length > limit) {
    characters = characters.slice(0, limit);
    textarea.value = characters.join("");
  }
  const near = characters.length >= limit * SHOWN_FROM;
  counter.hidden = !near;
  counter.textContent = `${characters.length} / ${limit}`;
  counter.classList.toggle("full", characters.length >= limit);
  counter.title = characters.length >= limit
    ? "the longest message the server takes"
    : `${limit - characters.length} characters left`;
}

// The composer as tall as its lines, up to its CSS max-height (then it scrolls).
export function fitComposer(textarea) {
  textarea.style.height = "";  // empty: one row (rows="1"), whatever the placeholder's width
  if (!textarea.value) return;
  textarea.style.height = "auto";
  const borders = textarea.offsetHeight - textarea.clientHeight;  // border-box sizing
  textarea.style.height = `${textarea.scrollHeight + borders}px`;
}
