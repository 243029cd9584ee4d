"""Erasure, opt-out and channel exclusion reach every copy of a person's text at once: the curated
files on this disk, and what export and training read when the change was made elsewhere (another
replica, a chat command) and the files here are stale. On both databases, with a tiny model for
the training run and a scripted one for the answers (the loop test says why)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.settings import Settings
from domain.curation import split_of
from domain.grounding.grounder import GroundingSettings
from domain.grounding.relevance import AbstainRule
from domain.model_registry import ServedModel
from domain.privacy_service import Person
from tests.e2e.test_learning_loop import DOC, TOPICS, VersionedModel
from training.tiny import make_tiny_gemma

# Words the scrubber leaves alone, one per person or channel, planted in their questions (the
# scripted model repeats the question's topic in its answer, so they reach both sides).
ALICE, BOB, CAROL, DAVE = "zanzibarquokka", "ottermango", "periwinklestoat", "saffronnarwhal"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "runbook.md").write_text(DOC)
    return Settings(
        BUDDY_DATA_DIR=tmp_path / "data",
        DATABASE_URL=database_url,
        BUDDY_LLM="ollama",
        BUDDY_TRAIN_BASE=make_tiny_gemma(tmp_path / "tiny-base"),
        BUDDY_TRAIN_BATCH=4,
        BUDDY_TRAIN_MAX_LENGTH=128,
    )  # type: ignore[call-arg]


def curated_text(settings: Settings) -> str:
    folder = settings.data_dir / "datasets" / "latest"
    return "".join(p.read_text() for p in sorted(folder.glob("*.jsonl")))


async def test_forget_optout_and_exclusion_reach_curated_files_exports_and_training(
    settings: Settings, tmp_path: Path
) -> None:
    from adapters.platforms.local.channel import LocalChannel
    from bot.bootstrap import bootstrap
    from bot.cli.knowledge import ingest
    from bot.cli.learning import curate, export
    from bot.cli.privacy import forget
    from bot.operations.training import run_training
    from bot.serve.model_serving import ModelServing
    from domain.conversation import Question
    from domain.feedback import Reaction

    await ingest(settings, [tmp_path / "kb"], "Apache-2.0", None, "headings", True)
    people = {ALICE: ("alice", "general"), BOB: ("bob", "general"), CAROL: ("carol", "random"),
              DAVE: ("dave", "general")}  # fmt: skip
    async with bootstrap(settings) as services:

        async def load(served: ServedModel) -> VersionedModel:
            return VersionedModel(served.version)

        services._serving = ModelServing(services.model_registry(), load)
        trusting = GroundingSettings(
            rule=AbstainRule(0.0, 0.0, 0.0), min_support=0.0, min_passage_dense=0.0
        )
        answer = await services.answerer(LocalChannel(None), grounding=trusting)
        rate = await services.rater()
        for canary, (name, channel) in people.items():
            person = Person("local", "local", name)
            for topic in TOPICS[:8]:  # both splits get some of each person's questions
                given = await answer(
                    Question(person, channel, f"How do I handle {topic} {canary}?")
                )
                await rate(Reaction(person, given.answer_id, "👍"))
        assert {split_of(f"How do I handle {t} {c}?") for t in TOPICS[:8] for c in people} == {
            "train",
            "eval",
        }

        await curate(settings, True)
        before = curated_text(settings)
        assert all(canary in before for canary in people)

        # Through the command: the files on this disk lose her text at once.
        await forget(settings, Person("local", "local", "alice"), True)
        assert ALICE not in curated_text(settings)
        assert BOB in curated_text(settings)

        # Recorded elsewhere (another replica, a chat command): the files here are stale, and
        # what reads them curates again first.
        privacy = await services.privacy()
        await privacy.exclude_channel("local", "local", "random")
        assert CAROL in curated_text(settings)
        for split in ("all", "pairs"):
            await export(settings, tmp_path / f"export-{split}.jsonl", split)
            exported = (tmp_path / f"export-{split}.jsonl").read_text()
            assert not [c for c in (ALICE, CAROL) if c in exported]
        assert BOB in (tmp_path / "export-all.jsonl").read_text()
        assert CAROL not in curated_text(settings)

        await privacy.opt_out(Person("local", "local", "bob"))
        assert BOB in curated_text(settings)
        outcome = await run_training(services, max_steps=2)
        assert outcome["status"] == "finished", outcome
        left = curated_text(settings)
        assert [c for c in people if c in left] == [DAVE]
        assert DAVE in left
        # What trained is the dataset curated after bob left, named by its hash.
        started = [
            e for e in await services.store.read_all(0, 10_000)
            if e.type == "training.TrainingStarted"
        ]  # fmt: skip
        summary = settings.data_dir / "datasets" / "latest" / "summary.json"
        assert (
            started[-1].payload["dataset_hash"] == json.loads(summary.read_text())["dataset_hash"]
        )
