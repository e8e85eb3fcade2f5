"""Slack's incoming-webhook body, as one message of the server's Markdown.

Slack's body is the one CI systems and monitoring tools speak: ``text`` in Slack's
``mrkdwn``, ``attachments`` (each: ``pretext``, ``title``/``title_link``, ``text``,
``fields`` of ``title`` and ``value``, ``fallback`` when it has nothing else) and
``blocks`` (``header``, ``section`` with ``text`` and ``fields``, ``context`` with text
``elements``, ``divider``). With blocks, ``text`` is only their fallback (as in Slack).
``username``, ``icon_url``, ``icon_emoji``, ``color`` and every other field are ignored.

mrkdwn becomes Markdown: ``<url|label>`` a link ``[label](url)``, ``<url>`` the address,
``*bold*`` ``**bold**``, ``_italic_`` stays, ``~strike~`` ``~~strike~~``, ``&amp;``,
``&lt;`` and ``&gt;`` their characters; code spans and blocks are kept as they are. A
Slack mention (``<@U123>``, ``<#C123|name>``, ``<!channel>``) becomes a code span
(`` `@U123` ``): shown, but never a mention here, of a person or of the whole room.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from chat.core.errors import InvalidInput

#: Stand-ins for what the emphasis rules must not touch while they run: code, links and
#: mentions, numbered. Private-use characters, taken out of the text first.
_OPEN, _CLOSE = "\ue000", "\ue001"
_STAND_IN = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_ANGLED = re.compile(r"<([^<>\n]+)>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def _emphasis(mark: str) -> re.Pattern[str]:
    """Slack's `mark`-delimited span: not inside a word, not starting or ending with a
    space, on one line."""
    m = re.escape(mark)
    return re.compile(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]*?\S){m}(?![\w{m}])")


_BOLD = _emphasis("*")
_STRIKE = _emphasis("~")
#: What a plain_text object's characters would mean in Markdown, escaped.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]<>#])")


def message_text(body: Mapping[str, Any]) -> str:
    """The Markdown of a Slack body (`InvalidInput` for a field of the wrong type, or
    nothing to post)."""
    parts: list[str] = []
    blocks = _list(body, "blocks")
    for index, block in enumerate(blocks):
        parts.extend(_block(_object(block, f"blocks[{index}]"), f"blocks[{index}]"))
    text = _string(body, "text", "text")
    if text and not parts:
        parts.append(mrkdwn(text))
    for index, attachment in enumerate(_list(body, "attachments")):
        where = f"attachments[{index}]"
        parts.extend(_attachment(_object(attachment, where), where))
    joined = "\n".join(part for part in parts if part.strip())
    if not joined.strip():
        raise InvalidInput("nothing to post: give text, attachments or blocks with text")
    return joined


def mrkdwn(text: str) -> str:
    """Slack's mrkdwn as Markdown (the module's docstring says how)."""
    kept: list[str] = []

    def stand_in(markdown: str) -> str:
        kept.append(markdown)
        return f"{_OPEN}{len(kept) - 1}{_CLOSE}"

    text = text.replace(_OPEN, "").replace(_CLOSE, "")
    text = _CODE.sub(lambda m: stand_in(_unescape(m.group(0))), text)
    text = _ANGLED.sub(lambda m: stand_in(_angled(m.group(1))), text)
    text = _unescape(text)
    text = _BOLD.sub(r"**\1**", text)
    text = _STRIKE.sub(r"~~\1~~", text)
    return _STAND_IN.sub(lambda m: kept[int(m.group(1))], text)


def _unescape(text: str) -> str:
    for entity, character in _ENTITIES:
        text = text.replace(entity, character)
    return text


def _angled(inside: str) -> str:
    """What Slack's ``<...>`` means, as Markdown: a mention shown as code, or a link."""
    target, _, label = inside.partition("|")
    target, label = _unescape(target).strip(), _unescape(label).strip()
    if target[:1] in ("@", "#", "!"):
        if target.startswith("!date") and label:
            return _plain(label)
        shown = label.lstrip("@#") if label else target[1:].split("^")[0]
        sign = "#" if target[0] == "#" else "@"
        return f"`{sign}{shown.replace('`', '')}`"
    url = target.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    if not label or label == target:
        return f"<{url}>"
    return f"[{_link_label(label)}]({url})"


def _link_label(label: str) -> str:
    return label.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _plain(text: str) -> str:
    """A plain_text object's characters, shown as they are."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _text_object(value: object, where: str) -> str:
    """A Slack text object ({"type": "mrkdwn" | "plain_text", "text"}) as Markdown."""
    item = _object(value, where)
    text = _string(item, "text", f"{where}.text")
    return _plain(text) if item.get("type") == "plain_text" else mrkdwn(text)


def _block(block: Mapping[str, Any], where: str) -> list[str]:
    kind = block.get("type")
    if kind == "section":
        lines = [] if block.get("text") is None else [_text_object(block["text"], where + ".text")]
        for index, field in enumerate(_list(block, "fields")):
            lines.append(_text_object(field, f"{where}.fields[{index}]"))
        return lines
    if kind == "context":
        texts = [
            _text_object(element, f"{where}.elements[{index}]")
            for index, element in enumerate(_list(block, "elements"))
            if isinstance(element, Mapping) and element.get("type") in ("mrkdwn", "plain_text")
        ]
        return [" ".join(texts)] if texts else []
    if kind == "header" and block.get("text") is not None:
        return [f"**{_text_object(block['text'], where + '.text')}**"]
    if kind == "divider":
        return ["---"]
    return []  # images, actions, inputs: nothing a message shows


def _attachment(attachment: Mapping[str, Any], where: str) -> list[str]:
    lines: list[str] = []
    field = _field_reader(attachment, where)
    if pretext := field("pretext"):
        lines.append(mrkdwn(pretext))
    if title := field("title"):
        shown = _link_label(_unescape(title))
        link = field("title_link")
        lines.append(f"**[{shown}]({_angled_url(link)})**" if link else f"**{shown}**")
    if text := field("text"):
        lines.append(mrkdwn(text))
    for index, item in enumerate(_list(attachment, "fields")):
        place = f"{where}.fields[{index}]"
        one = _field_reader(_object(item, place), place)
        name, value = one("title"), one("value")
        if name:
            lines.append(f"**{_link_label(_unescape(name))}**: {mrkdwn(value)}")
        elif value:
            lines.append(mrkdwn(value))
    if not lines and (fallback := field("fallback")):
        lines.append(mrkdwn(fallback))
    return lines


def _angled_url(url: str) -> str:
    return _unescape(url).strip().replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def _field_reader(item: Mapping[str, Any], where: str) -> Callable[[str], str]:
    return lambda key: _string(item, key, f"{where}.{key}")


def _string(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be a string")
    return value


def _list(item: Mapping[str, Any], key: str) -> list[Any]:
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{key} must be a list")
    return value


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where} must be an object")
    return value
