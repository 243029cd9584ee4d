"""`buddy run` and the chat's "run this" on the real bubblewrap sandbox, as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_cli import BUDDY, buddy

CONTRACT = {"stdout", "stderr", "exit_code", "timed_out", "truncated", "duration_ms"}


@pytest.fixture
def env(clean_env: dict[str, str], sqlite_url: str) -> dict[str, str]:
    return {**clean_env, "DATABASE_URL": sqlite_url, "BUDDY_CANARY": "canary-7f3e9d"}


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([BUDDY, "run", *args], input=stdin, env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_a_file_runs_with_its_language_from_the_suffix(env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "hello.sh"
    script.write_text('echo "sum $((6 * 7)) as $(id -u)"\n')
    done = run(env, str(script), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == CONTRACT
    assert result["stdout"] == "sum 42 as 65534\n"
    assert result["exit_code"] == 0
    [event] = [e for e in json.loads(buddy("events", "--json", env=env).stdout)["events"]
               if e["type"] == "sandbox.SnippetRun"]  # fmt: skip
    assert event["payload"]["language"] == "bash"
    assert "sum" not in json.dumps(event["payload"])


def test_hostile_stdin_snippets_are_contained_and_reported(env: dict[str, str]) -> None:
    loop = json.loads(run(env, "--json", stdin="while True:\n    pass\n").stdout)
    assert loop["timed_out"]
    snoop = run(env, "--lang", "sh", "--json",
                stdin="cat /proc/1/environ /etc/shadow 2>&1; env; echo $BUDDY_CANARY")  # fmt: skip
    assert "canary-7f3e9d" not in snoop.stdout
    assert json.loads(snoop.stdout)["exit_code"] == 0


def test_clear_errors_for_an_unknown_language_or_a_missing_file(env: dict[str, str]) -> None:
    unknown = run(env, "--lang", "cobol", stdin="DISPLAY 'hi'.")
    assert unknown.returncode == 1
    assert "unknown language 'cobol'" in unknown.stderr
    missing = run(env, "/no/such/file.py")
    assert missing.returncode == 1
    assert "no such file" in missing.stderr


@pytest.mark.slow
def test_chat_runs_a_fenced_block_when_asked(env: dict[str, str]) -> None:
    script = "\n".join([
        "run this", "```python", "print('from', 'chat')", "print('<!channel> alice@example.com')",
        "```", "```bash", "echo second", "```", "/react ▶️", "/quit",
    ]) + "\n"  # fmt: skip
    done = subprocess.run([BUDDY, "chat", "--user", "erin"], input=script, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "paste the code block to run" in out  # "run this" came first, then the block
    assert "from chat\n" in out
    assert "<!channel>" not in out  # made inert
    assert "alice@example.com" not in out  # scrubbed
    assert "got the code" in out  # a bare block waits for "run this" or ▶️
    assert "second\n```\nbash: exit 0" in out
    events = json.loads(buddy("events", "--json", env=env).stdout)["events"]
    languages = [e["payload"]["language"] for e in events if e["type"] == "sandbox.SnippetRun"]
    assert languages == ["python", "bash"]
