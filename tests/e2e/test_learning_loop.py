"""The whole learning loop in seconds, on a tiny randomly initialised model: ask -> rate ->
curate -> train -> evaluate -> promote -> answers carry the new version -> rollback.

Everything is real (SQLite store, curator, MiniLM embedder, trainer, gate, registry, hot swap)
except the served model: a scripted model of our own LanguageModel port stands in for the
llama.cpp or Ollama server, since the tiny model has no GGUF base to serve it. The trainer runs
under BUDDY_LLM=ollama, the path where the serving side checks the adapter itself."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from domain.curation import split_of
from domain.grounding.grounder import GroundingSettings
from domain.grounding.relevance import AbstainRule
from domain.language import GenerationRequest, GenerationUsage
from domain.model_registry import EVALUATED, PROMOTED, ServedModel
from tests.e2e.serving import stored_events
from tests.e2e.test_learning_loop_cli import run_json
from training.tiny import make_tiny_gemma

TOPICS = [
    "the payments deploy", "a production rollback", "the staging cluster", "the on-call pager",
    "database migrations", "feature flags", "the CI pipeline", "secret rotation",
    "the error dashboard", "release tags", "the retry helper", "health checks",
    "incident channels", "post-mortems", "the deploy channel", "kubectl rollouts",
    "service.yaml limits", "the API keys", "backups of the data dir", "the pepper file",
    "load tests", "log levels", "the sandbox limits", "Slack set-up", "Discord invites",
]  # fmt: skip
DOC = """# Runbook

Deploy with `make deploy ENV=staging`. Roll back with `make rollback ENV=production`.
The staging cluster is called zephyr. Page the on-call engineer for incidents.
"""


class VersionedModel:
    """A served model that says which registry version it is, and answers on topic."""

    adapter_hash = None

    def __init__(self, version: str) -> None:
        self.model_version = f"tiny:{version}"
        self.closed = False

    async def stream(
        self, request: GenerationRequest, usage: GenerationUsage
    ) -> AsyncIterator[str]:
        question = request.messages[-1].content.rsplit("Question:", 1)[-1].split("\n")[0]
        yield f"For{question.strip().removeprefix('How do I handle')} follow the runbook: "
        yield "check the dashboard first, then tell the channel what you changed and why."
        usage.prompt_tokens, usage.completion_tokens = 30, 20

    async def close(self) -> None:
        self.closed = True


def questions() -> list[str]:
    """Questions on distinct topics, at least two of which fall in the eval split."""
    found = [f"How do I handle {topic}?" for topic in TOPICS]
    assert sum(split_of(q) == "eval" for q in found) >= 2
    return found


def loop_env(tmp_path: Path) -> dict[str, str]:
    """The loop's settings, as `Settings` takes them and as the CLI reads them."""
    return {
        "BUDDY_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'buddy.db'}",
        "BUDDY_LLM": "ollama",
        "BUDDY_TRAIN_BASE": str(tmp_path / "tiny-base"),
        "BUDDY_TRAIN_LR": "2e-2",
        "BUDDY_TRAIN_BATCH": "4",
        "BUDDY_TRAIN_MAX_LENGTH": "128",
        "BUDDY_PROMOTION_MARGIN": "0.05",
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    make_tiny_gemma(tmp_path / "tiny-base")
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "runbook.md").write_text(DOC)
    return Settings(**loop_env(tmp_path))  # type: ignore[arg-type]


async def answered_and_rated(services: Any, loaded: list[VersionedModel]) -> Any:
    """Every question answered by the served (scripted) model, the base, and rated 👍 by its
    asker; the answerer, serving the registry's version through `loaded`."""
    from adapters.platforms.local.channel import LocalChannel
    from bot.serve.model_serving import ModelServing
    from domain.conversation import Question
    from domain.feedback import Reaction
    from domain.privacy_service import Person

    async def load(served: ServedModel) -> VersionedModel:
        loaded.append(VersionedModel(served.version))
        return loaded[-1]

    services._serving = ModelServing(services.model_registry(), load)
    # The tiny model's replies are kept as written: this is the loop, not grounding.
    trusting = GroundingSettings(
        rule=AbstainRule(0.0, 0.0, 0.0), min_support=0.0, min_passage_dense=0.0
    )
    answer = await services.answerer(LocalChannel(None), grounding=trusting)
    rate = await services.rater()
    for index, text in enumerate(questions()):
        person = Person("local", "local", f"dev{index}")
        given = await answer(Question(person, "general", text, None))
        assert given.model_version == "tiny:base"
        await rate(Reaction(person, given.answer_id, "👍"))
    return answer


