"""The edge, both ways and pure: Slack payloads to domain commands (questions, reactions,
snippets, slash commands), and answers to Slack messages (mrkdwn in section blocks, sources
under the answer, a file when it is over the message limit)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from adapters.platforms.slack.mrkdwn import (
    MESSAGE_LIMIT,
    inert,
    section_blocks,
    split_sections,
    to_mrkdwn,
)
from domain.conversation import Answer, Question, Source
from domain.feedback import Reaction
from domain.privacy_service import Person
from domain.question_changes import QuestionChange
from domain.sandbox import LANGUAGES, PYTHON, code_blocks, normalise_language
from domain.snippets import Snippet, wants_run

PLATFORM = "slack"
EYES = "eyes"  # the reaction that says "working on it"
ATTACHED = "\n\n_The whole answer is attached as a file._"
# Message subtypes that are still a person writing; every other subtype is Slack's own news.
_WRITTEN = frozenset({None, "file_share", "thread_broadcast"})


@dataclass(frozen=True)
class SlackMessage:
    """A message as the Web API takes it: mrkdwn text, the same in section blocks, and the
    whole Markdown as a file when it does not fit."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    attachment: str | None = None


def render(markdown: str, footer: str = "") -> SlackMessage:
    """Markdown to a message; `footer` is mrkdwn already (sources) and always shown."""
    body = to_mrkdwn(markdown)
    text = body + footer
    if len(text) <= MESSAGE_LIMIT:
        return SlackMessage(text, section_blocks(text))
    preview = split_sections(body)[0] + ATTACHED + footer
    return SlackMessage(preview, section_blocks(preview), attachment=markdown)


def render_answer(answer: Answer) -> SlackMessage:
    return render(answer.text, sources_footer(answer.sources))


def render_draft(text_so_far: str) -> SlackMessage | None:
    """The answer so far, or None while there is nothing to show (Slack refuses empty text)."""
    if not text_so_far.strip():
        return None
    message = render(text_so_far.strip())
    return SlackMessage(message.text, message.blocks)  # the file waits for the final answer


def sources_footer(sources: tuple[Source, ...]) -> str:
    if not sources:
        return ""
    lines = [f"[{s.reference}] {inert(s.path)}:{_lines(s.lines)} ({inert(s.license)})"
             for s in sources]  # fmt: skip
    return "\n\n*Sources*\n" + "\n".join(lines)


def _lines(span: tuple[int, int]) -> str:
    start, end = span
    return str(start) if start == end else f"{start}-{end}"


# -- inbound -----------------------------------------------------------------------------------

MessageKind = Literal["edited", "deleted", "bot", "other", "direct", "channel"]


def message_kind(event: dict[str, Any], bot_user_id: str) -> MessageKind:
    subtype = event.get("subtype")
    if subtype == "message_changed":
        return "edited"
    if subtype == "message_deleted":
        return "deleted"
    if event.get("bot_id") or subtype == "bot_message" or event.get("user") == bot_user_id:
        return "bot"
    if subtype not in _WRITTEN or not event.get("user"):
        return "other"
    return "direct" if event.get("channel_type") == "im" else "channel"


def from_a_bot(event: dict[str, Any], bot_user_id: str) -> bool:
    return message_kind(event, bot_user_id) == "bot"


def mentions(text: str, user_id: str) -> bool:
    return _mention_of(user_id).search(text) is not None


def _mention_of(user_id: str) -> re.Pattern[str]:
    return re.compile(rf"<@{re.escape(user_id)}(?:\|[^>]*)?>")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain_text(event: dict[str, Any], bot_user_id: str) -> str:
    """What the user wrote: the bot's mention gone, Slack's entities decoded."""
    return unescape(_mention_of(bot_user_id).sub("", str(event.get("text") or ""))).strip()


def team_of(body: dict[str, Any]) -> str:
    event = body.get("event") or {}
    return str(body.get("team_id") or event.get("team") or event.get("user_team") or "")


def person(body: dict[str, Any], user_id: str) -> Person:
    return Person(PLATFORM, team_of(body), user_id)


