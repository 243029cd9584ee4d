"""A milestone's training killed at any point resumes to exactly one gate decision.

The run is killed (an exception no layer catches, as a dying process would leave it: no
`TrainingFailed`) while training, while converting the trained adapter, right after
`TrainingFinished`, while evaluating, and right after a passing `ModelEvaluated`. The next
scheduled round finds the milestone still due, resumes the same version where it stopped (the
checkpoint, the finished adapter, the recorded evaluation) and promotes it once. Real store
(SQLite), scheduler job, `run_training`, trainer and GGUF conversion on a tiny model; the
evaluation is scripted (a pass), since what it measures is tested in test_evaluate.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from domain.events import NewEvent, RecordedEvent
from training.tiny import make_tiny_gemma

MILESTONES = (4,)
STEPS = 4  # checkpoints every 2 steps (see `settings`): one at step 2
EXAMPLES = [
    ("How do I deploy the service?", "Run make deploy from the repo root."),
    ("What is the staging cluster called?", "The staging cluster is called zephyr."),
    ("Which tool runs the tests?", "The tests run with pytest."),
    ("What language is the build in?", "The build uses Python."),
]
KILL_POINTS = ["training", "converting", "after-finished", "evaluating", "after-evaluated"]


class Killed(BaseException):
    """The process dying: nothing in the pipeline or the scheduler catches it."""


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma"))


@pytest.fixture
async def services(tiny_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from bot.bootstrap import bootstrap
    from bot.operations import training as training_operations

    settings = Settings(
        BUDDY_DATA_DIR=tmp_path / "data", BUDDY_LLM="ollama", BUDDY_TRAIN_BASE=tiny_base,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'buddy.db'}",
        BUDDY_TRAIN_BATCH=2, BUDDY_TRAIN_MAX_LENGTH=64,
    )  # type: ignore[call-arg]  # fmt: skip
    folder = settings.data_dir / "datasets" / "latest"
    folder.mkdir(parents=True)
    lines = [json.dumps({"messages": [{"role": "user", "content": q},
                                      {"role": "assistant", "content": a}]})
             for q, a in EXAMPLES]  # fmt: skip
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "eval.jsonl").write_text(lines[0] + "\n")
    # Curated "after" every consent change there will be: no reader curates it again.
    summary = {"dataset_hash": "tiny-4", "examples": 4, "consent_position": 10**12}
    (folder / "summary.json").write_text(json.dumps(summary) + "\n")
    real_config = training_operations.train_config
    monkeypatch.setattr(training_operations, "train_config", lambda s, max_steps=None: replace(
        real_config(s, max_steps), checkpoint_every=2))  # fmt: skip
    async with bootstrap(settings) as built:
        await curated(built)
        yield built


async def curated(services: Any) -> None:
    payload = {"examples": len(EXAMPLES), "dataset_hash": "tiny-4"}
    event = NewEvent("training.DatasetCurated", payload)
    await services.store.append("dataset-tiny", None, [event])


class Scripted:
    """The gate, scripted to pass; counts its calls and can die inside one."""

    def __init__(self) -> None:
        self.calls = 0
        self.die = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from training.evaluate import Evaluation

        self.calls += 1
        if self.die:
            raise Killed("killed while evaluating")
        return Evaluation({"eval_loss": 1.0, "served_eval_loss": 2.0})


async def one_round(services: Any) -> str:
    from adapters.store.job_lock import SqlJobLock
    from bot.operations.training import run_training
    from scheduler.milestones import milestone_job

    async def curate() -> None:
        await curated(services)

    async def train(milestone: int) -> None:
        await run_training(services, max_steps=STEPS, milestone=milestone)

    outcome = await milestone_job(
        store=services.store, lock=SqlJobLock(services.db), curate=curate, train=train,
        milestones=MILESTONES,
    )  # fmt: skip
    return outcome.status


def kill(point: str, monkeypatch: pytest.MonkeyPatch, services: Any, gate: Scripted) -> None:
    """Arm one kill point for the next run."""
    import training.gguf_adapter
    import training.pipeline

    if point == "training":
        real = training.pipeline.train_lora

        def dies_at_step_3(done: int, total: int) -> None:
            if done == 3:
                raise Killed("killed while training")

        def train(*args: Any, **kwargs: Any) -> Any:
            return real(*args, **kwargs | {"progress": dies_at_step_3})

        monkeypatch.setattr(training.pipeline, "train_lora", train)
    elif point == "converting":

        def convert(*args: Any, **kwargs: Any) -> Path:
            raise Killed("killed while converting")

        monkeypatch.setattr(training.gguf_adapter, "convert_adapter", convert)
    elif point == "evaluating":
        gate.die = True
    else:
        dies_after = {"after-finished": "training.TrainingFinished",
                      "after-evaluated": "training.ModelEvaluated"}[point]  # fmt: skip
        real_append = services.store.append

        async def append(stream: str, expected: Any, events: Any, **kwargs: Any) -> Any:
            result = await real_append(stream, expected, events, **kwargs)
            if any(event.type == dies_after for event in events):
                raise Killed(f"killed right after {dies_after}")
            return result

        monkeypatch.setattr(services.store, "append", append)


async def all_events(services: Any) -> list[RecordedEvent]:
    events: list[RecordedEvent] = await services.store.read_all(0, 10_000)
    return events


@pytest.mark.parametrize("point", KILL_POINTS)
async def test_a_run_killed_at_any_point_resumes_to_one_decision(
    point: str, services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.pipeline
    from scheduler.milestones import read_progress

    gate = Scripted()
    monkeypatch.setattr(training.pipeline, "evaluate", gate)
    with monkeypatch.context() as dying:
        kill(point, dying, services, gate)
        with pytest.raises(Killed):
            await one_round(services)
    gate.die = False
    assert (await read_progress(services.store)).due(MILESTONES) == 4, "the milestone is not done"

    assert await one_round(services) == "trained"  # resumed
    assert await one_round(services) == "idle"  # and decided: nothing left to do
    events = await all_events(services)
    kinds = [(e.type, e.payload.get("version")) for e in events if e.type.startswith("training.")]
    promoted = [e for e in events if e.type == "training.ModelPromoted"]
    assert [e.payload["version"] for e in promoted] == ["v1"], kinds  # exactly one decision
    assert {e.payload.get("version") for e in events if "version" in e.payload} == {"v1"}
    starts = [e.payload for e in events if e.type == "training.TrainingStarted"]
    assert all(start["milestone"] == 4 for start in starts)
    finished = [e.payload for e in events if e.type == "training.TrainingFinished"]
    assert len(finished) == 1, kinds
    assert finished[0]["metrics"]["steps"] == STEPS
    evaluations = [e.payload for e in events if e.type == "training.ModelEvaluated"]
    assert len(evaluations) == 1, kinds
    assert evaluations[0]["passed"]
    if point == "training":  # resumed from the checkpoint of step 2
        assert [start["resumed_from_step"] for start in starts] == [None, 2]
        assert finished[0]["metrics"]["resumed_from_step"] == 2
    elif point == "converting":  # the completed adapter is reused, not trained again
        assert len(starts) == 2
        assert finished[0]["metrics"]["resumed_from_step"] == STEPS
    else:  # trained once; evaluated again only when killed before it was recorded
        assert len(starts) == 1
        evaluated = {"after-finished": 1, "evaluating": 2, "after-evaluated": 1}[point]
        assert gate.calls == evaluated  # the recorded evaluation is reused


async def test_the_shared_adapter_resumes_a_run_another_replica_trained(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while evaluating on one replica; the replica that resumes it lacks the files on
    its disk: it fetches them by hash from the database instead of training again."""
    import shutil

    import training.pipeline

    gate = Scripted()
    monkeypatch.setattr(training.pipeline, "evaluate", gate)
    gate.die = True
    with pytest.raises(Killed):
        await one_round(services)
    gate.die = False
    adapters = services.settings.data_dir / "adapters"
    shutil.rmtree(adapters)  # another replica's data dir

    assert await one_round(services) == "trained"
    events = await all_events(services)
    assert [e.type for e in events].count("training.TrainingStarted") == 1  # not trained again
    assert [e.payload["version"] for e in events if e.type == "training.ModelPromoted"] == ["v1"]
    assert (adapters / "v1" / "adapter.gguf").is_file()
    assert (adapters / "v1" / "adapter" / "adapter_model.safetensors").is_file()
