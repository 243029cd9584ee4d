"""`buddy serve` as an operator runs it: says what it serves, answers /healthz, stops cleanly."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.request

from tests.e2e.test_cli import BUDDY


def start_serving(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([BUDDY, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if found := re.search(r"listening on http://[^:]+:(\d+)", line):
            return process, f"http://127.0.0.1:{found.group(1)}"
    raise AssertionError("serve never listened: " + "".join(lines))


def test_serve_without_credentials_runs_healthz_and_stops_on_sigterm(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    env = {**clean_env, "DATABASE_URL": sqlite_url, "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1"}
    process, base = start_serving(env)
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            health = json.loads(response.read())
        assert health == {"status": "ok", "platforms": [], "pending_replies": 0}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    assert "stopping" in process.stderr.read()
