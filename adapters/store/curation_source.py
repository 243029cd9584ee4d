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
from domain.event_types import ConversationEvents
from domain.language import ContextPassage, format_passages
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

    async def consent_position(self) -> int:
        """The position of the newest opt-out, opt-in, erasure or channel exclusion: a curated
        dataset written before it may hold text that is no longer ours to use."""
        await self._runner.catch_up(ConsentProjection())
        async with self._db.read() as conn:
            return await ConsentProjection().last_change(conn)

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
        sources, chunk_ids = await self._lineage()
        texts = await self._chunk_texts(sorted({c for ids in chunk_ids.values() for c in ids}))
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
                answer_mode=row["answer_mode"],
                passages=_passages(
                    sources.get(row["answer_id"], []), chunk_ids.get(row["answer_id"], []), texts
                ),
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
        texts = await self._chunk_texts(sorted({str(p["chunk_id"]) for p in payloads}))
        pairs = []
        for payload in payloads:
            text = texts.get(str(payload["chunk_id"]))
            passage = (
                format_passages([ContextPassage(1, str(payload["source"]), text)]) if text else ""
            )
            pairs.append(
                SyntheticPair.from_payload(payload, current=text is not None, passages=passage)
            )
        return pairs

    async def _lineage(self) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
        """Per answer, its cited sources and the chunks that went into its prompt, in order."""
        sources: dict[str, list[dict[str, Any]]] = {}
        chunk_ids: dict[str, list[str]] = {}
        after = 0
        while batch := await self._store.read_all(
            after, limit=_BATCH, types=[ConversationEvents.ANSWER_GIVEN]
        ):
            for event in batch:
                answer_id = event.payload["answer_id"]
                sources[answer_id] = list(event.payload.get("sources", []))
                chunk_ids[answer_id] = [str(c["chunk_id"]) for c in event.payload.get("chunks", [])]
            after = batch[-1].position
        return sources, chunk_ids

    async def _chunk_texts(self, ids: list[str]) -> dict[str, str]:
        """The text of each chunk still in the knowledge index (an edited or removed document's
        old chunks are gone)."""
        chunks = schema.kb_chunks
        found: dict[str, str] = {}
        async with self._db.read() as conn:
            for start in range(0, len(ids), _BATCH):
                query = sa.select(chunks.c.chunk_id, chunks.c.text).where(
                    chunks.c.chunk_id.in_(ids[start : start + _BATCH])
                )
                found.update((str(cid), str(text)) for cid, text in await conn.execute(query))
        return found


def _passages(sources: list[dict[str, Any]], chunk_ids: list[str], texts: dict[str, str]) -> str:
    """The prompt's passages as the answer saw them: passage n is chunk n, cited as [n]. Empty
    when a chunk has left the index since: a partial context would teach the wrong thing."""
    if not chunk_ids or any(c not in texts for c in chunk_ids) or len(sources) < len(chunk_ids):
        return ""
    return format_passages(
        [ContextPassage(i, str(sources[i - 1].get("path", "")), texts[c])
         for i, c in enumerate(chunk_ids, start=1)]
    )  # fmt: skip


async def _votes(conn: Any) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for answer_id, user, value in (
        await conn.execute(sa.select(votes.c.answer_id, votes.c.user_id, votes.c.value))
    ).all():
        found.setdefault(answer_id, {})[user] = int(value)
    return found
