"""Slack's incoming-webhook bodies as the server's Markdown (chat.core.slack_markup)."""

from __future__ import annotations

from typing import Any

import pytest

from chat.core.errors import InvalidInput
from chat.core.slack_markup import message_text, mrkdwn


@pytest.mark.parametrize(
    ("slack", "markdown"),
    [
        ("<https://a.example/x|the label>", "[the label](https://a.example/x)"),
        ("<https://a.example/x>", "<https://a.example/x>"),
        ("<https://a.example/a b(c)|x>", "[x](https://a.example/a%20b%28c%29)"),
        ("<https://a.example|[x]>", "[\\[x\\]](https://a.example)"),
        ("<mailto:ann@example.com|Ann>", "[Ann](mailto:ann@example.com)"),
        ("*bold* and _italic_ and ~gone~", "**bold** and _italic_ and ~~gone~~"),
        ("*two words* here", "**two words** here"),
        ("2*3*4, a * b * c, snake_case_name", "2*3*4, a * b * c, snake_case_name"),
        ("&lt;b&gt; &amp;amp;", "<b> &amp;"),
        ("`*code*` and ```\n*block*\n```", "`*code*` and ```\n*block*\n```"),
        ("*see <https://a.example|here>*", "**see [here](https://a.example)**"),
        (
            "<@U123> <@U123|ann> <#C1|general> <!channel> <!here>",
            "`@U123` `@ann` `#general` `@channel` `@here`",
        ),
        ("<!subteam^S1|@ops>", "`@ops`"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        ("\ue0000\ue001 stays out", "0 stays out"),
    ],
)
def test_mrkdwn_becomes_markdown(slack: str, markdown: str) -> None:
    assert mrkdwn(slack) == markdown


def test_with_blocks_the_text_is_only_their_fallback() -> None:
    body = {
        "text": "fallback",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*shown*"}}],
    }
    assert message_text(body) == "**shown**"


def test_blocks_without_text_fall_back_to_the_text() -> None:
    assert message_text({"text": "fallback", "blocks": [{"type": "image"}]}) == "fallback"


def test_a_plain_text_object_is_shown_as_typed() -> None:
    body = {
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "*not bold* [x]"}}]
    }
    assert message_text(body) == "\\*not bold\\* \\[x\\]"


def test_a_sections_fields_and_a_divider_are_lines() -> None:
    body = {
        "blocks": [
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": "*A*"}, {"type": "mrkdwn", "text": "b"}],
            },
            {"type": "divider"},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "x"},
                    {"type": "image"},
                    {"type": "plain_text", "text": "y"},
                ],
            },
        ]
    }
    assert message_text(body) == "**A**\nb\n---\nx y"


def test_an_attachment_shows_its_pretext_title_text_and_fields() -> None:
    body = {
        "attachments": [
            {
                "pretext": "New *alert*",
                "title": "Disk &amp; CPU",
                "text": "see <https://a.example|graph>",
                "fields": [{"title": "Host", "value": "*web-1*"}, {"value": "no title"}],
                "fallback": "not shown",
            }
        ]
    }
    assert message_text(body) == (
        "New **alert**\n**Disk & CPU**\nsee [graph](https://a.example)\n"
        "**Host**: **web-1**\nno title"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"text": 5},
        {"attachments": {"text": "x"}},
        {"attachments": ["x"]},
        {"blocks": [{"type": "section", "text": "x"}]},
        {"attachments": [{"fields": [{"title": 1}]}]},
    ],
)
def test_a_field_of_the_wrong_type_is_named(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="must be"):
        message_text(body)


@pytest.mark.parametrize("body", [{}, {"text": "  "}, {"username": "ci", "icon_url": "https://x"}])
def test_nothing_to_post_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="nothing to post"):
        message_text(body)
