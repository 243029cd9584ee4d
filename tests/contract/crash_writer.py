"""A writer process for the crash test: appends numbered batches until it is killed."""

from __future__ import annotations

import asyncio
import sys

from adapters.store.database import create_database
from adapters.store.event_store import SqlEventStore
from domain.events import NewEvent

BATCH = 10
ASKED = {"answer_id": "a", "user": "u", "channel": "c", "thread": "t", "text": "?"}


async def main(url: str, stream: str, run: int) -> None:
    db = create_database(url)
    store = SqlEventStore(db)
    version = await store.stream_version(stream)
    for batch in range(1_000_000):
        events = [
            NewEvent(
                "conversation.QuestionAsked", {**ASKED, "run": run, "batch": batch, "index": i}
            )
            for i in range(BATCH)
        ]
        version = (await store.append(stream, version, events)).last_version
        print(batch, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
