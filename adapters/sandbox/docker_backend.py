"""The Docker sandbox (production): one hardened, throw-away container per run.

The `docker` SDK is imported only when a client is made, so this module imports without it.
The container spec is a pure function, tested without an engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from domain.errors import ConfigurationError
from domain.sandbox import (
    BASH,
    JAVASCRIPT,
    LANGUAGES,
    PYTHON,
    SQL,
    LanguageUnavailable,
    RunRequest,
    RunResult,
    SandboxLimits,
    SandboxUnavailable,
    normalise_language,
)

log = logging.getLogger(__name__)

LABEL = "buddy.sandbox"
NOBODY = "65534:65534"
WORK_DIR = "/tmp"
# A run lasts seconds; a labelled container older than this was left by a crash.
STALE_AFTER_S = 120.0
# The code and stdin travel as environment variables (no bind mount, no host path); the
# shell writes the code into the tmpfs and removes both before the program starts.
_WRITE_CODE = 'printf "%s" "$BUDDY_CODE" > {source} && unset BUDDY_CODE && '
_FEED_STDIN = 'printf "%s" "$BUDDY_STDIN" | {{ unset BUDDY_STDIN; exec {command}; }}'
_COMMANDS = {
    PYTHON: ("main.py", "python3 -I -B /tmp/main.py"),
    BASH: ("main.sh", "bash --noprofile --norc /tmp/main.sh"),
    JAVASCRIPT: ("main.js", "node --max-old-space-size={heap_mib} /tmp/main.js"),
}
_SQL = 'printf "%s" "$BUDDY_CODE" | { unset BUDDY_CODE BUDDY_STDIN; exec sqlite3 -batch -bail; }'
_DEFAULT_LIMITS = {name: SandboxLimits() for name in LANGUAGES} | {
    JAVASCRIPT: SandboxLimits(memory_mib=128)
}


def validate_image(image: str) -> str:
    """A pinned image: by digest, or by an explicit tag other than `latest`."""
    name = image.rsplit("/", 1)[-1]
    if "@sha256:" in image or (":" in name and not name.endswith(":latest")):
        return image
    raise ConfigurationError(
        f"sandbox image {image!r} is not pinned: name a digest (@sha256:...) or a version tag"
    )


def sandbox_script(language: str, limits: SandboxLimits) -> str:
    """The shell line that writes the code into the tmpfs and runs it, reading stdin."""
    if language == SQL:
        # The sqlite3 shell reads the code itself on stdin.
        return _SQL
    source, command = _COMMANDS[language]
    command = command.format(heap_mib=max(16, limits.memory_mib // 2))
    return _WRITE_CODE.format(source=f"{WORK_DIR}/{source}") + _FEED_STDIN.format(command=command)


def container_spec(image: str, request: RunRequest, limits: SandboxLimits) -> dict[str, Any]:
    """Keyword arguments for `client.containers.create`: no network, read-only root, one small
    tmpfs, pids and memory (swap included) limits, one CPU, no capabilities, no privilege
    gain, a non-root user, removed when it exits, labelled for the orphan sweep."""
    language = normalise_language(request.language)
    ulimits = [
        {"Name": "cpu", "Soft": limits.cpu_s, "Hard": limits.cpu_s + 1},
        {"Name": "fsize", "Soft": limits.file_size_mib << 20, "Hard": limits.file_size_mib << 20},
        {"Name": "nofile", "Soft": limits.open_files, "Hard": limits.open_files},
        {"Name": "core", "Soft": 0, "Hard": 0},
    ]
    return {
        "image": validate_image(image),
        "command": ["/bin/sh", "-c", sandbox_script(language, limits)],
        "environment": {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": WORK_DIR,
            "LANG": "C.UTF-8",
            "BUDDY_CODE": request.code,
            "BUDDY_STDIN": request.stdin,
        },
        "user": NOBODY,
        "working_dir": WORK_DIR,
        "hostname": "sandbox",
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {WORK_DIR: f"rw,nosuid,nodev,size={limits.tmpfs_mib}m,mode=1777"},
        "pids_limit": limits.processes,
        "mem_limit": f"{limits.memory_mib}m",
        "memswap_limit": f"{limits.memory_mib}m",
        "nano_cpus": 1_000_000_000,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "ulimits": ulimits,
        "init": True,
        "auto_remove": True,
        "labels": {LABEL: "1"},
    }


def _default_client() -> Any:
    import docker  # the SDK only where this backend is chosen

    try:
        return docker.from_env()
    except docker.errors.DockerException as error:
        raise SandboxUnavailable(f"no Docker engine answers: {error}") from error


class DockerSandbox:
    def __init__(
        self,
        image: str,
        *,
        languages: Iterable[str] = (PYTHON, BASH),
        limits: Mapping[str, SandboxLimits] | None = None,
        client_factory: Callable[[], Any] = _default_client,
    ) -> None:
        """`languages`: those the image has runtimes for (python:3.x-slim has Python and Bash)."""
        self._image = validate_image(image)
        self._languages = {normalise_language(name) for name in languages}
        self._limits = _DEFAULT_LIMITS | dict(limits or {})
        self._client_factory = client_factory
        self._client: Any = None

    def languages(self) -> dict[str, bool]:
        return {name: name in self._languages for name in LANGUAGES}

    async def run(self, request: RunRequest) -> RunResult:
        language = normalise_language(request.language)
        if language not in self._languages:
            raise LanguageUnavailable(f"{language} is not available in {self._image}")
        limits = request.limits or self._limits[language]
        spec = container_spec(self._image, request, limits)
        try:
            return await self._run(spec, limits)
        except (SandboxUnavailable, LanguageUnavailable):
            raise
        except Exception as error:
            # The SDK's errors (APIError, ImageNotFound, connection errors) end here.
            raise SandboxUnavailable(f"Docker could not run the snippet: {error}") from error

    async def _run(self, spec: dict[str, Any], limits: SandboxLimits) -> RunResult:
        client = await self._get_client()
        container = await asyncio.to_thread(client.containers.create, **spec)
        # Wait for removal before starting, as `docker run --rm` does: with auto_remove the
        # exit status is gone once the container is.
        exited = asyncio.create_task(
            asyncio.to_thread(container.wait, condition="removed", timeout=limits.wall_s + 30)
        )
        try:
            stream = await asyncio.to_thread(
                container.attach, stdout=True, stderr=True, stream=True, logs=True, demux=True
            )
            started = time.monotonic()
            await asyncio.to_thread(container.start)
            reading = asyncio.create_task(
                asyncio.to_thread(_read_capped, stream, limits.output_bytes)
            )
            done, _ = await asyncio.wait({reading}, timeout=limits.wall_s)
            timed_out = not done
            if timed_out or reading.result()[2]:
                with contextlib.suppress(Exception):  # it may have exited meanwhile
                    await asyncio.to_thread(container.kill)
            stdout, stderr, truncated = await reading
            status = await exited
        except BaseException:
            exited.cancel()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(container.remove, force=True)
            raise
        code = int(status.get("StatusCode", 137))
        signal = code - 128 if 128 < code <= 128 + 64 else None
        return RunResult(
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
            exit_code=code,
            timed_out=timed_out,
            truncated=truncated,
            duration_ms=int((time.monotonic() - started) * 1000),
            signal=signal,
            # Only the memory cgroup kills with SIGKILL unless we did; the container and its
            # OOMKilled flag are gone by now.
            oom_killed=signal == 9 and not (timed_out or truncated),
            limits=limits,
        )

    async def sweep(self, older_than_s: float = STALE_AFTER_S) -> int:
        """Remove sandbox containers a crashed run left behind; how many."""
        client = await self._get_client()
        containers = await asyncio.to_thread(
            client.containers.list, all=True, filters={"label": f"{LABEL}=1"}
        )
        now = datetime.now(UTC)
        removed = 0
        for container in containers:
            created = _created_at(container.attrs.get("Created", ""))
            if created is not None and (now - created).total_seconds() < older_than_s:
                continue
            try:
                await asyncio.to_thread(container.remove, force=True)
                removed += 1
            except Exception as error:  # already gone, or being removed
                log.info("sandbox sweep skipped %s: %s", getattr(container, "id", "?"), error)
        return removed

    async def _get_client(self) -> Any:
        if self._client is None:
            self._client = await asyncio.to_thread(self._client_factory)
        return self._client


def _read_capped(
    stream: Iterable[tuple[bytes | None, bytes | None]], cap: int
) -> tuple[bytes, bytes, bool]:
    stdout, stderr = bytearray(), bytearray()
    for out, err in stream:
        for chunk, into in ((out, stdout), (err, stderr)):
            if not chunk:
                continue
            room = cap - len(stdout) - len(stderr)
            into += chunk[:room]
            if len(chunk) > room:
                return bytes(stdout), bytes(stderr), True
    return bytes(stdout), bytes(stderr), False


def _created_at(stamp: str) -> datetime | None:
    # Docker writes nanoseconds ("2026-11-23T12:00:00.123456789Z"); seconds are enough here.
    with contextlib.suppress(ValueError):
        return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return None
