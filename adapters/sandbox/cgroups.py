"""One cgroup per sandbox run (pids and memory), on cgroup v2 or v1, killed and removed after.

Run cgroups live under a `buddy-sandbox` parent at the hierarchy's root and are named after the
owning process, so a sweep removes only those whose owner died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PARENT = "buddy-sandbox"
_CONTROLLERS = ("pids", "memory")
_EMPTY_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RunCgroup:
    """The per-controller directories of one run (one directory on v2, one per controller on v1)."""

    dirs: tuple[Path, ...]
    version: int

    @property
    def procs_files(self) -> tuple[Path, ...]:
        return tuple(d / "cgroup.procs" for d in self.dirs)

    def _file(self, controller: str, name: str) -> Path:
        if self.version == 2:
            return self.dirs[0] / name
        return next(d for d in self.dirs if d.parent.parent.name == controller) / name

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError):
                found.update(int(line) for line in procs.read_text().split())
        return found

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer acted in this cgroup. Kernels before 4.13 (v1) have no
        oom_kill counter; there a hit on the limit is the evidence (callers pair it with a
        SIGKILL)."""
        if self.version == 2:
            events = self._file("memory", "memory.events")
            return _counter(events, "oom_kill") > 0 or _counter(events, "oom") > 0
        oom_control = self._file("memory", "memory.oom_control")
        if _has_counter(oom_control, "oom_kill"):
            return _counter(oom_control, "oom_kill") > 0
        with contextlib.suppress(OSError, ValueError):
            return int(self._file("memory", "memory.failcnt").read_text()) > 0
        return False

    def peak_processes(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(self._file("pids", "pids.peak").read_text())
        return None

    async def kill_and_remove(self) -> None:
        """Kill every process in the run cgroup until it stays empty, then remove it."""
        kill_file = self.dirs[0] / "cgroup.kill"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _EMPTY_TIMEOUT_S
        while True:
            pids = self.pids()
            if not pids:
                break
            if self.version == 2 and kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if loop.time() > deadline:
                log.error("sandbox cgroup %s still has processes %s", self.dirs[0], pids)
                return
            await asyncio.sleep(0.01)
        for directory in self.dirs:
            # A killed task stays listed until it is reaped; rmdir answers EBUSY meanwhile.
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if loop.time() > deadline:
                        log.error("cannot remove sandbox cgroup %s", directory)
                        break
                    await asyncio.sleep(0.01)


class CgroupTree:
    """Creates run cgroups under `<root>/[controller/]buddy-sandbox`, if the host lets us."""

    def __init__(self, root: Path = Path("/sys/fs/cgroup")) -> None:
        self.root = root
        self.version = 2 if (root / "cgroup.controllers").exists() else 1
        self._ready: bool | None = None
        self.reason = ""

    def _parents(self) -> tuple[Path, ...]:
        if self.version == 2:
            return (self.root / PARENT,)
        return tuple(self.root / controller / PARENT for controller in _CONTROLLERS)

    def available(self) -> bool:
        """Whether run cgroups with pids and memory limits can be made (checked once)."""
        if self._ready is None:
            self._ready = self._prepare()
        return self._ready

    def _prepare(self) -> bool:
        try:
            if self.version == 2:
                enabled = (self.root / "cgroup.controllers").read_text().split()
                missing = [c for c in _CONTROLLERS if c not in enabled]
                if missing:
                    self.reason = f"cgroup v2 lacks the {', '.join(missing)} controller"
                    return False
                _enable_controllers(self.root)
                (self.root / PARENT).mkdir(exist_ok=True)
                _enable_controllers(self.root / PARENT)
            else:
                for parent in self._parents():
                    if not parent.parent.is_dir():
                        self.reason = f"no cgroup v1 hierarchy at {parent.parent}"
                        return False
                    parent.mkdir(exist_ok=True)
            probe = self.create(memory_bytes=64 << 20, processes=4)
            for directory in probe.dirs:
                directory.rmdir()
        except OSError as error:
            self.reason = f"cannot create cgroups under {self.root}: {error.strerror}"
            return False
        return True

    def create(self, *, memory_bytes: int, processes: int) -> RunCgroup:
        """A fresh run cgroup with its limits set; raises OSError if the host refuses."""
        name = f"run-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        dirs = tuple(parent / name for parent in self._parents())
        made: list[Path] = []
        try:
            for directory in dirs:
                directory.mkdir()
                made.append(directory)
            if self.version == 2:
                (dirs[0] / "pids.max").write_text(str(processes))
                (dirs[0] / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(FileNotFoundError):
                    (dirs[0] / "memory.swap.max").write_text("0")
            else:
                pids_dir, memory_dir = dirs
                (pids_dir / "pids.max").write_text(str(processes))
                (memory_dir / "memory.limit_in_bytes").write_text(str(memory_bytes))
                # Absent without swap accounting; where present, swap must not add to the limit.
                with contextlib.suppress(FileNotFoundError):
                    (memory_dir / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        except OSError:
            for directory in reversed(made):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise
        return RunCgroup(dirs, self.version)

    async def sweep(self) -> int:
        """Kill and remove run cgroups left by Buddy processes that no longer exist."""
        names: set[str] = set()
        for parent in self._parents():
            with contextlib.suppress(OSError):
                names.update(p.name for p in parent.iterdir() if p.name.startswith("run-"))
        swept = 0
        for name in sorted(names):
            owner = name.split("-")[1]
            if owner.isdigit() and _alive(int(owner)):
                continue
            dirs = tuple(p / name for p in self._parents() if (p / name).is_dir())
            await RunCgroup(dirs, self.version).kill_and_remove()
            swept += 1
        return swept

    def leftovers(self) -> list[Path]:
        """Run cgroups of this process that still exist (for tests and health checks)."""
        prefix = f"run-{os.getpid()}-"
        found: list[Path] = []
        for parent in self._parents():
            with contextlib.suppress(OSError):
                found.extend(p for p in parent.iterdir() if p.name.startswith(prefix))
        return found


def _enable_controllers(directory: Path) -> None:
    wanted = " ".join(f"+{c}" for c in _CONTROLLERS)
    (directory / "cgroup.subtree_control").write_text(wanted)


def _counter(path: Path, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    return 0


def _has_counter(path: Path, key: str) -> bool:
    with contextlib.suppress(OSError):
        return any(line.split(" ")[0] == key for line in path.read_text().splitlines())
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
