"""Admin commands from chat: one console behind Slack's and Discord's `/buddy` and the local
channel's `/admin`.

A platform turns the command into an `AdminRequest` and hands the console a way to reply
(`AdminReplies`). The console authorises the person against BUDDY_ADMINS, runs the command
through the `AdminOperations` port (bot/ implements it over the real services) and records
every attempt, refused ones included, as `admin.AdminCommandIssued`: the actor as a pseudonym,
people and channels named in the arguments as pseudonyms, the rest scrubbed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.errors import BuddyError
from domain.event_types import AdminEvents
from domain.events import NewEvent
from domain.ports import EventStore
from domain.privacy_service import Person, PrivacyService

AUDIT_STREAM = "admin-commands"
SPLITS = ("train", "eval", "all", "pairs")
REFUSAL = "Only Buddy's admins can do that. The attempt was recorded."
MAX_ARGUMENT = 100  # stored per argument, after scrubbing
UNSCOPE = "all"  # `scope all`: the channel answers from every source again
MAX_SCOPED = 20  # sources one `scope` command may name


@dataclass(frozen=True)
class CommandSpec:
    usage: str
    summary: str
    arguments: tuple[int, int] = (0, 0)  # how many, at least and at most
    target: str | None = None  # "user" or "channel": the argument names one (a pseudonym kept)


COMMANDS: Mapping[str, CommandSpec] = {
    "stats": CommandSpec("stats", "figures and a chart"),
    "export": CommandSpec(
        "export [train|eval|all|pairs]", "the curated dataset as JSONL, sent to you", (0, 1)
    ),
    "retrain": CommandSpec("retrain", "curate, train, evaluate; progress in a thread"),
    "models": CommandSpec("models", "every model version and its figures"),
    "promote": CommandSpec("promote VERSION", "serve VERSION now (over the gate)", (1, 1)),
    "rollback": CommandSpec("rollback", "serve the version served before"),
    "forget": CommandSpec("forget USER", "erase a user's stored text for good", (1, 1), "user"),
    "optout": CommandSpec("optout USER", "keep a user out of training", (1, 1), "user"),
    "optin": CommandSpec("optin USER", "undo an opt-out", (1, 1), "user"),
    "exclude-channel": CommandSpec(
        "exclude-channel CHANNEL", "keep a channel out of training", (1, 1), "channel"
    ),
    "audit": CommandSpec("audit", "the admin commands issued lately"),
    "scope": CommandSpec(
        "scope [SOURCE...|all]",
        "answer in this channel from these sources only (`all`: every source; alone: which)",
        (0, MAX_SCOPED),
    ),
}


def admin_help(prefix: str) -> str:
    """The admin commands, one per line, as `prefix` (`/buddy`, `/admin`) introduces them."""
    lines = [f"`{prefix} {spec.usage}`: {spec.summary}" for spec in COMMANDS.values()]
    return "Admin commands (BUDDY_ADMINS only):\n" + "\n".join(lines)


@dataclass(frozen=True)
class AdminRequest:
    person: Person  # who asked, as the platform names them
    channel_id: str
    command: str
    arguments: tuple[str, ...] = ()

    @classmethod
    def parse(cls, person: Person, channel_id: str, text: str) -> AdminRequest:
        name, *arguments = text.split() or [""]
        return cls(person, channel_id, name.lower(), tuple(arguments))


@dataclass(frozen=True)
class AdminFile:
    name: str
    content: bytes
    comment: str
    private: bool  # True: to the admin alone (a DM); False: where the command was issued


class AdminReplies(Protocol):
    """How a platform answers an admin command. The command was acked already."""

    async def say(self, text: str) -> None:
        """To the admin alone, where the command was issued."""
        ...

    async def progress(self, text: str) -> None:
        """Long work's progress and outcome, in one thread in the channel."""
        ...

    async def upload(self, file: AdminFile) -> None:
        """A file with its comment: private ones in a direct message to the admin."""
        ...


