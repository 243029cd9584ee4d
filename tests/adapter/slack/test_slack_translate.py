"""The Slack translation module on its own: Markdown to mrkdwn, inert mentions, Slack's size
limits, and Slack payloads to domain commands."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.platforms.slack.mrkdwn import (
    MESSAGE_LIMIT,
    SECTION_LIMIT,
    inert,
    split_sections,
    to_mrkdwn,
)
from adapters.platforms.slack.translate import (
    message_kind,
    question_change,
    question_from,
    reaction_from,
    render,
    render_answer,
    render_draft,
    slash_command,
    snippet_asked,
    snippet_from_command,
)
from domain.conversation import Answer, Source
from domain.privacy_service import Person
from domain.question_changes import QuestionChange

BOT = "UBOT"


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and __also__", "*bold* and *also*"),
        ("*italic* and _this_", "_italic_ and _this_"),
        ("~~gone~~", "~gone~"),
        ("see [the docs](https://x.dev/a?b=1&c=2)", "see <https://x.dev/a?b=1&c=2|the docs>"),
        ("[**bold link**](https://x.dev)", "<https://x.dev|*bold link*>"),
        ("<https://x.dev>", "<https://x.dev>"),
        ("[click](javascript:alert(1))", "[click](javascript:alert(1))"),
        ("# Deploying\n## Rollback", "*Deploying*\n*Rollback*"),
        ("- one\n* two\n  + nested", "• one\n• two\n  • nested"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted", "> quoted"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("use `a**b**<c>` here", "use `a**b**&lt;c&gt;` here"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("snake_case_name", "snake_case_name"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_code_blocks_are_kept_verbatim_but_inert() -> None:
    markdown = "Try:\n```python\nx = a**2  # <b> & **not bold**\n    indented\n```\nDone."
    assert to_mrkdwn(markdown) == (
        "Try:\n```\nx = a**2  # &lt;b&gt; &amp; **not bold**\n    indented\n```\nDone."
    )
    assert to_mrkdwn("~~~\n- not a list\n~~~") == "```\n- not a list\n```"
    assert to_mrkdwn("```sh\nhalf a block") == "```\nhalf a block\n```"  # a draft mid-block


@pytest.mark.parametrize(
    "mention",
    ["<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@U123|bob>", "<#C1>", "<#C1|general>",
     "<!subteam^S1>", "@here", "@channel", "@everyone"],
)  # fmt: skip
@pytest.mark.parametrize("where", ["{}", "**{}**", "`{}`", "```\n{}\n```", "[{}](https://x.dev)"])
def test_mentions_from_the_model_are_inert_everywhere(mention: str, where: str) -> None:
    shown = to_mrkdwn(f"hey {where.format(mention)} now")
    assert mention not in shown
    assert "<!" not in shown
    assert "<@" not in shown
    assert "<#" not in shown


def test_inert_escapes_and_breaks_bare_mentions() -> None:
    assert inert("@here <!channel> a&b") == "@\u200bhere &lt;\u200b!channel&gt; a&amp;b"
    assert inert("mail me at bob@here.com") == "mail me at bob@here.com"


def test_sections_are_cut_at_paragraphs_under_3000_characters() -> None:
    paragraphs = [f"Paragraph {n}. " + "word " * 100 for n in range(40)]
    pieces = split_sections("\n\n".join(paragraphs))
    assert all(len(piece) <= SECTION_LIMIT for piece in pieces)
    assert len(pieces) == 8  # five paragraphs of 514 characters to a piece
    assert "\n\n".join(pieces) == "\n\n".join(paragraphs)


def test_a_code_block_cut_in_two_is_closed_and_reopened() -> None:
    code = "```\n" + "\n".join(f"line_{n} = {n}" for n in range(400)) + "\n```"
    pieces = split_sections(code)
    assert len(pieces) > 1
    for piece in pieces:
        assert len(piece) <= SECTION_LIMIT
        assert piece.startswith("```\n")
        assert piece.endswith("\n```")
    body = "\n".join(piece.removeprefix("```\n").removesuffix("\n```") for piece in pieces)
    assert body == code.removeprefix("```\n").removesuffix("\n```")


def test_a_cut_never_splits_a_link_or_an_entity() -> None:
    link = "<https://x.dev/page|the long label of a link>"
    pieces = split_sections(("x" * 37 + link + "&amp;") * 3, limit=60)
    for piece in pieces:
        assert len(piece) <= 60
        assert piece.count("<") == piece.count(">")
        assert piece.count("&") == piece.count(";")


def test_one_unbreakable_word_is_cut_hard() -> None:
    pieces = split_sections("y" * 7000)
    assert [len(piece) for piece in pieces] == [2996, 2996, 1008]


def test_an_answer_renders_with_its_sources_in_blocks() -> None:
    sources = (Source(1, "kb/deploy.md", "MIT", (30, 38)), Source(2, "src/<x>.py", "Apache-2.0",
                                                                  (4, 4)))  # fmt: skip
    message = render_answer(Answer("a1", "Run `make rollback` [1].", sources, "m", 5))
    assert message.text == (
        "Run `make rollback` [1].\n\n*Sources*\n[1] kb/deploy.md:30-38 (MIT)\n"
        "[2] src/&lt;x&gt;.py:4 (Apache-2.0)"
    )
    assert message.blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": message.text}}]
    assert message.attachment is None


def test_over_40000_characters_the_whole_answer_is_a_file() -> None:
    huge = "word " * (MESSAGE_LIMIT // 4)
    message = render(huge, "\n\n*Sources*\n[1] a.md:1 (MIT)")
    assert message.attachment == huge
    assert len(message.text) < SECTION_LIMIT + 200
    assert message.text.endswith("[1] a.md:1 (MIT)")
    assert "attached" in message.text
    assert render_draft("   ") is None
    draft = render_draft(huge)
    assert draft is not None
    assert draft.attachment is None


def body(event: dict[str, object], event_id: str = "Ev1") -> dict[str, object]:
    return {"team_id": "T1", "event_id": event_id, "event": event}


def test_a_mention_becomes_a_question_in_its_thread() -> None:
    event = {"type": "app_mention", "user": "U1", "channel": "C1", "ts": "2.0",
             "text": "<@UBOT> is a &lt; b &amp;&amp; c? <@UBOT|buddy>"}  # fmt: skip
    question = question_from(body(event), BOT)
    assert question.person == Person("slack", "T1", "U1")
    assert (question.channel_id, question.thread_id) == ("C1", "2.0")
    assert question.text == "is a < b && c?"
    assert question.platform_event_id == "slack:C1:2.0"  # the message, whichever event
    assert question_from(body({**event, "thread_ts": "1.0"}), BOT).thread_id == "1.0"


def test_messages_are_sorted_into_kinds() -> None:
    base = {"type": "message", "user": "U1", "channel": "C1", "ts": "1.0", "text": "hi"}
    assert message_kind(base, BOT) == "channel"
    assert message_kind({**base, "channel_type": "im"}, BOT) == "direct"
    assert message_kind({**base, "bot_id": "B1"}, BOT) == "bot"
    assert message_kind({**base, "user": BOT}, BOT) == "bot"
    assert message_kind({**base, "subtype": "bot_message"}, BOT) == "bot"
    assert message_kind({**base, "subtype": "message_changed"}, BOT) == "edited"
    assert message_kind({**base, "subtype": "message_deleted"}, BOT) == "deleted"
    assert message_kind({**base, "subtype": "channel_join"}, BOT) == "other"
    assert message_kind({**base, "subtype": "file_share"}, BOT) == "channel"


def test_reactions_name_their_answer_and_who_reacted() -> None:
    event = {"type": "reaction_removed", "user": BOT, "reaction": "+1",
             "item": {"type": "message", "channel": "C1", "ts": "1.0"}}  # fmt: skip
    rating = reaction_from(body(event, "Ev9"), "a1", BOT)
    assert (rating.answer_id, rating.emoji, rating.removed, rating.by_bot) == ("a1", "+1", True,
                                                                               True)  # fmt: skip
    assert rating.platform_event_id == "Ev9"


def test_run_this_and_slash_run_make_snippets() -> None:
    event = {"user": "U1", "channel": "C1", "ts": "1.0",
             "text": "<@UBOT> run this\n```js\nconsole.log(1 &lt; 2)\n```"}  # fmt: skip
    snippet = snippet_asked(body(event), BOT)
    assert snippet is not None
    assert (snippet.language, snippet.code) == ("javascript", "console.log(1 < 2)")
    assert snippet_asked(body({**event, "text": "```py\nx\n```"}), BOT) is None

    def run(text: str) -> tuple[str, str] | None:
        command = slash_command({"text": text, "team_id": "T1", "user_id": "U1",
                                 "channel_id": "C1", "trigger_id": "t1"})  # fmt: skip
        found = snippet_from_command(command)
        return None if found is None else (found.language, found.code)

    assert run("run ```sh\necho hi\n```") == ("bash", "echo hi")
    assert run("run bash echo hi") == ("bash", "echo hi")
    assert run("run print(1)") == ("python", "print(1)")
    assert run("run") is None
    assert slash_command({"text": "  ASK  how do I deploy?"}).argument == "how do I deploy?"
    assert slash_command({"text": "ASK x"}).name == "ask"


PIECES = st.sampled_from(
    ["word", " ", "\n", "\n\n", "**", "*", "_", "`", "```\n", "```py\n", "<!channel>", "@here",
     "<@U1>", "[a link](https://x.dev/?a=1&b=2)", "&", "<", ">", "- ", "# ", "é", "|"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(PIECES, max_size=300), st.integers(min_value=40, max_value=400))
def test_any_markdown_renders_inert_and_cuts_within_the_limit(parts: list[str], limit: int) -> None:
    shown = to_mrkdwn("".join(parts))
    for live in ("<!", "<@", "<#"):
        assert live not in shown
    assert re.search(r"(?<![\w.+-])@here\b", shown) is None  # word@here pings no one
    pieces = split_sections(shown, limit)
    assert all(0 < len(piece) <= limit for piece in pieces)
    for piece in pieces:  # every piece closes the code block it opens
        assert [line.strip() for line in piece.split("\n")].count("```") % 2 == 0


def test_a_fence_inside_a_longer_fence_does_not_end_the_slack_block() -> None:
    shown = to_mrkdwn("````md\n```py\nx\n```\n````")
    assert shown == "```\n`\u200b`\u200b`py\nx\n`\u200b`\u200b`\n```"


def test_edits_and_deletions_name_the_question_message() -> None:
    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "message": {"user": "U1", "ts": "2.0", "text": "<@UBOT> how do I roll back?"},
        "previous_message": {"user": "U1", "ts": "2.0", "text": "<@UBOT> how to rollback"},
    }
    change = question_change(body(edited), BOT)
    assert change == QuestionChange("slack:C1:2.0", "how do I roll back?")
    unfurled = {**edited, "previous_message": edited["message"]}
    assert question_change(body(unfurled), BOT) is None  # the text did not change
    by_bot = {**edited, "message": {"user": BOT, "bot_id": "B1", "ts": "3.0", "text": "x"}}
    assert question_change(body(by_bot), BOT) is None  # Buddy editing its own answer

    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C1",
        "deleted_ts": "2.0",
        "previous_message": {"user": "U1", "ts": "2.0"},
    }
    assert question_change(body(deleted), BOT) == QuestionChange("slack:C1:2.0", None)
    anonymous = {**deleted, "previous_message": {}}
    assert question_change(body(anonymous), BOT) == QuestionChange("slack:C1:2.0", None)
