"""The `buddy` CLI as a user runs it: a real subprocess, real databases."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from adapters.store import migrate
from adapters.store.database import create_database
from adapters.store.embedded_postgres import EmbeddedPostgres
from adapters.store.event_store import SqlEventStore
from domain.events import NO_STREAM, NewEvent

BUDDY = shutil.which("buddy", path=str(Path(sys.executable).parent)) or "buddy"


def buddy(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUDDY, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(pgdata) in cmdline:
            found.append(process)
    return found


def test_help_lists_every_command_and_each_has_help(clean_env: dict[str, str]) -> None:
    top = buddy("--help", env=clean_env)
    assert top.returncode == 0
    for command in ("events", "bench", "db"):
        assert command in top.stdout
    for command in (
        ["events"],
        ["bench"],
        ["db", "upgrade"],
        ["db", "downgrade"],
        ["db", "current"],
    ):
        shown = buddy(*command, "--help", env=clean_env)
        assert shown.returncode == 0, shown.stderr
        assert "Usage" in shown.stdout


async def test_events_dumps_what_the_store_holds(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    db = create_database(sqlite_url)
    await migrate.upgrade(db)
    store = SqlEventStore(db)
    asked = {"answer_id": "a1", "user": "u", "channel": "c", "thread": "t", "text": "hi"}
    answer = {"answer_id": "a1", "thread": "t", "text": "hello", "model_version": "m",
              "answer_mode": "generated"}  # fmt: skip
    await store.append("q-1", NO_STREAM, [NewEvent("conversation.QuestionAsked", asked)])
    await store.append("q-1", 0, [NewEvent("conversation.AnswerGiven", answer, schema_version=2)])
    await db.dispose()
    env = {**clean_env, "DATABASE_URL": sqlite_url}

    everything = buddy("events", "--json", env=env)
    assert everything.returncode == 0, everything.stderr
    document = json.loads(everything.stdout)  # stdout holds exactly one JSON document
    assert [(e["position"], e["type"], e["payload"]) for e in document["events"]] == [
        (1, "conversation.QuestionAsked", asked),
        (2, "conversation.AnswerGiven", answer),
    ]
    assert document["events"][0]["stream_id"] == "q-1"
    assert document["events"][0]["schema_version"] == 1

    answers = json.loads(
        buddy("events", "--type", "conversation.AnswerGiven", "--json", env=env).stdout
    )
    assert [e["position"] for e in answers["events"]] == [2]

    text = buddy("events", env=env)
    assert "q-1@0" in text.stdout
    assert "conversation.AnswerGiven" in text.stdout


def test_a_bad_database_url_is_one_clear_line_and_a_non_zero_exit(
    clean_env: dict[str, str],
) -> None:
    done = buddy("events", env={**clean_env, "DATABASE_URL": "mysql://nowhere/buddy"})
    assert done.returncode == 1
    assert done.stderr.strip() == "error: unsupported DATABASE_URL scheme: 'mysql'"
    assert done.stdout == ""


def test_an_unreachable_database_is_reported_not_a_traceback(clean_env: dict[str, str]) -> None:
    url = "postgresql+psycopg://postgres@/buddy?host=/nonexistent-socket-dir"
    done = buddy("events", env={**clean_env, "DATABASE_URL": url})
    assert done.returncode == 1
    assert done.stderr.startswith("error: database")
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_embedded_postgres_starts_on_demand_and_is_gone_after_the_command(
    clean_env: dict[str, str],
) -> None:
    pgdata = Path(clean_env["BUDDY_DATA_DIR"]).resolve() / "postgres"
    upgraded = buddy("db", "upgrade", env=clean_env)
    assert upgraded.returncode == 0, upgraded.stderr
    head = migrate.head_revision()
    assert f"revision {head}" in upgraded.stderr
    current = json.loads(buddy("db", "current", "--json", env=clean_env).stdout)
    assert current == {"current": head, "head": head}
    listed = buddy("events", "--json", env=clean_env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"events": []}
    assert (pgdata / "PG_VERSION").exists()
    assert postgres_processes(pgdata) == []


@pytest.mark.slow
def test_two_processes_share_the_embedded_server_and_the_last_one_stops_it(
    clean_env: dict[str, str],
) -> None:
    data_dir = Path(clean_env["BUDDY_DATA_DIR"])
    holder = EmbeddedPostgres(data_dir)  # stands in for a long-running `buddy serve`
    holder.acquire()
    try:
        done = buddy("events", env=clean_env)
        assert done.returncode == 0, done.stderr
        assert holder.is_running(), "the CLI stopped a server another process still uses"
    finally:
        holder.release()
    assert not holder.is_running()
    assert postgres_processes(holder.pgdata) == []


@pytest.mark.slow
def test_a_crashed_holder_does_not_keep_the_server_alive(clean_env: dict[str, str]) -> None:
    data_dir = Path(clean_env["BUDDY_DATA_DIR"])
    script = (
        "import sys, os, signal; from pathlib import Path;"
        "from adapters.store.embedded_postgres import EmbeddedPostgres;"
        f"EmbeddedPostgres(Path({str(data_dir)!r})).acquire();"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    crashed = subprocess.run([sys.executable, "-c", script], check=False, timeout=120)
    assert crashed.returncode == -9
    server = EmbeddedPostgres(data_dir)
    assert server.is_running()  # the killed process could not stop it ...
    assert buddy("events", env=clean_env).returncode == 0
    assert not server.is_running()  # ... the next command swept its handle and did


@pytest.mark.slow
def test_two_commands_starting_at_once_on_a_fresh_data_dir_both_work(
    clean_env: dict[str, str],
) -> None:
    commands = [
        subprocess.Popen(
            [BUDDY, "events", "--json"], env=clean_env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [command.communicate(timeout=120)[0] for command in commands]
    assert [command.returncode for command in commands] == [0, 0]
    assert [json.loads(output) for output in outputs] == [{"events": []}] * 2
    pgdata = Path(clean_env["BUDDY_DATA_DIR"]).resolve() / "postgres"
    assert postgres_processes(pgdata) == []


@pytest.mark.slow
def test_sigterm_stops_the_embedded_server_the_command_started(clean_env: dict[str, str]) -> None:
    bench = subprocess.Popen(
        [BUDDY, "bench", "store", "--events", "100000"],
        env=clean_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert bench.stderr is not None
    for line in bench.stderr:  # wait until it has its own PostgreSQL up and is appending
        if line.strip().startswith("postgresql: store"):
            break
    running = [p for p in psutil.process_iter(["name", "cmdline"]) if _is_bench_postgres(p)]
    assert running, "the benchmark's PostgreSQL should be running now"
    bench.terminate()
    bench.wait(timeout=60)
    assert bench.returncode != 0
    psutil.wait_procs(running, timeout=90)
    assert [p for p in psutil.process_iter(["name", "cmdline"]) if _is_bench_postgres(p)] == []


def _is_bench_postgres(process: psutil.Process) -> bool:
    cmdline = " ".join(process.info["cmdline"] or [])
    return process.info["name"] == "postgres" and "buddy-bench-" in cmdline


PROBE = """
import json, sys
from typer.testing import CliRunner
from bot.cli import app
result = CliRunner().invoke(app, json.loads(sys.argv[1]))
libraries = ("torch", "llama_cpp", "sentence_transformers", "transformers")
heavy = [name for name in libraries if name in sys.modules]
print(json.dumps({"exit_code": result.exit_code, "heavy": heavy}))
"""


@pytest.mark.parametrize("args", [["--help"], ["events", "--json"], ["stats", "--json"]])
def test_commands_that_need_no_model_import_no_ml_library(
    args: list[str], clean_env: dict[str, str], sqlite_url: str
) -> None:
    env = {**clean_env, "DATABASE_URL": sqlite_url}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"exit_code": 0, "heavy": []}


def test_discord_invite_prints_the_url_with_exactly_the_permissions_used(
    clean_env: dict[str, str],
) -> None:
    # A bot token's first segment is its application id in base64 ("123456789012345678").
    env = {**clean_env, "DISCORD_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.not-a-real-secret"}
    done = buddy("discord-invite", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "https://discord.com/oauth2/authorize?client_id=123456789012345678"
        "&scope=bot+applications.commands&permissions=277025492032"
    )
    missing = buddy("discord-invite", env=clean_env)
    assert missing.returncode == 1
    assert "--client-id" in missing.stderr


def test_curate_and_export_on_a_fresh_store(
    clean_env: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    env = {**clean_env, "DATABASE_URL": sqlite_url}
    refused = buddy("export", "--out", str(tmp_path / "x.jsonl"), env=env)
    assert refused.returncode == 1
    assert "buddy curate" in refused.stderr
    done = buddy("curate", "--json", env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["examples"] == 0
    assert summary["next_milestone"] == 100
    out = tmp_path / "train.jsonl"
    assert buddy("export", "--out", str(out), "--split", "train", env=env).returncode == 0
    assert out.read_text() == ""
    stats = json.loads(buddy("stats", "--json", env=env).stdout)
    assert stats["dataset"] == {"curated_examples": 0, "next_milestone": 100}
    events = json.loads(buddy("events", "--json", env=env).stdout)["events"]
    assert [e["type"] for e in events] == ["training.DatasetCurated"]
