"""Two replicas over one database: the one that takes a question is not always the one whose
worker answers it (replies are claimed by whichever gets there first). The 👀 the first put on
the question still comes off, by its sweep, once the other replica posted the answer."""

from __future__ import annotations

from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import BuddyProcess, World, mention
from tests.fakes import ScriptedModel

QUESTION_TS = "1690000000.000100"


async def test_the_working_sign_comes_off_when_another_replica_answers(
    slack: FakeSlack, world: World
) -> None:
    took = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    answers = await BuddyProcess(world, slack, ScriptedModel(["Run make rollback [1]."])).start()
    try:
        assert await took.event(mention("how do I roll back?", QUESTION_TS), "Ev1") == 200
        await slack.wait_for(lambda: ("C1", QUESTION_TS, "eyes") in slack.reactions, what="👀")
        await answers.answer_pending()  # the other replica's worker claims and answers it
        assert [m for m in slack.messages if m.get("bot_id")]
        assert ("C1", QUESTION_TS, "eyes") in slack.reactions  # not this replica's 👀 to take
        work, replies = took.service._work, took.service._replies
        assert await work.sweep(replies.posted_elsewhere) == 1
        assert ("C1", QUESTION_TS, "eyes") not in slack.reactions
        assert await work.sweep(replies.posted_elsewhere) == 0  # nothing left to watch
    finally:
        await took.stop()
        await answers.stop()
