"""A small projection: how many events of each type the store holds (feeds `buddy stats`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store import schema
from domain.events import RecordedEvent

table = schema.event_type_counts


class EventTypeCounts:
    name = "event_type_counts"

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        for event_type, count in sorted(Counter(event.type for event in events).items()):
            updated = await conn.execute(
                sa.update(table)
                .where(table.c.type == event_type)
                .values(count=table.c.count + count)
            )
            if updated.rowcount == 0:
                await conn.execute(sa.insert(table).values(type=event_type, count=count))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(sa.delete(table))

    async def read(self, conn: AsyncConnection) -> dict[str, int]:
        rows = (await conn.execute(sa.select(table.c.type, table.c.count))).all()
        return {event_type: int(count) for event_type, count in rows}
