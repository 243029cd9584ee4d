"""Running code snippets: the request, the result, the limits, the port, and fence parsing.

Limits follow python-discord/snekbox (6 s wall, 70 MiB, 15 processes, 48 MiB tmpfs, 1 MB output).
A backend enforces them; this module only describes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from domain.errors import BuddyError

PYTHON = "python"
BASH = "bash"
JAVASCRIPT = "javascript"
SQL = "sql"
LANGUAGES = (PYTHON, BASH, JAVASCRIPT, SQL)

_ALIASES = {
    "py": PYTHON,
    "py3": PYTHON,
    "python": PYTHON,
    "python3": PYTHON,
    "sh": BASH,
    "shell": BASH,
    "bash": BASH,
    "js": JAVASCRIPT,
    "javascript": JAVASCRIPT,
    "node": JAVASCRIPT,
    "nodejs": JAVASCRIPT,
    "sql": SQL,
    "sqlite": SQL,
    "sqlite3": SQL,
}


class SandboxUnavailable(BuddyError):
    """The sandbox cannot run here or cannot isolate (no bwrap, no cgroup and no way to drop
    privileges, no container engine); says what is missing."""


class LanguageUnavailable(BuddyError):
    """The language is unknown, or its runtime is not installed where the sandbox runs."""


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 6.0
    cpu_s: int = 6
    memory_mib: int = 70
    processes: int = 15
    output_bytes: int = 1_000_000
    file_size_mib: int = 32
    open_files: int = 64
    tmpfs_mib: int = 48
    # Per-process address space; None leaves memory to the cgroup (V8 reserves gigabytes of
    # address space up front, so JavaScript cannot live under RLIMIT_AS at these sizes).
    address_space_mib: int | None = None

    def __post_init__(self) -> None:
        numbers = {
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "memory_mib": self.memory_mib,
            "processes": self.processes,
            "output_bytes": self.output_bytes,
            "file_size_mib": self.file_size_mib,
            "open_files": self.open_files,
            "tmpfs_mib": self.tmpfs_mib,
        }
        if self.address_space_mib is not None:
            numbers["address_space_mib"] = self.address_space_mib
        bad = [name for name, value in numbers.items() if value <= 0]
        if bad:
            raise ValueError(f"sandbox limits must be positive: {', '.join(bad)}")


@dataclass(frozen=True)
class RunRequest:
    language: str
    code: str
    stdin: str = ""
    # None: the backend's limits for this language.
    limits: SandboxLimits | None = None


@dataclass(frozen=True)
class RunResult:
    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool = False
    truncated: bool = False
    duration_ms: int = 0
    # The signal that ended the program (exit codes above 128 follow the shell's convention).
    signal: int | None = None
    oom_killed: bool = False
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.truncated or self.oom_killed)


class Sandbox(Protocol):
    async def run(self, request: RunRequest) -> RunResult:
        """Run the snippet under its limits. Raises LanguageUnavailable or SandboxUnavailable;
        a snippet that fails, times out or floods is a result, not an error."""
        ...

    def languages(self) -> dict[str, bool]:
        """Every language this backend knows, and whether its runtime is available."""
        ...


class CodeBlock(NamedTuple):
    language: str
    code: str


def normalise_language(name: str) -> str:
    """The canonical language for a fence tag or CLI flag; unknown tags come back lowercased."""
    tag = name.strip().lower()
    return _ALIASES.get(tag, tag)


# A fence of three or more backticks or tildes, an optional info string, the body, and the same
# fence again (CommonMark's rule: the closing fence is at least as long as the opening one).
_FENCE = re.compile(
    r"^[ \t]{0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)\n?"
    r"^[ \t]{0,3}(?P=fence)[`~]*[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def code_blocks(message: str) -> list[CodeBlock]:
    """The fenced code blocks of a chat message, in order, with the language from the fence
    ("" when the fence names none)."""
    blocks = []
    for match in _FENCE.finditer(message):
        info = match.group("info").strip()
        language = normalise_language(info.split()[0]) if info else ""
        blocks.append(CodeBlock(language, match.group("body")))
    return blocks
