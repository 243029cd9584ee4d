"""The consent projection: who opted out, which channels are excluded, who was erased."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store import schema
from domain.event_types import PrivacyEvents
from domain.events import RecordedEvent

table = schema.consent

_USER_STATES = {
    PrivacyEvents.USER_OPTED_OUT: "opted_out",
    PrivacyEvents.USER_OPTED_IN: "opted_in",
    PrivacyEvents.USER_ERASED: "erased",
}


class ConsentProjection:
    name = "consent"

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            if event.type in _USER_STATES:
                await self._set(
                    conn, f"user:{event.payload['user']}", "user", event, _USER_STATES[event.type]
                )
            elif event.type == PrivacyEvents.CHANNEL_EXCLUDED:
                await self._set(
                    conn, f"channel:{event.payload['channel']}", "channel", event, "excluded"
                )

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(sa.delete(table))

    async def _set(
        self, conn: AsyncConnection, subject: str, kind: str, event: RecordedEvent, state: str
    ) -> None:
        current = (
            await conn.execute(sa.select(table.c.state).where(table.c.subject == subject))
        ).scalar()
        if current == "erased" and state == "opted_in":
            return  # an erased user's past stays out, whatever they say later
        values = {"kind": kind, "state": state, "position": event.position}
        if current is None:
            await conn.execute(sa.insert(table).values(subject=subject, **values))
        else:
            await conn.execute(sa.update(table).where(table.c.subject == subject).values(**values))

    async def excluded(self, conn: AsyncConnection, user: str, channel: str | None = None) -> bool:
        """True when nothing of this user (in this channel) may be used for training or export."""
        subjects = [f"user:{user}"] + ([f"channel:{channel}"] if channel else [])
        query = sa.select(table.c.state).where(table.c.subject.in_(subjects))
        states = set((await conn.execute(query)).scalars())
        return bool(states & {"opted_out", "erased", "excluded"})

    async def last_change(self, conn: AsyncConnection) -> int:
        """The store position of the newest consent change (0: none yet)."""
        newest = (await conn.execute(sa.select(sa.func.max(table.c.position)))).scalar()
        return int(newest or 0)

    async def states(self, conn: AsyncConnection) -> dict[str, str]:
        rows = (await conn.execute(sa.select(table.c.subject, table.c.state))).all()
        return {subject: state for subject, state in rows}
