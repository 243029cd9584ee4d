"""Registered knowledge sources: a local path, a Git repository or a documentation site, kept
current by syncing on a schedule.

A `SourceSpec` says where a source lives and how to read it; it is recorded when the source is
added. A `SourceFetcher` (one adapter per kind) reads what changed since the previous sync and
hands back a `Fetched`: the new revision, the changed files, the deleted paths, and its own
state for next time (a commit, a site's ETags). Ingestion turns that into knowledge events."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from domain.errors import BuddyError
from domain.ingestion import SourceFile

SourceKind = Literal["local", "git", "web"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class SourceError(BuddyError):
    """A source that cannot be added or synced: unreachable, refused, malformed, unlicensed."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: SourceKind
    origin: str  # a path, or a URL without credentials
    license: str | None = None  # SPDX id given by the admin; None: read from the source
    include: tuple[str, ...] = ()  # globs over paths (or URL paths); empty: everything
    exclude: tuple[str, ...] = ()
    every_hours: float | None = None  # None: synced by hand only
    ref: str | None = None  # git: the branch or tag followed (None: the remote's default)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "origin": self.origin,
            "license": self.license, "include": list(self.include),
            "exclude": list(self.exclude), "every_hours": self.every_hours, "ref": self.ref,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SourceSpec:
        return cls(
            data["name"], data["kind"], data["origin"], data.get("license"),
            tuple(data.get("include") or ()), tuple(data.get("exclude") or ()),
            data.get("every_hours"), data.get("ref"),
        )  # fmt: skip


@dataclass
class Fetched:
    """What a fetcher found since the previous sync."""

    revision: str  # a commit, or a digest over a site's pages: what this sync saw
    files: list[SourceFile]  # new or changed since the previous sync (all, on the first)
    deleted: list[str] = field(default_factory=list)  # relative paths gone since
    complete: bool = False  # True: `files` is everything (paths not in it are gone)
    license: str | None = None  # what the source says of itself (SPDX id), None: nothing
    skipped: Counter[str] = field(default_factory=Counter)  # binary, huge, robots, ...
    state: dict[str, Any] = field(default_factory=dict)  # handed back at the next sync
    citation: str | None = None  # how chunks cite the revision: "repo@1a2b3c4"


class SourceFetcher(Protocol):
    async def fetch(self, spec: SourceSpec, previous: Mapping[str, Any] | None) -> Fetched:
        """Read the source. `previous` is the state the last successful sync returned (None
        the first time). Raises SourceError with a reason a person can act on."""
        ...


# `/buddy scope all` gives a channel every source back: no source may be called that.
RESERVED_NAMES = frozenset({"all"})


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise SourceError(
            f"source name {name!r}: letters, digits, '.', '_' or '-', at most 64 characters"
        )
    if name.lower() in RESERVED_NAMES:
        raise SourceError(
            f"source name {name!r} is reserved (`scope {name.lower()}` means every source): "
            "give another with --name"
        )
    return name


def without_credentials(url: str) -> str:
    """The URL with any user and password removed: what is stored, logged and shown."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def kind_of(origin: str) -> SourceKind:
    """git for git URLs (and anything ending .git), web for other http(s) URLs, else local."""
    lowered = origin.lower()
    if lowered.startswith(("git://", "ssh://", "git@")) or lowered.rstrip("/").endswith(".git"):
        return "git"
    if lowered.startswith(("http://", "https://")):
        return "web"
    if lowered.startswith("file://"):
        return "git"
    return "local"
