"""How each language runs inside the sandbox: the host runtime, its command line, its limits."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from domain.sandbox import BASH, JAVASCRIPT, PYTHON, SQL, SandboxLimits

# Inside the sandbox: the only writable place (a fresh tmpfs), the work dir and HOME.
WORK_DIR = "/tmp"
# The sandbox binds /usr (and the merged-/usr links): a runtime elsewhere cannot be seen inside.
VISIBLE_PREFIXES = ("/usr/",)


@dataclass(frozen=True)
class LanguageProfile:
    name: str
    # Host runtimes, first found wins; never the virtualenv's python (its tree is not bound).
    candidates: tuple[str, ...]
    # The command, given the runtime's path, the code file's path and the limits.
    argv: Callable[[str, str, SandboxLimits], list[str]]
    source_name: str
    limits: SandboxLimits
    # SQL has no script file: the sqlite3 shell reads the code on stdin.
    code_on_stdin: bool = False
    # V8 reserves gigabytes of address space: only a memory cgroup can bound it.
    needs_memory_cgroup: bool = False


def _python(runtime: str, source: str, _limits: SandboxLimits) -> list[str]:
    # -I: no PYTHON* variables, no user site, no script dir on sys.path; -B: no bytecode writes.
    return [runtime, "-I", "-B", source]


def _bash(runtime: str, source: str, _limits: SandboxLimits) -> list[str]:
    return [runtime, "--noprofile", "--norc", source]


def _node(runtime: str, source: str, limits: SandboxLimits) -> list[str]:
    # Keep V8's heap well under the cgroup so a big allocation fails in JavaScript first.
    heap_mib = max(16, limits.memory_mib // 2)
    return [runtime, f"--max-old-space-size={heap_mib}", source]


def _sqlite(runtime: str, _source: str, _limits: SandboxLimits) -> list[str]:
    return [runtime, "-batch", "-bail", ":memory:"]


PROFILES: Mapping[str, LanguageProfile] = {
    PYTHON: LanguageProfile(
        PYTHON, ("/usr/bin/python3", "/usr/local/bin/python3"), _python, "main.py", SandboxLimits()
    ),
    BASH: LanguageProfile(BASH, ("/usr/bin/bash", "/bin/bash"), _bash, "main.sh", SandboxLimits()),
    JAVASCRIPT: LanguageProfile(
        JAVASCRIPT,
        ("/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"),
        _node,
        "main.js",
        # Node alone holds about 40 MiB resident and 7 threads (pids.max counts threads).
        SandboxLimits(memory_mib=128),
        needs_memory_cgroup=True,
    ),
    SQL: LanguageProfile(
        SQL, ("/usr/bin/sqlite3",), _sqlite, "main.sql", SandboxLimits(), code_on_stdin=True
    ),
}


def find_runtime(profile: LanguageProfile) -> str | None:
    """The real path of the first installed runtime that the sandbox can see, or None."""
    for candidate in profile.candidates:
        found = shutil.which(candidate)
        if found is None:
            continue
        real = os.path.realpath(found)
        if real.startswith(VISIBLE_PREFIXES) and os.access(real, os.X_OK):
            return real
    return None


def visible_executable(path: str) -> str | None:
    """The real path of a helper the sandbox runs from /usr, or None."""
    real = os.path.realpath(path)
    return real if real.startswith(VISIBLE_PREFIXES) and os.access(real, os.X_OK) else None