Report = Callable[[str], Awaitable[None]]


class AdminOperations(Protocol):
    """What the commands do, over the real services (bot/operations/admin.py)."""

    async def stats(self) -> tuple[str, bytes]:
        """The stats as text and the chart as a PNG."""
        ...

    async def export(self, split: str) -> tuple[int, bytes]:
        """The curated split as JSONL (consent applied) and how many lines it has."""
        ...

    async def retrain(self, report: Report) -> str:
        """Curate, train, evaluate and maybe promote, reporting as it goes; the decision."""
        ...

    async def models(self) -> str: ...

    async def promote(self, version: str, by: str) -> str: ...

    async def rollback(self, by: str) -> str: ...

    async def forget(self, person: Person) -> str: ...

    async def consent(self, person: Person, opted_out: bool) -> str: ...

    async def exclude_channel(self, platform: str, workspace: str, channel_id: str) -> str: ...

    async def scope(
        self, platform: str, workspace: str, channel_id: str, sources: tuple[str, ...] | None
    ) -> str:
        """The channel's scope: set to these source names, cleared with none, or, for None,
        only said. Raises a BuddyError naming the known sources for an unknown one."""
        ...


class Admins:
    """BUDDY_ADMINS: `platform:user_id` entries (`slack:U123,discord:456,local:alice`)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._ids = frozenset(entry.strip() for entry in entries if entry.strip())
        bad = sorted(entry for entry in self._ids if ":" not in entry)
        if bad:
            raise BuddyError(f"BUDDY_ADMINS entries need a platform: {', '.join(bad)}")

    def allows(self, person: Person) -> bool:
        return f"{person.platform}:{person.user_id}" in self._ids

    def __len__(self) -> int:
        return len(self._ids)


_MENTION = re.compile(r"^<[@#]!?([^|>]+)(?:\|[^>]*)?>$")  # <@U1|name>, <@!1>, <#C1|general>
_IDS = {
    ("slack", "user"): re.compile(r"^[UW][A-Z0-9]{2,}$"),
    ("slack", "channel"): re.compile(r"^[CGD][A-Z0-9]{2,}$"),
    ("discord", "user"): re.compile(r"^\d{5,25}$"),
    ("discord", "channel"): re.compile(r"^\d{5,25}$"),
}


def _unmentioned(argument: str) -> str:
    """The id inside a mention (`<@U123|alice>` -> `U123`); anything else as it is."""
    found = _MENTION.match(argument)
    return found.group(1) if found else argument


def target_id(platform: str, kind: str, argument: str) -> str:
    """The platform id a USER or CHANNEL argument names: a mention (`<@U123|alice>`) or the
    id itself. A name (`@alice`) is refused: only ids name people unambiguously."""
    value = _unmentioned(argument)
    pattern = _IDS.get((platform, kind))
    if not value or (pattern is not None and not pattern.match(value)):
        raise AdminUsage(
            f"{argument!r} is not a {platform} {kind} id: mention the {kind} or give its id"
        )
    return value


class AdminUsage(BuddyError):
    """A command given the wrong arguments."""


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    platform: str
    command: str
    arguments: tuple[str, ...]
    outcome: str  # ok, refused, usage, failed
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(), "actor": self.actor, "platform": self.platform,
            "command": self.command, "arguments": list(self.arguments),
            "outcome": self.outcome, "detail": self.detail,
        }  # fmt: skip

    def line(self) -> str:
        said = " ".join((self.command, *self.arguments))
        when = f"{self.at:%Y-%m-%d %H:%M}"
        return f"{when} {self.actor[:12]} ({self.platform}) {said}: {self.outcome}"


async def audit_entries(store: EventStore, limit: int | None = None) -> list[AuditEntry]:
    """Admin commands, oldest first; the newest `limit` of them when given."""
    entries: list[AuditEntry] = []
    for event in await store.read_stream(AUDIT_STREAM):
        payload = event.payload
        entries.append(AuditEntry(
            event.recorded_at, payload["actor"], payload["platform"], payload["command"],
            tuple(payload["arguments"]), payload["outcome"], payload.get("detail", ""),
        ))  # fmt: skip
    return entries[-limit:] if limit else entries


class AdminConsole:
    def __init__(
        self, store: EventStore, privacy: PrivacyService, admins: Admins,
        operations: AdminOperations, *, audit_shown: int = 20,
    ) -> None:  # fmt: skip
        self._store = store
        self._privacy = privacy
        self._admins = admins
        self._operations = operations
        self._audit_shown = audit_shown

    @staticmethod
    def handles(command: str) -> bool:
        return command in COMMANDS

    async def __call__(self, request: AdminRequest, replies: AdminReplies) -> str:
        """Run one command; its outcome (ok, refused, usage, failed), as recorded."""
        spec = COMMANDS[request.command]
        actor = self._privacy.pseudonym(request.person)
        arguments = self._stored_arguments(request, spec)
        if not self._admins.allows(request.person):
            await self._record(actor, request, arguments, "refused", "")
            await replies.say(REFUSAL)
            return "refused"
        try:
            detail = await self._run(request, spec, actor, replies)
            outcome = "ok"
        except AdminUsage as error:
            outcome, detail = "usage", str(error)
            await replies.say(f"{error}\nUsage: `{spec.usage}`")
        except BuddyError as error:  # the operation's own error, said to the admin
            outcome, detail = "failed", str(error)
            await replies.say(f"`{request.command}` failed: {error}")
        except Exception as error:  # a bug: the admin hears of it, the platform logs it
            detail = f"unexpected {type(error).__name__}"
            await self._record(actor, request, arguments, "failed", detail)
            await replies.say(f"`{request.command}` failed unexpectedly: the log has the details.")
            raise
        await self._record(actor, request, arguments, outcome, detail)
        return outcome

    async def _run(
        self, request: AdminRequest, spec: CommandSpec, actor: str, replies: AdminReplies
    ) -> str:
        low, high = spec.arguments
        if not low <= len(request.arguments) <= high:
            raise AdminUsage(f"`{request.command}` takes {_count(low, high)}")
        run = getattr(self, "_" + request.command.replace("-", "_"))
        reply: str = await run(request, actor, replies)
        return reply.splitlines()[0] if reply else ""

    async def _stats(self, _r: AdminRequest, _a: str, replies: AdminReplies) -> str:
        text, chart = await self._operations.stats()
        await replies.upload(AdminFile("buddy-stats.png", chart, text, private=False))
        return "stats sent"

    async def _export(self, request: AdminRequest, _a: str, replies: AdminReplies) -> str:
        split = request.arguments[0].lower() if request.arguments else "all"
        if split not in SPLITS:
            raise AdminUsage(f"unknown split {split!r}: choose from {', '.join(SPLITS)}")
        lines, content = await self._operations.export(split)
        comment = f"The curated {split} split: {lines} lines (consent applied)."
        await replies.upload(AdminFile(f"buddy-{split}.jsonl", content, comment, private=True))
        done = f"exported {lines} {split} lines: sent to you as a direct message"
        await replies.say(done)
        return done

    async def _retrain(self, _r: AdminRequest, _a: str, replies: AdminReplies) -> str:
        await replies.say("Retraining: I'll report each step in a thread here.")
        await replies.progress("Retraining, as an admin asked: curating the dataset first.")
        decision = await self._operations.retrain(replies.progress)
        await replies.progress(decision)
        return decision

    async def _models(self, _r: AdminRequest, _a: str, replies: AdminReplies) -> str:
        text = await self._operations.models()
        await replies.say(_code(text))  # columns: kept aligned, never read as markup
        return "models listed"

    async def _promote(self, request: AdminRequest, actor: str, replies: AdminReplies) -> str:
        return await self._said(replies, self._operations.promote(request.arguments[0], actor))

    async def _rollback(self, _r: AdminRequest, actor: str, replies: AdminReplies) -> str:
        return await self._said(replies, self._operations.rollback(actor))

    async def _forget(self, request: AdminRequest, _a: str, replies: AdminReplies) -> str:
        return await self._said(replies, self._operations.forget(self._target_person(request)))

    async def _optout(self, request: AdminRequest, _a: str, replies: AdminReplies) -> str:
        person = self._target_person(request)
        return await self._said(replies, self._operations.consent(person, True))

    async def _optin(self, request: AdminRequest, _a: str, replies: AdminReplies) -> str:
        person = self._target_person(request)
        return await self._said(replies, self._operations.consent(person, False))

    async def _exclude_channel(self, request: AdminRequest, _a: str, rep: AdminReplies) -> str:
        who = request.person
        channel = target_id(who.platform, "channel", request.arguments[0])
        excluded = self._operations.exclude_channel(who.platform, who.workspace, channel)
        return await self._said(rep, excluded)

    async def _scope(self, request: AdminRequest, _a: str, replies: AdminReplies) -> str:
        who, named = request.person, request.arguments
        change: tuple[str, ...] | None = named or None
        if any(name.lower() == UNSCOPE for name in named):
            if len(named) > 1:
                raise AdminUsage(f"`{UNSCOPE}` clears the scope: give it alone")
            change = ()
        scoped = self._operations.scope(who.platform, who.workspace, request.channel_id, change)
        return await self._said(replies, scoped)

    async def _audit(self, _r: AdminRequest, _a: str, replies: AdminReplies) -> str:
        entries = await audit_entries(self._store, self._audit_shown)
        lines = [entry.line() for entry in entries] or ["no admin commands yet"]
        await replies.say(f"The last {len(entries)} admin commands:\n" + _code("\n".join(lines)))
        return "audit listed"

    @staticmethod
    async def _said(replies: AdminReplies, work: Awaitable[str]) -> str:
        text = await work
        await replies.say(text)
        return text

    @staticmethod
    def _target_person(request: AdminRequest) -> Person:
        who = request.person  # the named user is in the admin's own workspace
        return Person(who.platform, who.workspace, target_id(who.platform, "user",
                                                             request.arguments[0]))  # fmt: skip

    def _stored_arguments(self, request: AdminRequest, spec: CommandSpec) -> tuple[str, ...]:
        """People and channels as pseudonyms (never their ids), anything else scrubbed."""
        who = request.person
        stored = []
        for argument in request.arguments[:5]:
            if spec.target is not None:
                value = _unmentioned(argument)
                if spec.target == "user":
                    stored.append("user:" + self._privacy.pseudonym(
                        Person(who.platform, who.workspace, value)))  # fmt: skip
                else:
                    stored.append("channel:" + self._privacy.channel(
                        who.platform, who.workspace, value))  # fmt: skip
            else:
                stored.append(self._privacy.scrub(argument)[:MAX_ARGUMENT])
        return tuple(stored)

    async def _record(
        self, actor: str, request: AdminRequest, arguments: tuple[str, ...], outcome: str,
        detail: str,
    ) -> None:  # fmt: skip
        event = NewEvent(AdminEvents.ADMIN_COMMAND_ISSUED, {
            "actor": actor, "platform": request.person.platform, "command": request.command,
            "arguments": list(arguments), "outcome": outcome,
            "detail": self._privacy.scrub(detail)[:200],
        })  # fmt: skip
        await self._store.append(AUDIT_STREAM, None, [event])


def _code(text: str) -> str:
    return f"```\n{text}\n```"


def _count(low: int, high: int) -> str:
    if low == high:
        return "no arguments" if low == 0 else f"{low} argument{'s' if low > 1 else ''}"
    return f"{low} to {high} arguments"
