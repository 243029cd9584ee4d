"""`buddy ask` serves the registry's version: after `buddy promote v1` its answers carry
`+v1`, after `buddy rollback` the base again (real llama.cpp, real Gemma, SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from adapters.llm.llamacpp_model import assemble_model
from adapters.store import migrate
from adapters.store.database import create_database
from adapters.store.event_store import SqlEventStore
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import mention, reaction
from tests.adapter.test_llamacpp_serving import finished, random_adapter
from tests.e2e.serving import serving, slack_env, slack_event, stored_events
from tests.e2e.test_cli import buddy

pytestmark = pytest.mark.slow
BASE_LABEL = "llamacpp:gemma-3-270m-q4_k_m"


async def promoted_v1(clean_env: dict[str, str], sqlite_url: str) -> dict[str, str]:
    """A trained v1 (a random adapter on the served base) promoted by the admin; the env."""
    data = Path(clean_env["BUDDY_DATA_DIR"])
    base = assemble_model(data / "models")
    adapter = random_adapter(base, data / "adapters" / "v1" / "adapter.gguf")
    db = create_database(sqlite_url)
    await migrate.upgrade(db)
    await finished(SqlEventStore(db), "v1", adapter, data)
    await db.dispose()
    env = {**clean_env, "DATABASE_URL": sqlite_url}
    assert buddy("promote", "v1", env=env).returncode == 0
    return env


async def test_ask_answers_with_the_promoted_version_and_the_base_after_rollback(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    env = await promoted_v1(clean_env, sqlite_url)
    asked = buddy("ask", "how do I roll back?", "--user", "alice", "--json", env=env, timeout=300)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["model_version"] == "llamacpp:gemma-3-270m-q4_k_m+v1"

    assert buddy("rollback", env=env).returncode == 0
    again = buddy("ask", "how do I roll back?", "--user", "alice", "--json", env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"


async def test_serve_rolls_back_by_itself_when_live_down_votes_cross_the_margin(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    """v1 promoted and served; its answers are down-voted over Slack; `buddy serve`'s rollback
    watch rolls back to the base without anyone asking, and the answers after that carry it."""
    env = await promoted_v1(clean_env, sqlite_url)
    fake = await FakeSlack().start()
    env |= slack_env(fake) | {
        "BUDDY_MODEL_WATCH_S": "0.5", "BUDDY_ROLLBACK_CHECK_MINUTES": "0.01",
        "BUDDY_ROLLBACK_MIN_RATINGS": "3", "BUDDY_ROLLBACK_MARGIN": "0.15",
    }  # fmt: skip
    try:
        async with serving(env) as served, aiohttp.ClientSession() as session:
            assert (await served.health())["model_version"] == f"{BASE_LABEL}+v1"
            for n in range(3):
                asked = mention(f"how do I roll back {n}?", f"1700000000.00010{n}")
                assert await slack_event(session, served.base, asked, f"Ev{n}") == 200
            await fake.wait_for(lambda: len(fake.called("reactions.remove")) == 3, 120, "3 answers")
            answers = [m for m in fake.messages if m.get("bot_id")]
            for n, answer in enumerate(answers):
                vote = reaction("-1", answer["channel"], answer["ts"], user=f"U-dev{n}")
                assert await slack_event(session, served.base, vote, f"Ev-vote{n}") == 200
            await served.wait_for_model(BASE_LABEL, 120)  # rolled back and swapped, unasked
            later = mention("and how do I deploy?", "1700000001.000100")
            assert await slack_event(session, served.base, later, "Ev-later") == 200
            await fake.wait_for(lambda: len(fake.called("reactions.remove")) == 4, 120, "answer 4")
    finally:
        await fake.stop()
    events = await stored_events(sqlite_url)
    [rolled] = [e.payload for e in events if e.type == "training.ModelRolledBack"]
    assert (rolled["from_version"], rolled["to_version"]) == ("v1", "base")
    assert rolled["reason"] == "live_ratings"
    assert rolled["details"]["current"]["negative"] == 3
    given = [e.payload["model_version"] for e in events if e.type == "conversation.AnswerGiven"]
    assert given == [f"{BASE_LABEL}+v1"] * 3 + [BASE_LABEL]
