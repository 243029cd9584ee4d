"""The platform messages the bot posted, in SQL (see domain.conversation.MessageRefs)."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.store import schema
from adapters.store.clock import SystemClock
from adapters.store.database import Database
from adapters.store.rows import update_or_insert
from domain.conversation import PostedMessage
from domain.ports import Clock

table = schema.platform_messages


class SqlMessageRefs:
    def __init__(self, db: Database, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    async def remember(self, posted: PostedMessage) -> None:
        key = {"platform": posted.platform, "channel_id": posted.channel_id,
               "message_id": posted.message_id}  # fmt: skip
        values = {"answer_id": posted.answer_id, "thread_id": posted.thread_id,
                  "posted_at": self._clock.now()}  # fmt: skip
        async with self._db.write() as conn:
            await update_or_insert(conn, table, key, values)

    async def answer_for(self, platform: str, channel_id: str, message_id: str) -> str | None:
        query = sa.select(table.c.answer_id).where(
            table.c.platform == platform,
            table.c.channel_id == channel_id,
            table.c.message_id == message_id,
        )
        async with self._db.read() as conn:
            return (await conn.execute(query)).scalar()

    async def posted(self, platform: str, answer_id: str) -> PostedMessage | None:
        query = (
            sa.select(table.c.channel_id, table.c.message_id, table.c.thread_id)
            .where(table.c.platform == platform, table.c.answer_id == answer_id)
            .order_by(table.c.posted_at)
            .limit(1)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return PostedMessage(platform, row.channel_id, row.message_id, answer_id, row.thread_id)

    async def bot_thread(self, platform: str, channel_id: str, thread_id: str) -> bool:
        query = (
            sa.select(sa.literal(1))
            .where(
                table.c.platform == platform,
                table.c.channel_id == channel_id,
                table.c.thread_id == thread_id,
            )
            .limit(1)
        )
        async with self._db.read() as conn:
            return (await conn.execute(query)).first() is not None
