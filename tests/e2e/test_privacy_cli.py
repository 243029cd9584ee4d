"""Privacy through the CLI, as an admin uses it."""

from __future__ import annotations

import json
import subprocess

from tests.e2e.test_cli import BUDDY, buddy


def scrub(text: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUDDY, "scrub", *args], input=text, env=env, capture_output=True, text=True, check=False
    )


def test_scrub_reads_stdin_and_keeps_line_structure(clean_env: dict[str, str]) -> None:
    text = "mail me at jane.doe@example.com\n\nversion 1.2.3 on localhost:8080\n"
    done = scrub(text, env=clean_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "mail me at <EMAIL>\n\nversion 1.2.3 on localhost:8080\n"


def test_scrub_json_lists_findings_with_type_and_span(clean_env: dict[str, str]) -> None:
    done = scrub("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok", "--json", env=clean_env)
    document = json.loads(done.stdout)
    assert document["text"] == "token <SECRET> ok"
    [finding] = document["findings"]
    assert finding == {"type": "SECRET", "start": 6, "end": 46}


def test_consent_and_forget_store_pseudonyms_only(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    env = {**clean_env, "DATABASE_URL": sqlite_url}
    out = buddy("optout", "local", "alice", "--json", env=env)
    assert out.returncode == 0, out.stderr
    user = json.loads(out.stdout)["user"]
    assert json.loads(buddy("optin", "local", "alice", "--json", env=env).stdout)["user"] == user
    channel = json.loads(buddy("exclude-channel", "local", "random", "--json", env=env).stdout)
    assert channel["state"] == "excluded"
    erased = json.loads(buddy("forget", "local", "alice", "--json", env=env).stdout)
    assert erased == {"user": user, "keys_shredded": 0}

    events = json.loads(buddy("events", "--json", env=env).stdout)["events"]
    assert [e["type"] for e in events] == [
        "privacy.UserOptedOut",
        "privacy.UserOptedIn",
        "privacy.ChannelExcluded",
        "privacy.UserErased",
    ]
    assert "alice" not in json.dumps(events)
    assert "random" not in json.dumps(events)
    assert {e["payload"].get("user") for e in events} == {user, None}
