"""`buddy stats --chart FILE` over a real SQLite store: answers recorded on different days,
ratings given, changed and retracted through `buddy react`, a curated dataset; the PNG is the
promised size, the text and JSON figures are unchanged, and the chart's series is the store's."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.store import migrate
from adapters.store.database import create_database
from adapters.store.event_store import SqlEventStore
from bot.bootstrap import bootstrap
from bot.operations.stats_chart import png_size, stats_series
from bot.settings import Settings
from domain.events import NO_STREAM, NewEvent
from tests.e2e.test_cli import buddy
from tests.fakes import FixedClock

BASE_MODEL = "llamacpp:gemma-3-270m-q4_k_m"
JSON_KEYS = {"questions", "follow_ups", "answers", "failures", "ratings", "feedback_rate",
             "models", "dataset", "answer_modes"}  # fmt: skip


async def answer(store: SqlEventStore, answer_id: str, model: str, mode: str) -> None:
    """One exchange, in the stream `buddy react` rates it in."""
    asked = {"answer_id": answer_id, "user": "u-alice", "channel": "c", "thread": answer_id,
             "text": "how do I roll back?"}  # fmt: skip
    given = {"answer_id": answer_id, "thread": answer_id, "text": "Run make rollback.",
             "model_version": model, "answer_mode": mode}  # fmt: skip
    await store.append(f"conversation-{answer_id}", NO_STREAM, [
        NewEvent("conversation.QuestionAsked", asked),
        NewEvent("conversation.AnswerGiven", given, schema_version=2),
    ])  # fmt: skip


async def seed(url: str) -> None:
    db = create_database(url)
    await migrate.upgrade(db)
    now = dt.datetime.now(dt.UTC)
    clock = FixedClock(now - dt.timedelta(days=3))
    store = SqlEventStore(db, clock=clock)
    await answer(store, "a1", BASE_MODEL, "generated")
    clock.moment = now
    await answer(store, "a2", f"{BASE_MODEL}+v1", "extractive")
    await answer(store, "a3", f"{BASE_MODEL}+v1", "declined")
    curated = NewEvent("training.DatasetCurated", {"dataset_hash": "h", "examples": 42})
    await store.append("dataset-h", NO_STREAM, [curated])
    await db.dispose()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One seeded store, shared by this module's tests (they only read it)."""
    data = tmp_path_factory.mktemp("stats-chart")
    url = f"sqlite+aiosqlite:///{data / 'buddy.db'}"
    asyncio.run(seed(url))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("BUDDY_", "DATABASE"))}
    environment |= {"BUDDY_DATA_DIR": str(data / "data"), "DATABASE_URL": url,
                    "BUDDY_MILESTONES": "100,500"}  # fmt: skip
    for answer_id, emoji, user, *flags in [
        ("a1", "👍", "bob"),
        ("a2", "👎", "bob"),
        ("a2", "👍", "bob"),  # bob changes his vote: one positive, no negative
        ("a2", "👍", "carol"),
        ("a2", "👍", "carol", "--remove"),  # and carol takes hers back
        ("a3", "👎", "dave"),
    ]:
        done = buddy("react", answer_id, emoji, "--user", user, *flags, env=environment)
        assert done.returncode == 0, done.stderr
    return environment


def test_stats_chart_writes_a_1000x700_png_and_keeps_the_figures(
    env: dict[str, str], tmp_path: Path
) -> None:
    text = buddy("stats", env=env)
    figures = buddy("stats", "--json", env=env)
    assert text.returncode == 0, text.stderr
    assert figures.returncode == 0, figures.stderr
    document = json.loads(figures.stdout)
    assert set(document) == JSON_KEYS
    assert document["answers"] == 3
    assert document["ratings"]["positive"] == 2
    assert document["ratings"]["negative"] == 1
    assert document["dataset"] == {"curated_examples": 42, "next_milestone": 100}

    chart = tmp_path / "charts" / "nested" / "stats.png"
    charted = buddy("stats", "--chart", str(chart), env=env)
    assert charted.returncode == 0, charted.stderr
    assert charted.stdout == text.stdout  # the text report, exactly as without --chart
    assert f"wrote the stats chart to {chart} (1000x700 PNG)" in charted.stderr
    png = chart.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_size(png) == (1000, 700)

    both = buddy("stats", "--json", "--chart", str(tmp_path / "again.png"), env=env)
    assert both.returncode == 0, both.stderr
    assert json.loads(both.stdout) == document  # stdout is still the one JSON document
    assert png_size((tmp_path / "again.png").read_bytes()) == (1000, 700)


async def test_the_series_is_the_stores(env: dict[str, str]) -> None:
    settings = Settings(
        BUDDY_DATA_DIR=env["BUDDY_DATA_DIR"], DATABASE_URL=env["DATABASE_URL"],
        BUDDY_MILESTONES="100,500",
    )  # fmt: skip
    async with bootstrap(settings) as services:
        series = await stats_series(services)
    today = dt.datetime.now(dt.UTC).date()
    assert series.days == [today - dt.timedelta(days=n) for n in (3, 2, 1, 0)]
    assert series.answers == [1, 0, 0, 2]
    assert series.positive == [0, 0, 0, 2]  # votes are recorded when `buddy react` ran
    assert series.negative == [0, 0, 0, 1]
    assert sum(series.positive) == 2  # the totals `buddy stats` shows
    assert series.versions == [("base", 1, 1), ("v1", 1, 2)]
    assert (series.curated, series.next_milestone) == (42, 100)
    assert series.modes == {"generated": 1, "extractive": 1, "declined": 1}


def test_a_chart_that_cannot_be_written_is_one_clear_error(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = buddy("stats", "--chart", str(blocker / "stats.png"), env=env)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: cannot write the stats chart to {blocker}")
    assert "Traceback" not in done.stderr


PROBE = """
import json, sys
from typer.testing import CliRunner
from bot.cli import app
result = CliRunner().invoke(app, json.loads(sys.argv[1]))
print(json.dumps({"exit_code": result.exit_code, "matplotlib": "matplotlib" in sys.modules}))
"""


@pytest.mark.parametrize("args", [["--help"], ["stats", "--json"], ["stats"]])
def test_only_the_chart_loads_matplotlib(
    args: list[str], clean_env: dict[str, str], sqlite_url: str
) -> None:
    env = {**clean_env, "DATABASE_URL": sqlite_url}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"exit_code": 0, "matplotlib": False}