async def test_the_whole_loop_on_a_tiny_model(settings: Settings, tmp_path: Path) -> None:
    from bot.bootstrap import bootstrap
    from bot.cli.knowledge import ingest
    from bot.cli.learning import curate
    from bot.operations.training import run_training
    from domain.conversation import Question
    from domain.privacy_service import Person

    await ingest(settings, [tmp_path / "kb"], "Apache-2.0", None, "headings", True)
    loaded: list[VersionedModel] = []

    async with bootstrap(settings) as services:
        answer = await answered_and_rated(services, loaded)
        await curate(settings, True)
        curated = (settings.data_dir / "datasets" / "latest" / "train.jsonl").read_text()
        first = json.loads(curated.splitlines()[0])
        # The passages the answer was written from, so training renders the served prompt.
        assert first["meta"]["passages"].startswith("[1] ")
        assert "kb/runbook.md\nRunbook" in first["meta"]["passages"]
        assert "make rollback" in first["meta"]["passages"]
        outcome = await run_training(services, max_steps=12)
        assert outcome["status"] == "finished", outcome
        metrics = outcome["metrics"]
        assert metrics["eval_examples"] >= 2
        assert metrics["eval_loss"] < metrics["served_eval_loss"]
        assert outcome["promoted"] is True
        assert outcome["version"] == "v1"

        assert await services.reload_served() == "v1"  # what `buddy serve` does every few s
        person = Person("local", "local", "newcomer")
        after = await answer(Question(person, "general", "How do I handle the staging cluster?"))
        assert after.model_version == "tiny:v1"

        await services.model_registry().rollback()
        assert await services.reload_served() == "base"
        back = await answer(Question(person, "general", "How do I handle a production rollback?"))
        assert back.model_version == "tiny:base"
        assert loaded[0].closed  # the first base was released once idle

        kinds = [e.type for e in await services.store.read_all(0, 10_000)]
        for expected in ("training.DatasetCurated", "training.TrainingStarted",
                         "training.TrainingFinished", "training.ModelEvaluated",
                         "training.ModelPromoted", "training.ModelRolledBack"):  # fmt: skip
            assert expected in kinds
        stats = await services.conversations.stats()
        versions = {m.model_version: m for m in stats.models}
        assert versions["tiny:base"].positive == len(TOPICS)
        assert versions["tiny:v1"].answers == 1


async def test_buddy_train_decides_the_gate_and_records_the_decision(
    settings: Settings, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """`buddy train` from the CLI, decided by the real gate end to end (the trained adapter's
    eval loss against the served base's, on the eval split of what users rated): refused at a
    margin no adapter meets, promoted at the loop's. Each decision is a `ModelEvaluated` event
    with the figures it was taken on, and only the pass is followed by `ModelPromoted`."""
    from bot.bootstrap import bootstrap
    from bot.cli.knowledge import ingest

    await ingest(settings, [tmp_path / "kb"], "Apache-2.0", None, "headings", True)
    async with bootstrap(settings) as services:
        await answered_and_rated(services, [])
    env = clean_env | loop_env(tmp_path)
    curated = await asyncio.to_thread(run_json, env, "curate")
    assert curated["eval"] >= 2, curated
    train = ("train", "--max-steps", "12")

    strict = env | {"BUDDY_PROMOTION_MARGIN": "0.99"}
    refused = await asyncio.to_thread(run_json, strict, *train)
    assert (refused["version"], refused["status"], refused["promoted"]) == ("v1", "finished", False)
    assert refused["gate"]["passed"] is False
    [reason] = refused["gate"]["reasons"]
    assert "is not 99% below the served model's" in reason

    promoted = await asyncio.to_thread(run_json, env, *train)
    assert (promoted["version"], promoted["status"], promoted["promoted"]) == (
        "v2",
        "finished",
        True,
    )
    assert promoted["gate"] == {"passed": True, "reasons": []}

    events = await stored_events(str(settings.database_url))
    decisions = {e.payload["version"]: e.payload for e in events if e.type == EVALUATED}
    assert decisions["v1"]["passed"] is False
    assert decisions["v1"]["reasons"] == [reason]
    assert decisions["v2"]["passed"] is True
    metrics = decisions["v2"]["metrics"]
    assert metrics["eval_loss"] < metrics["served_eval_loss"] * (1 - 0.05)
    assert [e.payload["version"] for e in events if e.type == PROMOTED] == ["v2"]
    served = await asyncio.to_thread(run_json, env, "models")
    assert served["served"] == "v2"


def test_bench_training_compares_buddy_with_a_plain_peft_loop(
    settings: Settings, clean_env: dict[str, str]
) -> None:
    from tests.e2e.test_cli import buddy

    env = clean_env | {"BUDDY_LLM": "ollama", "BUDDY_TRAIN_BASE": str(settings.train_base),
                       "DATABASE_URL": str(settings.database_url)}  # fmt: skip
    done = buddy("bench", "training", "--json", env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["training"]
    assert result["base"] == "tiny-base"
    assert result["buddy_tokens_per_s"] > 0
    assert result["plain_tokens_per_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["buddy_tokens_per_s"] / result["plain_tokens_per_s"], rel=0.01
    )
    assert "swap" not in result  # no llama.cpp base to swap on under Ollama
