"""What the curator reads: the conversations projection, current votes, consent, and each
answer's cited sources from its AnswerGiven event; and the synthetic pairs of the cold start."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from adapters.store import schema
from adapters.store.consent import ConsentProjection
from adapters.store.conversations import ConversationProjection
from adapters.store.database import Database
from adapters.store.projections import ProjectionRunner
from domain.curation import Interaction
from domain.ports import EventStore
from domain.synthetic_pairs import SYNTHETIC_EVENT, SyntheticPair

rows, votes = schema.conversations, schema.votes
_EXCLUDING = {"opted_out", "erased", "excluded"}
_BATCH = 1000


class SqlCurationSource:
    def __init__(self, db: Database, store: EventStore, runner: ProjectionRunner) -> None:
        self._db = db
        self._store = store
        self._runner = runner

    async def interactions(self) -> list[Interaction]:
        await self._runner.catch_up(ConversationProjection())
        await self._runner.catch_up(ConsentProjection())
        async with self._db.read() as conn:
            consent = await ConsentProjection().states(conn)
            ballots = await _votes(conn)
            found = (
                (
                    await conn.execute(
                        sa.select(rows)
                        .where(rows.c.status.in_(("answered", "failed")))
                        .order_by(rows.c.asked_position)
                    )
                )
                .mappings()
                .all()
            )
        sources = await self._sources()
        return [
            Interaction(
                answer_id=row["answer_id"],
                user=row["user_id"],
                thread=row["thread"],
                position=row["asked_position"],
                question=row["question"],
                answer=row["answer"],
                votes=ballots.get(row["answer_id"], {}),
                excluded=bool(
                    {
                        consent.get(f"user:{row['user_id']}"),
                        consent.get(f"channel:{row['channel']}"),
                    }
                    & _EXCLUDING
                ),
                sources=tuple(sources.get(row["answer_id"], ())),
                model_version=row["model_version"],
            )
            for row in found
        ]

    async def synthetic_pairs(self) -> list[SyntheticPair]:
        """Every synthetic pair, oldest first; `current` says whether its chunk is still in the
        knowledge index (an edited document gets new chunks, a removed one none)."""
        payloads: list[dict[str, Any]] = []
        after = 0
        while batch := await self._store.read_all(after, limit=_BATCH, types=[SYNTHETIC_EVENT]):
            payloads.extend(event.payload for event in batch)
            after = batch[-1].position
        ids = sorted({str(payload["chunk_id"]) for payload in payloads})
        present: set[str] = set()
        chunks = schema.kb_chunks
        async with self._db.read() as conn:
            for start in range(0, len(ids), _BATCH):
                query = sa.select(chunks.c.chunk_id).where(
                    chunks.c.chunk_id.in_(ids[start : start + _BATCH])
                )
                present.update(str(chunk_id) for chunk_id in await conn.scalars(query))
        return [
            SyntheticPair.from_payload(payload, current=str(payload["chunk_id"]) in present)
            for payload in payloads
        ]

    async def _sources(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        after = 0
        while batch := await self._store.read_all(
            after, limit=_BATCH, types=["conversation.AnswerGiven"]
        ):
            for event in batch:
                found[event.payload["answer_id"]] = list(event.payload.get("sources", []))
            after = batch[-1].position
        return found


async def _votes(conn: Any) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for answer_id, user, value in (
        await conn.execute(sa.select(votes.c.answer_id, votes.c.user_id, votes.c.value))
    ).all():
        found.setdefault(answer_id, {})[user] = int(value)
    return found
