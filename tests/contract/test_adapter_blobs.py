"""The shared adapter store on SQLite and the embedded PostgreSQL: files by sha256, in chunks,
stored once; a replica fetches what it lacks and refuses bytes that are not what was trained."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from adapters.store.adapter_blobs import SqlAdapterBlobs
from adapters.store.database import Database
from domain.errors import AdapterRejected
from training.adapter_store import fetch_dir, fetch_file, pack_dir, publish_adapter


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_files_are_stored_in_chunks_once_and_read_back_whole(db: Database) -> None:
    blobs = SqlAdapterBlobs(db, chunk_bytes=1000)
    data = bytes(range(256)) * 30  # 7680 bytes: 8 chunks
    await blobs.put(sha(data), data)
    await blobs.put(sha(data), data)  # again (another replica): a no-op
    assert await blobs.get(sha(data)) == data
    assert await SqlAdapterBlobs(db, chunk_bytes=4096).get(sha(data)) == data  # any chunking
    assert await blobs.get(sha(b"other")) is None
    await blobs.put(sha(b""), b"")
    assert await blobs.get(sha(b"")) == b""


async def test_a_replica_fetches_the_adapter_it_lacks_and_refuses_a_wrong_copy(
    db: Database, tmp_path: Path
) -> None:
    trainer = tmp_path / "trainer" / "adapters" / "v1"
    (trainer / "adapter").mkdir(parents=True)
    (trainer / "adapter" / "adapter_model.safetensors").write_bytes(b"weights" * 100)
    (trainer / "adapter" / "adapter_config.json").write_text('{"r": 8}')
    (trainer / "adapter.gguf").write_bytes(b"GGUF" + bytes(5000))
    blobs = SqlAdapterBlobs(db, chunk_bytes=2048)
    hashes = await publish_adapter(blobs, trainer / "adapter.gguf", trainer / "adapter")
    assert hashes["sha256"] == sha((trainer / "adapter.gguf").read_bytes())
    assert hashes["dir_sha256"] == sha(pack_dir(trainer / "adapter"))  # the same bytes each time

    replica = tmp_path / "replica" / "adapters" / "v1"
    await fetch_file(blobs, replica / "adapter.gguf", hashes["sha256"])
    assert (replica / "adapter.gguf").read_bytes() == (trainer / "adapter.gguf").read_bytes()
    await fetch_dir(blobs, replica / "adapter", hashes["dir_sha256"])
    assert sorted(p.name for p in (replica / "adapter").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors"]  # fmt: skip
    assert (replica / "adapter" / "adapter_config.json").read_text() == '{"r": 8}'

    # A stored copy that does not hash to what was trained is refused, and nothing written.
    tampered = b"GGUF" + bytes(4999) + b"!"
    await blobs.put(hashes["sha256"][:-4] + "beef", tampered)
    other = tmp_path / "other" / "adapter.gguf"
    with pytest.raises(AdapterRejected, match="sha256 is"):
        await fetch_file(blobs, other, hashes["sha256"][:-4] + "beef")
    with pytest.raises(AdapterRejected, match="not in the shared adapter store"):
        await fetch_file(blobs, other, sha(b"never stored"))
    assert not other.exists()
    assert not other.parent.exists()
