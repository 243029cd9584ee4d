"""The Docker sandbox: the container spec and the orphan sweep against a fake client; a real
run only where a Docker engine answers."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.sandbox.docker_backend import (
    LABEL,
    DockerSandbox,
    container_spec,
    sandbox_script,
    validate_image,
)
from domain.errors import ConfigurationError
from domain.sandbox import LanguageUnavailable, RunRequest, SandboxLimits, SandboxUnavailable

IMAGE = "python:3.11-slim"


def test_the_spec_is_hardened() -> None:
    limits = SandboxLimits(memory_mib=70, processes=15, tmpfs_mib=48, cpu_s=6)
    spec = container_spec(IMAGE, RunRequest("py", "print(1)", "in"), limits)
    assert spec["image"] == IMAGE
    assert spec["network_mode"] == "none"
    assert spec["read_only"] is True
    assert spec["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=48m,mode=1777"}
    assert spec["pids_limit"] == 15
    assert spec["mem_limit"] == spec["memswap_limit"] == "70m"
    assert spec["nano_cpus"] == 1_000_000_000
    assert spec["cap_drop"] == ["ALL"]
    assert spec["security_opt"] == ["no-new-privileges"]
    assert spec["user"] == "65534:65534"
    assert spec["auto_remove"] is True
    assert spec["labels"] == {LABEL: "1"}
    assert {"Name": "cpu", "Soft": 6, "Hard": 7} in spec["ulimits"]
    assert "privileged" not in spec
    assert "volumes" not in spec
    assert "mounts" not in spec


def test_code_and_stdin_travel_in_the_environment_not_a_host_path() -> None:
    spec = container_spec(IMAGE, RunRequest("python", "print(input())", "hello"), SandboxLimits())
    assert spec["environment"]["BUDDY_CODE"] == "print(input())"
    assert spec["environment"]["BUDDY_STDIN"] == "hello"
    assert set(spec["environment"]) == {"PATH", "HOME", "LANG", "BUDDY_CODE", "BUDDY_STDIN"}
    command = spec["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert "python3 -I -B /tmp/main.py" in command[2]
    assert "unset BUDDY_CODE" in command[2]
    assert "unset BUDDY_STDIN" in command[2]


def test_each_language_has_a_command_line_the_shell_parses() -> None:
    for language in ("python", "bash", "javascript", "sql"):
        script = sandbox_script(language, SandboxLimits(memory_mib=128))
        assert shlex.split(script, posix=True)
    assert "--max-old-space-size=64" in sandbox_script("javascript", SandboxLimits(memory_mib=128))
    assert "sqlite3" in sandbox_script("sql", SandboxLimits())


@pytest.mark.parametrize(
    "image", ["python@sha256:" + "a" * 64, "python:3.11-slim", "reg.example:5000/py:3.11"]
)
def test_pinned_images_are_accepted(image: str) -> None:
    assert validate_image(image) == image


@pytest.mark.parametrize("image", ["python", "python:latest", "reg.example:5000/python"])
def test_floating_images_are_refused(image: str) -> None:
    with pytest.raises(ConfigurationError, match="not pinned"):
        validate_image(image)


class FakeContainer:
    def __init__(self, client: FakeClient, spec: dict[str, Any], created: datetime) -> None:
        self.client = client
        self.spec = spec
        self.id = f"c{len(client.containers.made)}"
        self.attrs = {"Created": created.strftime("%Y-%m-%dT%H:%M:%S.123456789Z")}
        self.events: list[str] = []
        self.removed = False

    def attach(self, **kwargs: Any) -> Iterator[tuple[bytes | None, bytes | None]]:
        self.events.append("attach")
        return iter(self.client.output)

    def start(self) -> None:
        self.events.append("start")

    def wait(self, **kwargs: Any) -> dict[str, int]:
        self.events.append(f"wait:{kwargs.get('condition')}")
        return {"StatusCode": self.client.status}

    def kill(self) -> None:
        self.events.append("kill")

    def remove(self, force: bool = False) -> None:
        if self.client.fail_remove:
            raise RuntimeError("removal already in progress")
        self.removed = True


class FakeContainers:
    def __init__(self, client: FakeClient) -> None:
        self.client = client
        self.made: list[FakeContainer] = []
        self.list_filters: list[dict[str, str]] = []

    def create(self, **spec: Any) -> FakeContainer:
        container = FakeContainer(self.client, spec, datetime.now(UTC))
        self.made.append(container)
        return container

    def list(self, all: bool = False, filters: dict[str, str] | None = None) -> list[FakeContainer]:
        self.list_filters.append(filters or {})
        return [c for c in self.made if not c.removed]


class FakeClient:
    def __init__(self) -> None:
        self.containers = FakeContainers(self)
        self.output: list[tuple[bytes | None, bytes | None]] = []
        self.status = 0
        self.fail_remove = False


async def test_a_run_creates_waits_for_removal_then_starts() -> None:
    client = FakeClient()
    client.output = [(b"4", None), (None, b"warn"), (b"2\n", None)]
    box = DockerSandbox(IMAGE, client_factory=lambda: client)
    result = await box.run(RunRequest("python", "print(42)"))
    assert (result.stdout, result.stderr, result.exit_code, result.truncated) == (
        "42\n",
        "warn",
        0,
        False,
    )
    (container,) = client.containers.made
    assert container.spec["labels"] == {LABEL: "1"}
    # Waiting for removal begins before start, or the exit status could be gone.
    assert container.events.index("wait:removed") < container.events.index("start")


async def test_output_past_the_cap_is_cut_and_the_container_killed() -> None:
    client = FakeClient()
    client.output = [(b"x" * 600, None), (b"y" * 600, None)]
    client.status = 137
    box = DockerSandbox(IMAGE, client_factory=lambda: client)
    result = await box.run(RunRequest("python", "flood", limits=SandboxLimits(output_bytes=1000)))
    assert result.truncated
    assert len(result.stdout) == 1000
    assert (result.signal, result.oom_killed) == (9, False)
    assert "kill" in client.containers.made[0].events


async def test_languages_follow_the_image() -> None:
    box = DockerSandbox(IMAGE, client_factory=FakeClient)
    assert box.languages() == {"python": True, "bash": True, "javascript": False, "sql": False}
    with pytest.raises(LanguageUnavailable):
        await box.run(RunRequest("js", "1"))


async def test_engine_errors_become_sandbox_unavailable() -> None:
    def no_engine() -> Any:
        raise ConnectionError("no socket")

    box = DockerSandbox(IMAGE, client_factory=no_engine)
    with pytest.raises(SandboxUnavailable, match="no socket"):
        await box.run(RunRequest("python", "print(1)"))


async def test_sweep_removes_only_old_labelled_containers() -> None:
    client = FakeClient()
    old = FakeContainer(client, {}, datetime.now(UTC) - timedelta(hours=1))
    fresh = FakeContainer(client, {}, datetime.now(UTC))
    client.containers.made += [old, fresh]
    box = DockerSandbox(IMAGE, client_factory=lambda: client)
    assert await box.sweep() == 1
    assert old.removed
    assert not fresh.removed
    assert client.containers.list_filters == [{"label": f"{LABEL}=1"}]
    client.fail_remove = True
    assert await box.sweep(older_than_s=0) == 0  # a failed removal is skipped, not raised


def _engine() -> Any:
    try:
        import docker  # type: ignore[import-not-found,unused-ignore]

        client = docker.from_env()
        client.ping()
        client.images.pull(IMAGE)
    except Exception:
        return None
    return client


@pytest.mark.slow
async def test_a_real_container_runs_contained() -> None:
    engine = _engine()
    if engine is None:
        pytest.skip("no Docker engine answers here")
    box = DockerSandbox(IMAGE, client_factory=lambda: engine)
    result = await box.run(RunRequest("python", "import os; print(os.getuid(), input())", "hi"))
    assert (result.stdout, result.exit_code) == ("65534 hi\n", 0)
    network = await box.run(
        RunRequest("python", "import socket; socket.create_connection(('1.1.1.1', 53), 1)")
    )
    assert network.exit_code != 0
    loop = await box.run(RunRequest("python", "while True: pass", limits=SandboxLimits(wall_s=2)))
    assert loop.timed_out
    assert await box.sweep(older_than_s=0) == 0
