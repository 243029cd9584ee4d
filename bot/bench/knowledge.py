"""Knowledge benchmarks: retrieval quality on a CodeSearchNet-style eval set built from the
Python standard library, and ingestion throughput against the bare embedding model."""

from __future__ import annotations

import ast
import hashlib
import random
import re
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from adapters.embeddings.minilm import MiniLmEmbedder
from adapters.privacy.scrubber import PatternScrubber
from adapters.store import migrate
from adapters.store.database import Database, create_database
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from adapters.vector.catalog import SqlDocumentCatalog
from adapters.vector.index_projection import KnowledgeIndexProjection
from adapters.vector.knowledge_index import MODES, SqlKnowledgeIndex
from domain.ingestion import IngestionService, IngestReport, SourceFile, SourceSnapshot

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def eval_pairs(limit: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """(query, document id, document) triples: one documented function per stdlib file."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p for p in stdlib.rglob("*.py") if not {"test", "idlelib", "site-packages"} & set(p.parts)
    )
    random.Random(seed).shuffle(files)
    pairs: list[tuple[str, str, str]] = []
    for file in files:
        pair = _documented_function(file)
        if pair is not None:
            query, code = pair
            pairs.append((query, f"f{len(pairs):04d}.py", code))
        if len(pairs) >= limit:
            break
    return pairs


def _documented_function(file: Path) -> tuple[str, str] | None:
    try:
        source = file.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
        return None
    lines = source.splitlines()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        doc = ast.get_docstring(node)
        body = node.body
        if not doc or len(body) < 2 or node.end_lineno is None:
            continue
        query = _SENTENCE_END.split(" ".join(doc.split()), maxsplit=1)[0]
        if len(query.split()) < 4:
            continue
        docstring = body[0]
        kept = [
            line
            for number, line in enumerate(
                lines[node.lineno - 1 : node.end_lineno], start=node.lineno
            )
            if not (docstring.lineno <= number <= (docstring.end_lineno or docstring.lineno))
        ]
        return query, "\n".join(kept)
    return None


async def _fresh_sqlite(folder: Path) -> Database:
    db = create_database(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    await migrate.upgrade(db)
    return db


async def _ingest(db: Database, embedder: MiniLmEmbedder, files: list[SourceFile]) -> None:
    store = SqlEventStore(db)
    service = IngestionService(store, SqlDocumentCatalog(db), PatternScrubber())
    snapshot = SourceSnapshot("eval", "/eval", "PSF-2.0", files)
    await service.ingest(snapshot, IngestReport(), lambda _: None)
    await ProjectionRunner(db, store).catch_up(KnowledgeIndexProjection(embedder))


def _file(name: str, text: str) -> SourceFile:
    return SourceFile(name, text, hashlib.sha256(text.encode()).hexdigest())


async def bench_retrieval(size: int = 300, k: int = 10) -> dict[str, Any]:
    pairs = eval_pairs(size)
    embedder = MiniLmEmbedder()
    print(f"  retrieval: {len(pairs)} stdlib functions, embedding ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="buddy-bench-") as scratch:
        db = await _fresh_sqlite(Path(scratch))
        try:
            await _ingest(db, embedder, [_file(name, code) for _, name, code in pairs])
            index = SqlKnowledgeIndex(db, embedder)
            results = {mode: await _score(index, pairs, mode, k) for mode in MODES}
        finally:
            await db.dispose()
    hybrid, dense, text = (results[m]["mrr_at_10"] for m in ("hybrid", "dense", "text"))
    return {
        "queries": len(pairs),
        "source": "CPython standard library (PSF-2.0): first docstring sentence -> function",
        **results,
        "ratios": {
            "hybrid_vs_dense_mrr": round(hybrid / dense, 3) if dense else None,
            "hybrid_vs_text_mrr": round(hybrid / text, 3) if text else None,
        },
    }


async def _score(
    index: SqlKnowledgeIndex, pairs: list[tuple[str, str, str]], mode: str, k: int
) -> dict[str, float]:
    reciprocal, hits_at = 0.0, {1: 0, 5: 0, 10: 0}
    for query, name, _ in pairs:
        hits = await index.search(query, k=k * 3, mode=mode)
        documents = list(dict.fromkeys(hit.source for hit in hits))[:k]
        target = f"eval/{name}"
        if target in documents:
            rank = documents.index(target) + 1
            reciprocal += 1 / rank
            for cutoff in hits_at:
                hits_at[cutoff] += rank <= cutoff
    count = len(pairs)
    return {
        "mrr_at_10": round(reciprocal / count, 4),
        **{f"recall_at_{cutoff}": round(found / count, 4) for cutoff, found in hits_at.items()},
    }


async def bench_ingest(size: int = 200) -> dict[str, Any]:
    """Ingestion end to end vs the embedding model alone on the very same chunk texts."""
    pairs = eval_pairs(size, seed=11)
    files = [_file(name, code) for _, name, code in pairs]
    embedder = MiniLmEmbedder()
    embedder.encode(["warm up the model"])
    with tempfile.TemporaryDirectory(prefix="buddy-bench-") as scratch:
        db = await _fresh_sqlite(Path(scratch))
        try:
            started = time.perf_counter()
            await _ingest(db, embedder, files)
            ingest_s = time.perf_counter() - started
            async with db.read() as conn:
                texts = [row[0] for row in await conn.exec_driver_sql("SELECT text FROM kb_chunks")]
        finally:
            await db.dispose()
    started = time.perf_counter()
    embedder.encode(texts)
    direct_s = time.perf_counter() - started
    return {
        "files": len(files),
        "chunks": len(texts),
        "ingest_s": round(ingest_s, 2),
        "embed_only_s": round(direct_s, 2),
        "ratios": {"ingest_throughput_vs_embed_only": round(direct_s / ingest_s, 3)},
    }
