// Messages in a safe Markdown subset: **bold**, *italic*, ~~struck~~, `code`, fenced and indented
// code blocks, [links](https://...) and bare https:// addresses; line breaks as typed.
//
// markdown-it (vendor/, see its README.md) only parses: this file builds the elements
// from its tokens with createElement and text nodes, never innerHTML, so user text
// cannot become markup. Raw HTML is not parsed (`<b>` stays text), and only http:,
// https: and mailto: addresses become links (others, such as javascript:, stay text);
// links open in a new tab that gets neither this page (noopener) nor its address
// (noreferrer). A token of any other kind shows as the text it came from. A :shortcode:
// shows as its emoji (emoji.js), but in code and in a link's text.

import { withEmoji } from "./emoji.js";
import markdownit from "./vendor/markdown-it.esm.min.js";

const LINK_SCHEMES = new Set(["http:", "https:", "mailto:"]);

// "zero" turns every rule off but paragraphs and text; we turn on just the subset.
const md = markdownit("zero", { html: false, breaks: true, linkify: true });
md.enable(["code", "fence", "backticks", "emphasis", "strikethrough", "link", "autolink", "escape", "newline", "linkify"]);
// Only addresses written with their scheme: "example.com" in a sentence stays text.
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
md.validateLink = isSafeLink;

// An absolute address with one of LINK_SCHEMES (not relative, not "//host").
function isSafeLink(href) {
  if (!/^(https?:\/\/|mailto:)/i.test(href)) return false;
  try {
    return LINK_SCHEMES.has(new URL(href).protocol);
  } catch {
    return false;
  }
}

// `text` as a DocumentFragment of text nodes and elements. Blocks are separated by the
// newlines the person typed between them (the message's element has white-space:
// pre-wrap), so a plain message reads exactly as written, and the fragment's
// textContent is the text without its Markdown.
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = text.split(/\r\n?|\n/);
  const tokens = md.parse(text, {});
  let previous = null;   // the last block token shown
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.level !== 0 || token.map === null) continue;   // inside or closing a block
    if (previous !== null) {
      // A code block's text ends with its last line's newline: one fewer after it.
      const newlines = token.map[0] - previous.map[1] + (isCodeBlock(previous) ? 0 : 1);
      fragment.append(textNode("\n".repeat(newlines)));
    }
    if (token.type === "paragraph_open" && tokens[i + 1]?.type === "inline") {
      addInline(tokens[i + 1].children, fragment);
    } else if (isCodeBlock(token)) {
      const pre = document.createElement("pre");
      const code = token.content.endsWith("\n") ? token.content : `${token.content}\n`;
      pre.append(element("code", code));
      fragment.append(pre);
    } else {
      fragment.append(textNode(lines.slice(token.map[0], token.map[1]).join("\n")));
    }
    previous = token;
  }
  return fragment;
}

function isCodeBlock(token) {
  return token.type === "fence" || token.type === "code_block";
}

// A paragraph's inline tokens, appended to `parent`.
function addInline(children, parent) {
  const open = [parent];   // the elements still open, innermost last
  for (const token of children) {
    const here = open.at(-1);
    switch (token.type) {
      case "text":
        if (here.tagName === "A") here.append(textNode(token.content));
        else here.append(...withEmoji(token.content));
        break;
      case "softbreak":
      case "hardbreak":
        here.append(textNode("\n"));
        break;
      case "code_inline":
        here.append(element("code", token.content));
        break;
      case "strong_open":
      case "em_open":
      case "s_open":
      case "link_open": {
        const opened = token.type === "link_open" ? link(token.attrGet("href")) : document.createElement(token.tag);
        here.append(opened);
        open.push(opened);
        break;
      }
      case "strong_close":
      case "em_close":
      case "s_close":
      case "link_close":
        if (open.length > 1) open.pop();
        break;
      default:
        here.append(textNode(token.content));
    }
  }
}

// A link that opens in a new tab; a <span> (its text, no link) if `href` is not safe.
function link(href) {
  if (!isSafeLink(href ?? "")) return document.createElement("span");
  const anchor = document.createElement("a");
  anchor.href = href;
  anchor.target = "_blank";
  anchor.rel = "noopener noreferrer nofollow";
  return anchor;
}

function element(tag, text) {
  const made = document.createElement(tag);
  made.textContent = text;
  return made;
}

function textNode(text) {
  return document.createTextNode(text);
}
