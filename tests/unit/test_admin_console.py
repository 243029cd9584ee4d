"""The admin console alone (domain/admin.py): authorisation, arguments, outcomes and what the
audit record keeps, over scripted operations and replies."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.admin import AdminConsole, AdminFile, AdminRequest, Admins, AdminUsage, target_id
from domain.errors import BuddyError
from domain.privacy_service import Person, PrivacyService
from tests.fakes import (
    FixedClock,
    InMemoryEventStore,
    InMemoryKeyVault,
    NoScrub,
    ScriptedAdminOperations,
)

ADMIN = Person("slack", "T1", "U0ADMIN1")


class Replies:
    def __init__(self) -> None:
        self.said: list[str] = []
        self.progress_lines: list[str] = []
        self.files: list[AdminFile] = []

    async def say(self, text: str) -> None:
        self.said.append(text)

    async def progress(self, text: str) -> None:
        self.progress_lines.append(text)

    async def upload(self, file: AdminFile) -> None:
        self.files.append(file)


class Broken(ScriptedAdminOperations):
    async def models(self) -> str:
        raise RuntimeError("a bug")


def console(operations: Any = None) -> tuple[AdminConsole, InMemoryEventStore, PrivacyService]:
    store, keys = InMemoryEventStore(), InMemoryKeyVault()
    privacy = PrivacyService(store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys),
                             keys, FixedClock())  # fmt: skip
    admins = Admins(["slack:U0ADMIN1", " local:alice "])
    return (
        AdminConsole(store, privacy, admins, operations or ScriptedAdminOperations()),
        store,
        privacy,
    )


async def run(
    text: str, operations: Any = None, who: Person = ADMIN
) -> tuple[str, Replies, dict[str, Any]]:
    admin, store, _ = console(operations)
    replies = Replies()
    outcome = await admin(AdminRequest.parse(who, "C1", text), replies)
    [event] = store.events
    return outcome, replies, dict(event.payload)


def test_admins_name_a_platform_and_a_user() -> None:
    admins = Admins(["slack:U1", "local:alice"])
    assert admins.allows(Person("slack", "any-workspace", "U1"))
    assert not admins.allows(Person("discord", "default", "U1"))
    with pytest.raises(BuddyError, match="need a platform"):
        Admins(["U1"])


@pytest.mark.parametrize(
    ("platform", "kind", "argument", "expected"),
    [
        ("slack", "user", "<@U0BOB123|bob>", "U0BOB123"),
        ("slack", "user", "U0BOB123", "U0BOB123"),
        ("slack", "channel", "<#C0RAND1|random>", "C0RAND1"),
        ("discord", "user", "<@!81234567890>", "81234567890"),
        ("discord", "channel", "<#81234567890>", "81234567890"),
        ("local", "user", "bob", "bob"),
    ],
)
def test_a_target_is_a_mention_or_an_id(
    platform: str, kind: str, argument: str, expected: str
) -> None:
    assert target_id(platform, kind, argument) == expected


@pytest.mark.parametrize(("platform", "argument"), [("slack", "@bob"), ("slack", "bob"),
                                                    ("discord", "bob"), ("local", "")])  # fmt: skip
def test_a_name_is_not_an_id(platform: str, argument: str) -> None:
    with pytest.raises(AdminUsage):
        target_id(platform, "user", argument)


async def test_a_wrong_number_of_arguments_is_the_usage_and_runs_nothing() -> None:
    operations = ScriptedAdminOperations()
    outcome, replies, recorded = await run("promote v1 v2", operations)
    assert outcome == "usage"
    assert replies.said == ["`promote` takes 1 argument\nUsage: `promote VERSION`"]
    assert operations.calls == []
    assert recorded["outcome"] == "usage"


async def test_an_unknown_split_is_the_usage() -> None:
    outcome, replies, _ = await run("export everything")
    assert outcome == "usage"
    assert "choose from train, eval, all, pairs" in replies.said[0]


async def test_arguments_are_stored_as_pseudonyms_or_scrubbed() -> None:
    admin, store, privacy = console()
    await admin(AdminRequest.parse(ADMIN, "C1", "forget <@U0BOB123|bob>"), Replies())
    await admin(AdminRequest.parse(ADMIN, "C1", "exclude-channel <#C0RAND1|random>"), Replies())
    forget, exclude = (dict(e.payload) for e in store.events)
    assert forget["arguments"] == ["user:" + privacy.pseudonym(Person("slack", "T1", "U0BOB123"))]
    assert exclude["arguments"] == ["channel:" + privacy.channel("slack", "T1", "C0RAND1")]
    assert forget["actor"] == privacy.pseudonym(ADMIN)
    assert "U0BOB123" not in str(store.events)
    assert "C0RAND1" not in str(store.events)


async def test_retrain_reports_its_progress_then_the_decision() -> None:
    outcome, replies, _ = await run("retrain")
    assert outcome == "ok"
    assert replies.progress_lines[0].startswith("Retraining")
    assert replies.progress_lines[-1].startswith("v1 passed the gate")


async def test_a_bug_is_said_recorded_and_raised_for_the_platform_to_log() -> None:
    admin, store, _ = console(Broken())
    replies = Replies()
    with pytest.raises(RuntimeError):
        await admin(AdminRequest.parse(ADMIN, "C1", "models"), replies)
    assert replies.said == ["`models` failed unexpectedly: the log has the details."]
    [event] = store.events
    assert event.payload["outcome"] == "failed"
    assert event.payload["detail"] == "unexpected RuntimeError"


async def test_run_training_says_clearly_when_the_train_extra_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from bot.operations.training import run_training
    from domain.errors import ConfigurationError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "peft" else real(name, *a))  # fmt: skip
    with pytest.raises(ConfigurationError, match=r"buddy\[train\]"):
        await run_training(object())  # type: ignore[arg-type]
