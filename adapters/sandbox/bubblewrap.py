"""The bubblewrap sandbox: each run in fresh namespaces, its own cgroup, and rlimits.

Isolation is decided once, on first use: a cgroup per run where the host lets us create one
(pids.max is what stops a fork bomb when we run as root), and as root a drop to an unprivileged
host uid before bwrap, so the sandbox is nobody outside too and the rlimits bind. Without a
cgroup the drop is required; without either the sandbox refuses to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from adapters.sandbox.bwrap_command import (
    HOST_ENV,
    bwrap_args,
    rlimit_args,
    wrapper_args,
)
from adapters.sandbox.cgroups import CgroupTree, RunCgroup
from adapters.sandbox.languages import (
    PROFILES,
    WORK_DIR,
    LanguageProfile,
    find_runtime,
    visible_executable,
)
from adapters.sandbox.output import BoundedOutput
from adapters.sandbox.supervisor import supervise
from domain.sandbox import (
    LanguageUnavailable,
    RunRequest,
    RunResult,
    SandboxLimits,
    SandboxUnavailable,
    normalise_language,
)

log = logging.getLogger(__name__)

NOBODY = 65534


@dataclass(frozen=True)
class Isolation:
    cgroups: CgroupTree | None
    drop_to_uid: int | None
    tmpfs_size_option: bool

    def describe(self) -> str:
        parts = [f"cgroup v{self.cgroups.version} per run" if self.cgroups else "no cgroup"]
        if self.drop_to_uid is not None:
            parts.append(f"host uid {self.drop_to_uid}")
        return ", ".join(parts)


class BubblewrapSandbox:
    def __init__(
        self,
        *,
        limits: Mapping[str, SandboxLimits] | None = None,
        cgroup_root: Path | None = Path("/sys/fs/cgroup"),
        host_uid: int = NOBODY,
        sandbox_uid: int = NOBODY,
    ) -> None:
        """`limits` overrides the per-language defaults; `cgroup_root=None` runs without
        cgroups (rlimits under an unprivileged host uid only); `host_uid` is the uid to drop to
        when running as root; `sandbox_uid` is the uid the program sees."""
        self._limits = {name: p.limits for name, p in PROFILES.items()} | dict(limits or {})
        self._cgroups = CgroupTree(cgroup_root) if cgroup_root is not None else None
        self._host_uid = host_uid
        self._sandbox_uid = sandbox_uid
        self._bwrap = shutil.which("bwrap")
        self._setpriv = shutil.which("setpriv")
        self._prlimit = visible_executable("/usr/bin/prlimit")
        self._runtimes = {name: find_runtime(p) for name, p in PROFILES.items()}
        self._isolation: Isolation | None = None
        self._isolation_lock = asyncio.Lock()

    def languages(self) -> dict[str, bool]:
        cgroups = self._cgroups is not None and self._cgroups.available()
        return {
            name: self._runtimes[name] is not None and (cgroups or not p.needs_memory_cgroup)
            for name, p in PROFILES.items()
        }

    async def check(self) -> str:
        """Decide (once) how runs are isolated; a line saying how, or SandboxUnavailable."""
        return (await self._isolate()).describe()

    async def sweep(self) -> int:
        """Remove run cgroups left by Buddy processes that died; how many."""
        return await self._cgroups.sweep() if self._cgroups and self._cgroups.available() else 0

    async def run(self, request: RunRequest) -> RunResult:
        language = normalise_language(request.language)
        profile = PROFILES.get(language)
        if profile is None:
            raise LanguageUnavailable(
                f"unknown language {request.language!r} (known: {', '.join(PROFILES)})"
            )
        runtime = self._runtimes[language]
        if runtime is None:
            raise LanguageUnavailable(f"{language} is not installed ({profile.candidates[0]})")
        isolation = await self._isolate()
        if profile.needs_memory_cgroup and isolation.cgroups is None:
            raise LanguageUnavailable(f"{language} needs a memory cgroup, and none is writable")
        limits = request.limits or self._limits[language]
        if isolation.cgroups is None and limits.address_space_mib is None:
            # No memory cgroup: the address space is the only memory bound left.
            limits = dataclasses.replace(limits, address_space_mib=limits.memory_mib)
        cgroup = None
        if isolation.cgroups is not None:
            try:
                cgroup = isolation.cgroups.create(
                    memory_bytes=limits.memory_mib << 20, processes=limits.processes
                )
            except OSError as error:
                raise SandboxUnavailable(f"cannot create the run's cgroup: {error}") from error
        try:
            return await self._run(profile, runtime, request, limits, isolation, cgroup)
        finally:
            if cgroup is not None:
                await cgroup.kill_and_remove()

    async def _run(
        self,
        profile: LanguageProfile,
        runtime: str,
        request: RunRequest,
        limits: SandboxLimits,
        isolation: Isolation,
        cgroup: RunCgroup | None,
    ) -> RunResult:
        assert self._bwrap is not None  # checked by _isolate
        assert self._prlimit is not None
        source = f"{WORK_DIR}/{profile.source_name}"
        stdin = request.code if profile.code_on_stdin else request.stdin
        with _code_file("" if profile.code_on_stdin else request.code) as code_fd:
            argv = [
                *wrapper_args(
                    cgroup_procs=[str(p) for p in cgroup.procs_files] if cgroup else [],
                    setpriv=self._setpriv,
                    drop_to_uid=isolation.drop_to_uid,
                ),
                *bwrap_args(
                    self._bwrap,
                    limits,
                    sandbox_uid=self._sandbox_uid,
                    tmpfs_size_option=isolation.tmpfs_size_option,
                    code_fd=None if profile.code_on_stdin else code_fd,
                    source_path=source,
                ),
                *rlimit_args(self._prlimit, limits),
                *profile.argv(runtime, source, limits),
            ]
            started = time.monotonic()
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=HOST_ENV,
                    pass_fds=(code_fd,),
                    start_new_session=True,
                )
            except OSError as error:
                raise SandboxUnavailable(f"cannot start bwrap: {error}") from error
        output = BoundedOutput(limits.output_bytes)
        timed_out = await supervise(process, stdin.encode(), output, limits.wall_s)
        duration_ms = int((time.monotonic() - started) * 1000)
        code = process.returncode if process.returncode is not None else -signal.SIGKILL
        signal_number = -code if code < 0 else (code - 128 if 128 < code <= 128 + 64 else None)
        if cgroup is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("sandbox run peaked at %s processes", cgroup.peak_processes())
        return RunResult(
            stdout=output.text(output.stdout),
            stderr=output.text(output.stderr),
            exit_code=128 - code if code < 0 else code,
            timed_out=timed_out,
            truncated=output.truncated,
            duration_ms=duration_ms,
            signal=signal_number,
            oom_killed=signal_number == signal.SIGKILL
            and cgroup is not None
            and cgroup.oom_killed(),
            limits=limits,
        )

    async def _isolate(self) -> Isolation:
        async with self._isolation_lock:
            if self._isolation is None:
                self._isolation = await self._decide_isolation()
            return self._isolation

    async def _decide_isolation(self) -> Isolation:
        if self._bwrap is None:
            raise SandboxUnavailable("bubblewrap is not installed (apt-get install bubblewrap)")
        if self._prlimit is None:
            raise SandboxUnavailable("prlimit is not installed in /usr (util-linux)")
        size_option = "--size" in await _output(self._bwrap, "--help")
        cgroups = self._cgroups if self._cgroups and self._cgroups.available() else None
        if cgroups is not None:
            await cgroups.sweep()
        if not size_option and cgroups is None:
            raise SandboxUnavailable("this bwrap has no --size and no memory cgroup bounds tmpfs")
        drop_to = None
        if os.geteuid() != 0:
            # Already unprivileged: the rlimits bind as they are.
            if not await self._probe(None, size_option):
                raise SandboxUnavailable("bwrap cannot make a sandbox here (see the log)")
        elif self._setpriv is not None and await self._probe(self._host_uid, size_option):
            drop_to = self._host_uid
        elif cgroups is None:
            why = self._cgroups.reason if self._cgroups else "cgroups are turned off"
            raise SandboxUnavailable(
                f"cannot isolate: {why}, and running as root bwrap cannot drop to uid "
                f"{self._host_uid} (setpriv missing or unprivileged user namespaces off)"
            )
        elif not await self._probe(None, size_option):
            raise SandboxUnavailable("bwrap cannot make a sandbox here (see the log)")
        isolation = Isolation(cgroups, drop_to, size_option)
        log.info("sandbox isolation: %s", isolation.describe())
        return isolation

    async def _probe(self, drop_to_uid: int | None, size_option: bool) -> bool:
        """Whether bwrap makes a sandbox at all (as `drop_to_uid` on the host, if given)."""
        assert self._bwrap is not None
        probe = [
            *wrapper_args(cgroup_procs=[], setpriv=self._setpriv, drop_to_uid=drop_to_uid),
            *bwrap_args(
                self._bwrap,
                SandboxLimits(),
                sandbox_uid=self._sandbox_uid,
                tmpfs_size_option=size_option,
                code_fd=None,
                source_path="",
            ),
            "/usr/bin/true",
        ]
        try:
            process = await asyncio.create_subprocess_exec(
                *probe,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=HOST_ENV,
            )
            _, stderr = await process.communicate()
        except OSError as error:
            log.warning("cannot start bwrap: %s", error)
            return False
        if process.returncode != 0:
            who = f"host uid {drop_to_uid}" if drop_to_uid is not None else f"uid {os.geteuid()}"
            log.warning("bwrap as %s fails: %s", who, stderr.decode(errors="replace").strip())
        return process.returncode == 0


async def _output(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=HOST_ENV
    )
    stdout, _ = await process.communicate()
    return stdout.decode(errors="replace")


@contextlib.contextmanager
def _code_file(code: str) -> Iterator[int]:
    """The code in an anonymous memory file: bwrap copies it into the tmpfs, so no host path
    ever holds it."""
    fd = os.memfd_create("buddy-snippet", os.MFD_CLOEXEC)
    try:
        data = memoryview(code.encode())
        while data:
            data = data[os.write(fd, data) :]
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)
