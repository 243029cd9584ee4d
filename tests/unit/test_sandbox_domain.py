"""Pure sandbox domain: limits, results, language names and fenced code blocks."""

from __future__ import annotations

import dataclasses

import pytest

from domain.errors import BuddyError
from domain.sandbox import (
    CodeBlock,
    LanguageUnavailable,
    RunRequest,
    RunResult,
    SandboxLimits,
    SandboxUnavailable,
    code_blocks,
    normalise_language,
)


def test_default_limits_follow_snekbox() -> None:
    limits = SandboxLimits()
    assert (limits.wall_s, limits.memory_mib, limits.processes) == (6.0, 70, 15)
    assert (limits.output_bytes, limits.tmpfs_mib) == (1_000_000, 48)
    assert limits.address_space_mib is None


@pytest.mark.parametrize("field", ["wall_s", "cpu_s", "memory_mib", "processes", "tmpfs_mib"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SandboxLimits(**{field: 0})
    with pytest.raises(ValueError, match="address_space_mib"):
        SandboxLimits(address_space_mib=-1)


def test_values_are_frozen() -> None:
    request = RunRequest("python", "print(1)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.code = "evil"  # type: ignore[misc]
    assert request.limits is None
    assert request.stdin == ""


def test_a_result_is_ok_only_when_nothing_went_wrong() -> None:
    assert RunResult("1\n", "", 0).ok
    assert not RunResult("", "", 1).ok
    assert not RunResult("", "", 0, timed_out=True).ok
    assert not RunResult("x", "", 0, truncated=True).ok
    assert not RunResult("", "", 137, signal=9, oom_killed=True).ok


def test_sandbox_errors_are_buddy_errors() -> None:
    assert issubclass(SandboxUnavailable, BuddyError)
    assert issubclass(LanguageUnavailable, BuddyError)


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("py", "python"),
        ("Python3", "python"),
        ("python", "python"),
        ("sh", "bash"),
        ("shell", "bash"),
        ("bash", "bash"),
        ("js", "javascript"),
        ("node", "javascript"),
        ("javascript", "javascript"),
        ("sqlite", "sql"),
        ("sql", "sql"),
        (" RUST ", "rust"),
    ],
)
def test_language_aliases_are_normalised(tag: str, language: str) -> None:
    assert normalise_language(tag) == language


def test_fenced_blocks_come_back_in_order_with_their_language() -> None:
    message = (
        "does this work? run this\n"
        "```py\nprint('a')\nprint('b')\n```\n"
        "and\n"
        "```sh\necho hi\n```\n"
        "```\nno language\n```"
    )
    assert code_blocks(message) == [
        CodeBlock("python", "print('a')\nprint('b')"),
        CodeBlock("bash", "echo hi"),
        CodeBlock("", "no language"),
    ]


def test_fence_details() -> None:
    # Tildes, longer fences that contain a shorter one, info strings with attributes.
    message = "~~~js title=x\nconsole.log(1)\n~~~\n````python\n```\ninner\n```\n````"
    assert code_blocks(message) == [
        CodeBlock("javascript", "console.log(1)"),
        CodeBlock("python", "```\ninner\n```"),
    ]
    assert code_blocks("```sqlite\n```") == [CodeBlock("sql", "")]


def test_unclosed_or_inline_fences_are_not_blocks() -> None:
    assert code_blocks("```python\nprint(1)") == []
    assert code_blocks("use ```x``` inline") == []
    assert code_blocks("no code at all") == []