def message_key(channel: str, ts: str) -> str:
    """A question's platform id: its message, not the event that brought it, so a redelivery,
    the app_mention and message events of one message, and its later edit or deletion all
    name the same conversation (domain.conversation.answer_id_for)."""
    return f"slack:{channel}:{ts}"


def question_from(body: dict[str, Any], bot_user_id: str) -> Question:
    """A mention, a direct message or a follow-up in the bot's thread, as a question asked in
    the message's thread (the message starts one when it is not in a thread)."""
    event = body["event"]
    return Question(
        person(body, event["user"]),
        event["channel"],
        plain_text(event, bot_user_id),
        thread_id=event.get("thread_ts") or event["ts"],
        platform_event_id=message_key(event["channel"], event["ts"]),
    )


def question_change(body: dict[str, Any], bot_user_id: str) -> QuestionChange | None:
    """A person's message edited (its new text) or deleted; None for bots' messages, and for
    Slack's own changes that leave the text as it was (unfurls, reply counts)."""
    event = body["event"]
    before = event.get("previous_message") or {}
    if event.get("subtype") == "message_changed":
        message = event.get("message") or {}
        new_text: str | None = plain_text(message, bot_user_id)
        if new_text == plain_text(before, bot_user_id):
            return None
    else:  # deleted: Slack may not say who wrote it, and need not
        message, new_text = {**before, "ts": event.get("deleted_ts") or before.get("ts")}, None
    ts = message.get("ts")
    if not ts or from_a_bot(message, bot_user_id):
        return None
    return QuestionChange(message_key(str(event.get("channel") or ""), str(ts)), new_text)


def snippet_asked(body: dict[str, Any], bot_user_id: str) -> Snippet | None:
    """The snippet a message to the bot asks to run ("run this" and a fenced block)."""
    event = body["event"]
    block = wants_run(plain_text(event, bot_user_id))
    if block is None:
        return None
    language = block.language or PYTHON
    return Snippet(person(body, event["user"]), event["channel"], language, block.code)


def reacted_message(event: dict[str, Any]) -> tuple[str, str] | None:
    """The (channel, ts) of the message a reaction is on; None for files and the like."""
    item = event.get("item") or {}
    if item.get("type") != "message" or not item.get("channel") or not item.get("ts"):
        return None
    return str(item["channel"]), str(item["ts"])


def reaction_from(body: dict[str, Any], answer_id: str, bot_user_id: str) -> Reaction:
    event = body["event"]
    user = str(event.get("user") or "")
    return Reaction(
        person(body, user),
        answer_id,
        str(event.get("reaction") or ""),
        removed=event.get("type") == "reaction_removed",
        by_bot=user == bot_user_id,
        platform_event_id=body.get("event_id"),
    )


def snippet_in_message(who: Person, channel: str, text: str) -> Snippet | None:
    """The first fenced block of a message someone asked to run with ▶️."""
    blocks = code_blocks(unescape(text))
    if not blocks:
        return None
    return Snippet(who, channel, blocks[0].language or PYTHON, blocks[0].code)


@dataclass(frozen=True)
class SlashCommand:
    name: str  # ask, run, stats, help, or what was typed
    argument: str
    person: Person
    channel_id: str
    trigger_id: str | None


def slash_command(body: dict[str, Any]) -> SlashCommand:
    words = unescape(str(body.get("text") or "")).strip().split(maxsplit=1)
    name = words[0].lower() if words else "help"
    who = Person(PLATFORM, str(body.get("team_id") or ""), str(body.get("user_id") or ""))
    return SlashCommand(
        name, words[1] if len(words) > 1 else "", who, str(body.get("channel_id") or ""),
        body.get("trigger_id"),
    )  # fmt: skip


def snippet_from_command(command: SlashCommand) -> Snippet | None:
    """`/buddy run` with a fenced block, or plain code led by an optional language name."""
    blocks = code_blocks(command.argument)
    if blocks:
        language, code = blocks[0].language or PYTHON, blocks[0].code
    else:
        first, _, rest = command.argument.strip().partition(" ")
        named = normalise_language(first) if first else ""
        language, code = (named, rest) if named in LANGUAGES else (PYTHON, command.argument)
    if not code.strip():
        return None
    return Snippet(command.person, command.channel_id, language, code)
