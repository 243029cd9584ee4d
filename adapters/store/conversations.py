"""The conversations projection: one row per question (its thread, status, model, sealed texts)
and the current vote of each rater. It serves thread history to follow-ups and `buddy stats`.

The votes table holds only votes that count: a vote over its rater's hourly cap (`capped`, see
domain/feedback.py) is stored as an event but never becomes a row, so stats, the leaderboard,
automatic rollback and curation, which all read this table, leave it out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store import schema
from adapters.store.database import Database
from adapters.store.projections import ProjectionRunner
from adapters.store.rows import update_or_insert
from domain.conversation import Exchange
from domain.event_types import ConversationEvents, FeedbackEvents
from domain.events import RecordedEvent
from domain.feedback import counts as vote_counts

rows, votes = schema.conversations, schema.votes
_ASKED = ConversationEvents.ASKED
# A vote's row goes: retracted, or replaced by a capped RatingGiven (`vote_counts` is false).
_VOTE_GONE = (FeedbackEvents.RATING_GIVEN, FeedbackEvents.RATING_RETRACTED)


class ConversationProjection:
    name = "conversations"

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            payload = event.payload
            if event.type in _ASKED:
                await conn.execute(sa.insert(rows).values(**_asked(event)))
            elif event.type == ConversationEvents.ANSWER_GIVEN:
                await _finish(conn, payload, "answered", answer=payload["text"])
                mode = payload["answer_mode"]  # v2; older answers are upcast on read
                await conn.execute(
                    sa.update(rows)
                    .where(rows.c.answer_id == payload["answer_id"])
                    .values(answer_mode=mode)
                )
            elif event.type == ConversationEvents.ANSWER_FAILED:
                await _finish(conn, payload, "failed")
            elif event.type == ConversationEvents.QUESTION_DELETED:
                await conn.execute(
                    sa.update(rows)
                    .where(rows.c.answer_id == payload["answer_id"])
                    .values(status="deleted", question="", answer=None)
                )
            elif event.type == ConversationEvents.QUESTION_EDITED:
                await conn.execute(
                    sa.update(rows)
                    .where(rows.c.answer_id == payload["answer_id"])
                    .values(question=payload["text"])
                )
            elif event.type == FeedbackEvents.RATING_GIVEN and vote_counts(payload):
                key = {"answer_id": payload["answer_id"], "user_id": payload["user"]}
                values = {"value": payload["value"], "by_asker": payload["by_asker"]}
                await update_or_insert(conn, votes, key, values)
            elif event.type in _VOTE_GONE:
                # Retracted, or replaced by a vote over the rater's hourly cap (stored, counted
                # nowhere): the rater's earlier vote on this answer stops counting either way.
                await conn.execute(
                    sa.delete(votes).where(
                        votes.c.answer_id == payload["answer_id"],
                        votes.c.user_id == payload["user"],
                    )
                )

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(sa.delete(votes))
        await conn.execute(sa.delete(rows))


def _asked(event: RecordedEvent) -> dict[str, Any]:
    payload = event.payload
    return {
        "answer_id": payload["answer_id"],
        "thread": payload.get("thread"),  # absent on questions stored before threads existed
        "user_id": payload["user"],
        "channel": payload["channel"],
        "follow_up": event.type == ConversationEvents.FOLLOW_UP_ASKED,
        "status": "asked",
        "question": payload["text"],
        "asked_position": event.position,
    }


async def _finish(
    conn: AsyncConnection, payload: dict[str, Any], status: str, answer: str | None = None
) -> None:
    values = {"status": status, "model_version": payload.get("model_version"), "answer": answer}
    await conn.execute(
        sa.update(rows).where(rows.c.answer_id == payload["answer_id"]).values(values)
    )


@dataclass
class ModelStats:
    model_version: str
    answers: int = 0
    failures: int = 0
    positive: int = 0
    negative: int = 0


@dataclass
class ConversationStats:
    questions: int = 0
    follow_ups: int = 0
    answers: int = 0
    failures: int = 0
    positive: int = 0
    negative: int = 0
    asker_votes: int = 0
    rated_answers: int = 0
    models: list[ModelStats] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)  # answers by mode

    @property
    def feedback_rate(self) -> float:
        """The share of answers that got at least one rating."""
        return self.rated_answers / self.answers if self.answers else 0.0


class SqlConversationLog:
    """Reads the projection, caught up first so a follow-up sees the answer just given."""

    def __init__(self, db: Database, runner: ProjectionRunner) -> None:
        self._db = db
        self._runner = runner
        self.projection = ConversationProjection()

    async def thread(self, thread: str, limit: int) -> list[Exchange]:
        await self._runner.catch_up(self.projection)
        query = (
            sa.select(rows.c.answer_id, rows.c.user_id, rows.c.question, rows.c.answer)
            .where(rows.c.thread == thread)
            .order_by(rows.c.asked_position.desc())
            .limit(limit)
        )
        async with self._db.read() as conn:
            found = (await conn.execute(query)).all()
        return [Exchange(*row) for row in reversed(found)]

    async def thread_root(self, answer_id: str) -> str | None:
        """The first answer of the thread `answer_id` belongs to (the local channel's thread id)."""
        await self._runner.catch_up(self.projection)
        thread = sa.select(rows.c.thread).where(rows.c.answer_id == answer_id).scalar_subquery()
        query = (
            sa.select(rows.c.answer_id)
            .where(rows.c.thread == thread)
            .order_by(rows.c.asked_position)
            .limit(1)
        )
        async with self._db.read() as conn:
            return (await conn.execute(query)).scalar()

    async def stats(self) -> ConversationStats:
        await self._runner.catch_up(self.projection)
        async with self._db.read() as conn:
            return await _stats(conn)


async def _stats(conn: AsyncConnection) -> ConversationStats:
    stats = ConversationStats()
    counts = sa.select(rows.c.status, rows.c.follow_up, sa.func.count()).group_by(
        rows.c.status, rows.c.follow_up
    )
    for status, follow_up, count in (await conn.execute(counts)).all():
        stats.questions += count
        stats.follow_ups += count if follow_up else 0
        stats.answers += count if status == "answered" else 0
        stats.failures += count if status == "failed" else 0
    ballots = sa.select(votes.c.value, votes.c.by_asker, sa.func.count()).group_by(
        votes.c.value, votes.c.by_asker
    )
    for value, by_asker, count in (await conn.execute(ballots)).all():
        stats.positive += count if value > 0 else 0
        stats.negative += count if value < 0 else 0
        stats.asker_votes += count if by_asker else 0
    rated = sa.select(sa.func.count(sa.distinct(votes.c.answer_id)))
    stats.rated_answers = int((await conn.execute(rated)).scalar() or 0)
    stats.models = await _per_model(conn)
    by_mode = (
        sa.select(rows.c.answer_mode, sa.func.count())
        .where(rows.c.status == "answered")
        .group_by(rows.c.answer_mode)
    )
    for mode, count in (await conn.execute(by_mode)).all():
        key = mode or "generated"  # answered before modes were recorded: all were generated
        stats.modes[key] = stats.modes.get(key, 0) + int(count)
    return stats


async def _per_model(conn: AsyncConnection) -> list[ModelStats]:
    positive = sa.func.sum(sa.case((votes.c.value > 0, 1), else_=0))
    negative = sa.func.sum(sa.case((votes.c.value < 0, 1), else_=0))
    tally = (
        sa.select(votes.c.answer_id, positive.label("positive"), negative.label("negative"))
        .group_by(votes.c.answer_id)
        .subquery()
    )
    query = (
        sa.select(
            rows.c.model_version,
            sa.func.sum(sa.case((rows.c.status == "answered", 1), else_=0)),
            sa.func.sum(sa.case((rows.c.status == "failed", 1), else_=0)),
            sa.func.coalesce(sa.func.sum(tally.c.positive), 0),
            sa.func.coalesce(sa.func.sum(tally.c.negative), 0),
        )
        .select_from(rows.outerjoin(tally, tally.c.answer_id == rows.c.answer_id))
        .where(rows.c.model_version.is_not(None))
        .group_by(rows.c.model_version)
        .order_by(rows.c.model_version)
    )
    found = (await conn.execute(query)).all()
    return [ModelStats(str(v), int(a), int(f), int(p), int(n)) for v, a, f, p, n in found]
