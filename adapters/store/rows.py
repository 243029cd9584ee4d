"""Small row helpers shared by the projections."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


async def update_or_insert(
    conn: AsyncConnection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]
) -> None:
    """Set `values` on the row with `key`, creating it if missing. Callers hold the write lock
    (the projection runner's), so no other writer slips in between the two statements."""
    condition = sa.and_(*(table.c[name] == value for name, value in key.items()))
    updated = await conn.execute(sa.update(table).where(condition).values(**values))
    if updated.rowcount == 0:
        await conn.execute(sa.insert(table).values(**key, **values))
