// The message list stays on its newest message while the reader is there: when the list
// is resized (the "Load older messages" button or the people panel appearing above it
// after entering a room, the typing line, the composer growing with its lines, a phone's
// keyboard) or its newest message grows, it scrolls back to the bottom, so the newest
// message is never left half hidden. A reader who scrolled up to read older messages
// stays where they are.
//
// Whether the reader is at the bottom is decided by their own scrolling only: a resize
// moves the scroll position too (and fires a scroll event, before the resize observer
// hears of it), and must not count as the reader leaving the bottom.

const SLACK_PX = 4;   // this close to the bottom counts as at the bottom

const view = { list: null, pinned: true, height: 0, contentHeight: 0, newest: null };
const resized = new ResizeObserver(() => {
  if (view.pinned) view.list.scrollTop = view.list.scrollHeight;
  remember();
});

function remember() {
  view.height = view.list.clientHeight;
  view.contentHeight = view.list.scrollHeight;
}

export function keepNewestInView(list) {
  view.list = list;
  remember();
  list.addEventListener("scroll", () => {
    const laidOut = list.clientHeight !== view.height || list.scrollHeight !== view.contentHeight;
    if (!laidOut) {
      view.pinned = list.scrollHeight - list.scrollTop - list.clientHeight <= SLACK_PX;
    } else if (view.pinned) {
      list.scrollTop = list.scrollHeight;
    }
    remember();
  }, { passive: true });
  resized.observe(list);
}

// The page itself scrolled the list to its newest message (a room entered, a message
// arrived or sent): it follows the newest from here on, and that message's growing
// (reactions, a late layout) too.
export function pinToNewest(list) {
  list.scrollTop = list.scrollHeight;
  view.pinned = true;
  const newest = list.lastElementChild;
  if (newest !== view.newest) {
    if (view.newest !== null) resized.unobserve(view.newest);
    if (newest !== null) resized.observe(newest);
    view.newest = newest;
  }
  remember();
}

// Whether the list follows its newest message (the reader is there).
export const following = () => view.pinned;

// The page brought an older message into view (context.js): the list no longer follows
// its newest message, until the reader scrolls back down to it.
export function unpin() {
  view.pinned = false;
  remember();
}
