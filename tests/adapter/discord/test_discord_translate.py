"""The Discord translation module on its own: rendering, inert mentions, splitting at 2,000
characters with code fences kept whole, nonces, and messages turned into domain commands."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.platforms.discord.invite import client_id_from_token, invite_url
from adapters.platforms.discord.translate import (
    ATTACHED_NOTE,
    MESSAGE_LIMIT,
    IncomingMessage,
    _fence_after,
    nonce_for,
    question_from,
    render_answer,
    render_draft,
    reply_plan,
    snippet_from,
    split_message,
)
from domain.conversation import Answer, Source
from domain.privacy_service import Person

ZWSP = "\u200b"
BOT = "111"


def answer(text: str, *sources: Source) -> Answer:
    return Answer("a1", text, sources, "m:1", 5)


def incoming(content: str, guild: str | None = "g1") -> IncomingMessage:
    return IncomingMessage("m9", "c1", guild, "u1", content)


def fences_balanced(part: str) -> bool:
    return sum(line.lstrip().startswith("```") for line in part.splitlines()) % 2 == 0


def test_an_answer_renders_with_its_sources_as_path_lines_and_license() -> None:
    sources = (Source(1, "kb/deploy.md", "MIT", (30, 38)), Source(2, "src/a_b.py", "Apache-2.0",
                                                                   (1, 9)))  # fmt: skip
    assert render_answer(answer("  Run `make rollback` [1][2].\n", *sources)) == (
        "Run `make rollback` [1][2].\n\n**Sources**\n"
        "[1] `kb/deploy.md:30-38` (MIT)\n[2] `src/a_b.py:1-9` (Apache-2.0)"
    )
    assert render_answer(answer("No sources.")) == "No sources."


def test_every_kind_of_mention_is_made_inert() -> None:
    text = render_answer(answer("@everyone @here <@42> <@!42> <@&7> <#5> mail a@here.com"))
    for mention in ("@everyone", "@here ", "<@42>", "<@!42>", "<@&7>", "<#5>"):
        assert mention not in text
    assert text.replace(ZWSP, "") == "@everyone @here <@42> <@!42> <@&7> <#5> mail a@here.com"


def test_a_short_text_is_one_part_and_a_long_one_is_cut_at_line_ends() -> None:
    assert split_message("hello") == ["hello"]
    lines = [f"line {i:04d} " + "y" * 50 for i in range(100)]
    parts = split_message("\n".join(lines))
    assert len(parts) > 1
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert "\n".join(parts).splitlines() == lines  # nothing lost, nothing cut mid-line


def test_a_code_fence_cut_between_parts_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"x_{i} = {i}" + " " * 30 for i in range(120))
    parts = split_message(f"Intro\n```python\n{code}\n```\nOutro")
    assert len(parts) >= 3
    assert all(len(p) <= MESSAGE_LIMIT and fences_balanced(p) for p in parts)
    assert all(p.startswith("```python\n") for p in parts[1:])
    assert parts[0].endswith("\n```")
    assert parts[-1].endswith("Outro")


def test_tilde_and_longer_fences_are_tracked_too() -> None:
    body = "\n".join("```not a close " + str(i) for i in range(200))
    parts = split_message(f"~~~~text\n{body}\n~~~~\nafter", limit=500)
    assert all(p.startswith("~~~~text\n") for p in parts[1:])
    assert all(p.endswith("\n~~~~") for p in parts[:-1])
    assert parts[-1].endswith("after")


def test_a_line_longer_than_a_message_is_cut_hard() -> None:
    parts = split_message("z" * 5000)
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert "".join(parts) == "z" * 5000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["```py", "```", "~~~", "text " * 9, "", "x" * 130]),
                max_size=80), st.integers(min_value=120, max_value=600))  # fmt: skip
def test_any_text_splits_into_parts_that_fit_with_no_fence_left_open(
    lines: list[str], limit: int
) -> None:
    for part in split_message("\n".join(lines), limit):
        assert len(part) <= limit
        fence = None
        for line in part.splitlines(keepends=True):
            fence = _fence_after(line, fence)
        assert fence is None


def test_a_draft_is_one_message_and_says_more_is_coming() -> None:
    assert render_draft("  partial <@1>") == f"partial <{ZWSP}@1>"
    long = render_draft("w " * 3000)
    assert len(long) <= MESSAGE_LIMIT
    assert long.endswith(" …")
    assert render_draft("   ") == "…"


def test_a_very_long_answer_becomes_one_message_and_a_file() -> None:
    text = "paragraph\n" * 1000
    plan = reply_plan(text)
    assert plan.attachment == text
    [part] = plan.parts
    assert part.endswith(ATTACHED_NOTE)
    assert len(part) <= MESSAGE_LIMIT
    assert reply_plan("short").parts == ["short"]
    assert reply_plan("short").attachment is None


def test_nonces_are_stable_short_and_per_part() -> None:
    assert nonce_for("a1", 0) == nonce_for("a1", 0)
    assert nonce_for("a1", 0) != nonce_for("a1", 1) != nonce_for("a2", 1)
    assert len(nonce_for("a" * 200, 12)) <= 25


def test_a_message_to_the_bot_becomes_a_question_without_the_mention() -> None:
    question = question_from(incoming(f"<@{BOT}> how do I <@!{BOT}> roll back?"), BOT, "t1")
    assert question is not None
    assert question.text == "how do I   roll back?"
    assert question.person == Person("discord", "default", "u1")  # one pseudonym across servers
    assert (question.channel_id, question.thread_id) == ("c1", "t1")
    assert question.platform_event_id == "discord:m9"
    dm = question_from(incoming("hi", guild=None), BOT, "m9")
    assert dm is not None
    assert dm.person == question.person
    assert question_from(incoming(f"<@{BOT}>  "), BOT, "t1") is None


def test_run_this_with_a_block_is_a_snippet_and_a_play_reaction_takes_any_block() -> None:
    asked = snippet_from(incoming("please run this\n```js\nconsole.log(1)\n```"), asked=False)
    assert asked is not None
    assert (asked.language, asked.code) == ("javascript", "console.log(1)")
    assert snippet_from(incoming("```py\nx\n```"), asked=False) is None
    reacted = snippet_from(incoming("look:\n```\nprint(3)\n```\n```sh\nls\n```"), asked=True)
    assert reacted is not None
    assert (reacted.language, reacted.code) == ("python", "print(3)")
    assert snippet_from(incoming("no code here"), asked=True) is None


def test_the_invite_asks_for_exactly_the_permissions_used() -> None:
    url = urlparse(invite_url("4242"))
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("discord.com", "/oauth2/authorize")
    assert query["client_id"] == ["4242"]
    assert query["scope"] == ["bot applications.commands"]
    used = {
        "view_channel": 1 << 10, "send_messages": 1 << 11, "send_messages_in_threads": 1 << 38,
        "read_message_history": 1 << 16, "add_reactions": 1 << 6, "attach_files": 1 << 15,
        "use_application_commands": 1 << 31,
    }  # fmt: skip
    assert query["permissions"] == [str(sum(used.values()))] == ["277025492032"]
    assert not int(query["permissions"][0]) & (1 << 14)  # no Embed Links: no embeds are sent


def test_the_client_id_is_read_from_the_bot_token() -> None:
    head = base64.b64encode(b"1442545297002594305").decode().rstrip("=")
    assert client_id_from_token(f"{head}.GxYz12.abcdefghijklmnop") == "1442545297002594305"
    assert client_id_from_token("not a token") is None
    assert client_id_from_token("") is None
