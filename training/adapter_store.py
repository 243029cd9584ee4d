"""A trained adapter's files where every replica can read them, checked by hash.

The training replica stores the GGUF LoRA (what llama.cpp serves) and the peft folder (what the
next run's gate evaluates against), each under its sha256, in the shared `AdapterBlobs` store
(the database) before `TrainingFinished` names them. Another replica that lacks a file on its
own disk fetches it by that hash into its data dir; bytes that do not hash to what was trained
are refused and never written."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

from domain.errors import AdapterRejected
from domain.ports import AdapterBlobs


async def publish_adapter(blobs: AdapterBlobs, gguf: Path, peft_dir: Path) -> dict[str, str]:
    """Store both files; {"sha256": the GGUF's, "dir_sha256": the peft folder archive's}."""
    gguf_bytes = await asyncio.to_thread(gguf.read_bytes)
    archive = await asyncio.to_thread(pack_dir, peft_dir)
    hashes = {"sha256": _sha256(gguf_bytes), "dir_sha256": _sha256(archive)}
    await blobs.put(hashes["sha256"], gguf_bytes)
    await blobs.put(hashes["dir_sha256"], archive)
    return hashes


async def fetch_file(blobs: AdapterBlobs, dest: Path, sha256: str) -> None:
    """Write the file stored under `sha256` to `dest`. AdapterRejected when the store has none,
    or its bytes hash to something else (nothing is written then)."""
    data = await _checked(blobs, dest, sha256)
    await asyncio.to_thread(_write_atomically, dest, data)


async def fetch_dir(blobs: AdapterBlobs, dest: Path, sha256: str) -> None:
    """Unpack the peft folder archived under `sha256` into `dest` (AdapterRejected as above)."""
    data = await _checked(blobs, dest, sha256)
    await asyncio.to_thread(unpack_dir, data, dest)


def pack_dir(folder: Path) -> bytes:
    """The folder's files (flat, as peft writes them) as a tar, the same bytes for the same
    files: sorted, no timestamps or owners."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def unpack_dir(data: bytes, dest: Path) -> None:
    """The archive's plain files into `dest`, which appears whole or not at all."""
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive.getmembers():
            plain = member.isfile() and "/" not in member.name and not member.name.startswith(".")
            source = archive.extractfile(member) if plain else None
            if source is None:
                raise AdapterRejected(dest, f"unexpected entry {member.name!r} in its archive")
            (staging / member.name).write_bytes(source.read())
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)


async def _checked(blobs: AdapterBlobs, dest: Path, sha256: str) -> bytes:
    if not sha256:
        raise AdapterRejected(dest, "it is missing here and no hash names a shared copy")
    data = await blobs.get(sha256)
    if data is None:
        raise AdapterRejected(dest, "it is missing here and not in the shared adapter store")
    found = await asyncio.to_thread(_sha256, data)
    if found != sha256:
        raise AdapterRejected(
            dest, f"the shared copy's sha256 is {found[:12]}…, trained as {sha256[:12]}…"
        )
    return data


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomically(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(dest.name + ".partial")
    staging.write_bytes(data)
    os.replace(staging, dest)
