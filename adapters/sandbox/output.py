"""Untrusted output on the host side: bounded pipe reading and careful reading of produced files."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from pathlib import Path

from domain.errors import BuddyError

_CHUNK = 64 * 1024


class BoundedOutput:
    """stdout and stderr of one run, together cut at `cap` bytes; `full` is set at the cap so
    the caller can kill the run instead of letting the child block on a full pipe."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.truncated = False
        self.full = asyncio.Event()

    @property
    def size(self) -> int:
        return len(self.stdout) + len(self.stderr)

    async def drain(self, stream: asyncio.StreamReader, into: bytearray) -> None:
        while chunk := await stream.read(_CHUNK):
            room = self.cap - self.size
            if len(chunk) > room:
                into += chunk[: max(room, 0)]
                self.truncated = True
                self.full.set()
                # Keep reading (and dropping) until the run is killed: a blocked writer never
                # exits, and the pipe must reach EOF for the run to finish.
                continue
            into += chunk

    def text(self, data: bytearray) -> str:
        return data.decode("utf-8", errors="replace")


class ProducedFileRefused(BuddyError):
    """A produced file that is not a plain regular file inside the output dir, or too big."""


def read_produced_file(directory: int | Path, name: str, cap: int) -> bytes:
    """Read a file a sandboxed program produced, trusting nothing about it: the name must be a
    single path component, the file must be a regular file reached without following a symlink,
    and at most `cap` bytes are read (more is refused, not cut). `directory` is an open dir fd
    or a path (opened here without following a symlink either)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ProducedFileRefused(f"refused produced file name {name!r}")
    own_dir = not isinstance(directory, int)
    if isinstance(directory, int):
        dir_fd = directory
    else:
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            raise ProducedFileRefused(f"cannot open output dir: {error.strerror}") from error
    try:
        try:
            # O_NONBLOCK: opening a FIFO the program left must not hang the host.
            fd = os.open(
                name,
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY,
                dir_fd=dir_fd,
            )
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise ProducedFileRefused(f"produced file {name!r} is a symlink") from error
            raise ProducedFileRefused(
                f"cannot open produced file {name!r}: {error.strerror}"
            ) from error
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ProducedFileRefused(f"produced file {name!r} is not a regular file")
            if info.st_nlink != 1:
                # A hard link could point at a host file the program may not otherwise read.
                raise ProducedFileRefused(f"produced file {name!r} has other links")
            if info.st_size > cap:
                raise ProducedFileRefused(f"produced file {name!r} exceeds {cap} bytes")
            data = bytearray()
            while len(data) <= cap and (chunk := os.read(fd, min(_CHUNK, cap + 1 - len(data)))):
                data += chunk
            if len(data) > cap:
                raise ProducedFileRefused(f"produced file {name!r} grew past {cap} bytes")
            return bytes(data)
        finally:
            os.close(fd)
    finally:
        if own_dir:
            os.close(dir_fd)
