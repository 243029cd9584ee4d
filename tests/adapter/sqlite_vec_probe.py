"""Run by test_sqlite_vec.py under a Python that can load SQLite extensions: index a few chunks,
rank them with sqlite-vec and with the numpy scan, and print both as JSON."""

from __future__ import annotations

import asyncio
import json
import sys

from adapters.store import migrate
from adapters.store.database import create_database
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from adapters.vector.index_projection import KnowledgeIndexProjection
from adapters.vector.knowledge_index import SqlKnowledgeIndex
from domain.events import NewEvent
from tests.fakes import HashingEmbedder

TEXTS = [
    "roll back a production deploy with make rollback",
    "rotate the api keys every ninety days",
    "the pager rotation is weekly",
    "retry flaky calls with exponential backoff",
]


async def main(path: str) -> None:
    db = create_database(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(db)
    store, embedder = SqlEventStore(db), HashingEmbedder()
    chunks = [
        {"chunk_id": f"c{i}", "text": text, "locator": "", "start_line": 1, "end_line": 1,
         "kind": "prose"}
        for i, text in enumerate(TEXTS)
    ]  # fmt: skip
    payload = {"source_id": "s", "document_id": "d", "path": "kb/doc.md", "content_hash": "h",
               "chunks": chunks}  # fmt: skip
    await store.append("document-d", None, [NewEvent("knowledge.DocumentIngested", payload)])
    await ProjectionRunner(db, store).catch_up(KnowledgeIndexProjection(embedder))
    index = SqlKnowledgeIndex(db, embedder)
    query = "how do I roll back a deploy"
    with_vec = await index.search(query, k=4, mode="dense")
    backend = index.sqlite_backend()
    db.sqlite_extensions["sqlite_vec"] = False  # the same search through the numpy scan
    with_numpy = await index.search(query, k=4, mode="dense")
    print(json.dumps({
        "backend": backend,
        "sqlite_vec": [(h.chunk_id, round(h.score, 5)) for h in with_vec],
        "numpy": [(h.chunk_id, round(h.score, 5)) for h in with_numpy],
    }))  # fmt: skip
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
