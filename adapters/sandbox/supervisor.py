"""One sandbox process under watch: stdin in, both pipes read under the output cap, and the
whole run killed at the wall limit or at the cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from adapters.sandbox.output import BoundedOutput

log = logging.getLogger(__name__)

# After a kill, the pipes close as soon as the pid namespace is gone; this only guards a bug.
_DRAIN_AFTER_KILL_S = 2.0
_BWRAP_EXIT_S = 1.0


async def supervise(
    process: asyncio.subprocess.Process, stdin: bytes, output: BoundedOutput, wall_s: float
) -> bool:
    """Feed stdin, read both pipes under the output cap, and kill the whole run at the wall
    limit or at the cap. Whether it timed out."""
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    feeder = asyncio.create_task(_feed(process.stdin, stdin))
    readers = asyncio.gather(
        output.drain(process.stdout, output.stdout), output.drain(process.stderr, output.stderr)
    )
    finished = asyncio.create_task(_finish(process, readers))
    flooded = asyncio.create_task(output.full.wait())
    timed_out = False
    try:
        done, _ = await asyncio.wait(
            {finished, flooded}, timeout=wall_s, return_when=asyncio.FIRST_COMPLETED
        )
        timed_out = not done
    finally:
        feeder.cancel()
        flooded.cancel()
        if not finished.done():
            await _kill(process)
            try:
                await asyncio.wait_for(finished, _DRAIN_AFTER_KILL_S)
            except TimeoutError:
                log.error("sandbox pipes stayed open after the kill")
                readers.cancel()
                await process.wait()
    return timed_out


async def _finish(
    process: asyncio.subprocess.Process, readers: asyncio.Future[tuple[None, None]]
) -> None:
    await readers
    await process.wait()


async def _feed(pipe: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        if data:
            pipe.write(data)
            await pipe.drain()
        pipe.close()


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the sandbox's pid 1 first: the namespace dies with it and bwrap reaps it and exits.
    Killing bwrap first would leave that pid 1 an orphan, a zombie of the host's init."""
    for pid in _children(process.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), _BWRAP_EXIT_S)
        return
    # bwrap had no child yet, or hangs: it runs with --die-with-parent inside, so this is safe.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    return []
