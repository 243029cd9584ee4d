"""The bubblewrap sandbox against hostile snippets, on the real backend.

Each test that is about killing uses a short wall limit; together they take well under a minute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest

from adapters.sandbox.bubblewrap import BubblewrapSandbox
from adapters.sandbox.bwrap_command import bwrap_args
from adapters.sandbox.output import ProducedFileRefused, read_produced_file
from domain.sandbox import (
    LanguageUnavailable,
    RunRequest,
    SandboxLimits,
    SandboxUnavailable,
)
from tests.components import missing, require


@pytest.fixture(autouse=True)
def _bubblewrap() -> None:
    require(shutil.which("bwrap") is not None, "bubblewrap not installed")


def _root(reason: str) -> None:
    require(os.geteuid() == 0, f"not root: {reason}")


SHORT = SandboxLimits(wall_s=2.0)
CANARY = "BUDDY_CANARY_7f3e9d1c_do_not_leak"

FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
BASH_FORK_BOMB = "bomb() { bomb | bomb & }; bomb; sleep 60"
MEMORY_BOMB = """
hoard = []
while True:
    hoard.append(bytearray(8 << 20))
"""
FLOOD = """
import sys
line = "x" * 65535 + "\\n"
while True:
    sys.stdout.write(line)
"""
DISK_FILL = """
import os
written = 0
try:
    for i in range(200):
        with open(f"/tmp/fill{i}", "wb") as f:
            f.write(b"x" * (1 << 20))
        written += 1 << 20
except OSError as error:
    print("stopped", error.errno, written >> 20)
"""


def pids_of(uid: int) -> set[int]:
    found = set()
    for process in psutil.process_iter(["uids"]):
        uids = process.info["uids"]
        if uids is not None and uids.real == uid:
            found.add(process.pid)
    return found


@pytest.fixture
def host_uid() -> int:
    """A host uid of this test's own (as root the sandbox drops to it), so that a leftover
    process is found by its uid, even one reparented away from us, and concurrent test runs
    do not see each other's."""
    return random.randrange(1_000_000, 2_000_000)


def assert_nothing_left(box: BubblewrapSandbox, host_uid: int) -> None:
    if box._cgroups is not None and box._cgroups.available():
        assert box._cgroups.leftovers() == []
    assert pids_of(host_uid) == set()
    assert psutil.Process().children(recursive=True) == []


@pytest.fixture
def sandbox(host_uid: int) -> Iterator[BubblewrapSandbox]:
    box = BubblewrapSandbox(host_uid=host_uid)
    yield box
    assert_nothing_left(box, host_uid)


def test_the_command_line_unshares_everything_and_binds_only_the_system() -> None:
    args = bwrap_args(
        "/usr/bin/bwrap",
        SandboxLimits(),
        sandbox_uid=65534,
        tmpfs_size_option=True,
        code_fd=5,
        source_path="/tmp/main.py",
    )
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"):
        assert flag in args
    assert args[args.index("--uid") + 1] == "65534"
    assert args[args.index("--size") + 1] == str(48 << 20)
    assert args[args.index("--size") + 2 : args.index("--size") + 4] == ["--tmpfs", "/tmp"]
    assert args.index("--clearenv") < args.index("--setenv")
    binds = [args[i + 1] for i, arg in enumerate(args) if arg in ("--bind", "--ro-bind")]
    assert "--bind" not in args  # nothing of the host is writable
    assert all(b.startswith("/usr") or b in ("/etc/ld.so.cache",) or b in _SPLIT_USR for b in binds)
    assert not any(b.startswith(("/work", "/home", "/root", "/etc/shadow")) for b in binds)


_SPLIT_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


async def test_benign_python_and_bash(sandbox: BubblewrapSandbox) -> None:
    python = await sandbox.run(RunRequest("py", "print(sum(range(10)))\nprint(input())", "hi"))
    bash = await sandbox.run(RunRequest("sh", 'echo "$((6 * 7))"; echo err >&2; exit 3'))
    assert (python.stdout, python.exit_code, python.signal) == ("45\nhi\n", 0, None)
    assert python.ok
    assert (bash.stdout, bash.stderr, bash.exit_code) == ("42\n", "err\n", 3)


async def test_javascript_and_sql_when_installed(sandbox: BubblewrapSandbox) -> None:
    available = sandbox.languages()
    assert available["python"]
    assert available["bash"]
    if available["javascript"]:
        js = await sandbox.run(RunRequest("js", "console.log([1, 2, 3].map(x => x * 2).join())"))
        assert (js.stdout, js.exit_code) == ("2,4,6\n", 0)
    if available["sql"]:
        sql = await sandbox.run(RunRequest("sqlite", "create table t(x); insert into t values (4);"
                                           " select x * 10 from t;"))  # fmt: skip
        assert (sql.stdout, sql.exit_code) == ("40\n", 0)


async def test_unknown_language_is_refused(sandbox: BubblewrapSandbox) -> None:
    with pytest.raises(LanguageUnavailable, match="cobol"):
        await sandbox.run(RunRequest("cobol", "DISPLAY 'HI'."))


async def test_uid_is_not_root(sandbox: BubblewrapSandbox) -> None:
    result = await sandbox.run(RunRequest("bash", "id -u; id -g; cat /proc/self/status"))
    uid, gid = result.stdout.split()[:2]
    assert uid != "0"
    assert gid != "0"
    assert "CapEff:\t0000000000000000" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("language", "code"), [("python", "while True:\n    pass"), ("bash", "sleep 60")]
)
async def test_infinite_loop_and_sleep_are_killed_at_the_wall_limit(
    sandbox: BubblewrapSandbox, language: str, code: str
) -> None:
    result = await sandbox.run(RunRequest(language, code, limits=SHORT))
    assert result.timed_out
    assert result.signal == 9
    assert result.exit_code == 137
    assert result.duration_ms >= SHORT.wall_s * 1000  # at the limit, not before it


@pytest.mark.slow
async def test_cpu_time_is_limited(sandbox: BubblewrapSandbox) -> None:
    limits = SandboxLimits(wall_s=5.0, cpu_s=1)
    result = await sandbox.run(RunRequest("python", "while True:\n    pass", "", limits))
    assert not result.timed_out  # stopped by the CPU limit (SIGXCPU), before the wall limit
    assert result.signal == 24


@pytest.mark.slow
@pytest.mark.parametrize(("language", "code"), [("python", FORK_BOMB), ("bash", BASH_FORK_BOMB)])
async def test_fork_bomb_is_contained(
    sandbox: BubblewrapSandbox, language: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="adapters.sandbox.bubblewrap"):
        result = await sandbox.run(RunRequest(language, code, limits=SHORT))
    assert result.timed_out
    peaks = [int(m) for m in re.findall(r"peaked at (\d+) processes", caplog.text)]
    assert peaks
    assert peaks[0] <= SHORT.processes
    # The fixture checks that no process and no cgroup is left.


@pytest.mark.slow
async def test_memory_bomb_is_killed(sandbox: BubblewrapSandbox) -> None:
    result = await sandbox.run(RunRequest("python", MEMORY_BOMB, limits=SHORT))
    assert result.oom_killed or result.signal == 9 or "MemoryError" in result.stderr
    assert result.exit_code != 0
    assert not result.timed_out


@pytest.mark.slow
async def test_output_flood_is_cut_at_one_megabyte(sandbox: BubblewrapSandbox) -> None:
    result = await sandbox.run(RunRequest("python", FLOOD, limits=SHORT))
    assert result.truncated
    assert not result.timed_out  # cut at the cap, before the wall limit
    assert len(result.stdout.encode()) + len(result.stderr.encode()) == 1_000_000


async def test_disk_fill_stops_at_the_tmpfs_cap(sandbox: BubblewrapSandbox) -> None:
    result = await sandbox.run(RunRequest("python", DISK_FILL, limits=SHORT))
    word, errno, written_mib = result.stdout.split()
    assert (word, errno) == ("stopped", "28")  # ENOSPC
    assert 40 <= int(written_mib) <= 48


async def test_no_network_to_the_internet(sandbox: BubblewrapSandbox) -> None:
    code = """
import socket
for host in ("1.1.1.1", "8.8.8.8"):
    try:
        socket.create_connection((host, 53), timeout=1)
        print("connected", host)
    except OSError as error:
        print("refused", host, type(error).__name__)
try:
    socket.getaddrinfo("example.com", 80)
    print("resolved")
except OSError:
    print("no dns")
"""
    result = await sandbox.run(RunRequest("python", code, limits=SHORT))
    assert "connected" not in result.stdout
    assert "resolved" not in result.stdout
    assert result.stdout.count("refused") == 2
    assert "no dns" in result.stdout


async def test_no_network_to_loopback_services(sandbox: BubblewrapSandbox) -> None:
    accepted: list[object] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer.get_extra_info("peername"))
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    code = f"""
import socket
for host in ("127.0.0.1", "localhost"):
    try:
        socket.create_connection((host, {port}), timeout=1)
        print("connected", host)
    except OSError as error:
        print("refused", host, type(error).__name__)
"""
    async with server:
        result = await sandbox.run(RunRequest("python", code, limits=SHORT))
    assert result.stdout.count("refused") == 2, result
    assert accepted == []


async def test_secrets_are_not_visible(
    sandbox: BubblewrapSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDDY_TEST_SECRET", CANARY)
    code = """
import glob, os
print(dict(os.environ))
for path in ["/proc/1/environ", "/proc/self/environ", *glob.glob("/proc/[0-9]*/environ"),
             "/etc/shadow", "/etc/passwd", "/proc/1/cmdline", "/work/main/pyproject.toml"]:
    try:
        print(path, open(path, "rb").read())
    except OSError as error:
        print(path, "denied", type(error).__name__)
print(os.listdir("/"), os.listdir("/etc"))
"""
    result = await sandbox.run(RunRequest("python", code, limits=SHORT))
    assert result.exit_code == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert "/etc/shadow denied FileNotFoundError" in result.stdout
    assert "/work/main/pyproject.toml denied" in result.stdout
    assert "['ld.so.cache']" in result.stdout


async def test_nothing_outside_the_tmpfs_is_writable(sandbox: BubblewrapSandbox) -> None:
    code = """
for path in ["/usr/evil", "/evil", "/etc/evil", "/bin/evil", "/dev/evil", "/proc/evil",
             "/proc/sys/kernel/hostname", "/usr/lib/python3/evil"]:
    try:
        open(path, "w").write("x")
        print("WROTE", path)
    except OSError as error:
        print("refused", path)
open("/tmp/ok", "w").write("fine")
print(open("/tmp/ok").read())
"""
    result = await sandbox.run(RunRequest("python", code, limits=SHORT))
    assert "WROTE" not in result.stdout
    assert result.stdout.count("refused") == 8
    assert result.stdout.endswith("fine\n")


def test_produced_files_refuse_symlink_tricks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.txt").write_text("42")
    (out / "to_shadow").symlink_to("/etc/shadow")
    (out / "to_dir").symlink_to(tmp_path)
    (tmp_path / "secret").write_text("host secret")
    (out / "hardlink").hardlink_to(tmp_path / "secret")
    os.mkfifo(out / "fifo")
    (out / "subdir").mkdir()
    (out / "big").write_bytes(b"x" * 2000)
    (tmp_path / "link_to_out").symlink_to(out)

    assert read_produced_file(out, "result.txt", 100) == b"42"
    dir_fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_produced_file(dir_fd, "result.txt", 100) == b"42"
        for name in ("to_shadow", "to_dir", "hardlink", "fifo", "subdir", "big", "missing"):
            with pytest.raises(ProducedFileRefused):
                read_produced_file(dir_fd, name, 1000)
        for name in ("", ".", "..", "../secret", "subdir/../result.txt", "a\0b"):
            with pytest.raises(ProducedFileRefused):
                read_produced_file(dir_fd, name, 1000)
    finally:
        os.close(dir_fd)
    with pytest.raises(ProducedFileRefused):
        read_produced_file(tmp_path / "link_to_out", "result.txt", 100)


@pytest.mark.slow
async def test_twenty_concurrent_hostile_and_benign_runs(sandbox: BubblewrapSandbox) -> None:
    limits = SandboxLimits(wall_s=3.0)
    hostile = [FORK_BOMB, MEMORY_BOMB, FLOOD, "while True:\n    pass", DISK_FILL] * 2
    benign = [f"print({n} * {n})" for n in range(10)]
    requests = [RunRequest("python", code, limits=limits) for code in hostile + benign]
    results = await asyncio.gather(*(sandbox.run(r) for r in requests))
    for n, result in enumerate(results[len(hostile) :]):
        assert (result.stdout, result.exit_code, result.timed_out) == (f"{n * n}\n", 0, False)
    fork_bomb, memory_bomb, flood, loop, disk_fill = results[:5]
    for kind in range(5):
        same = results[kind], results[kind + 5]
        assert same[0].timed_out == same[1].timed_out
    assert fork_bomb.timed_out
    assert loop.timed_out
    assert memory_bomb.oom_killed
    assert not memory_bomb.timed_out
    assert flood.truncated
    assert not flood.timed_out
    assert disk_fill.stdout.startswith("stopped 28")


class _NoDropSandbox(BubblewrapSandbox):
    async def _probe(self, drop_to_uid: int | None, size_option: bool) -> bool:
        return drop_to_uid is None


@pytest.fixture
async def sandbox_without_cgroups(host_uid: int) -> AsyncIterator[BubblewrapSandbox]:
    box = BubblewrapSandbox(cgroup_root=None, host_uid=host_uid)
    yield box
    assert_nothing_left(box, host_uid)


@pytest.mark.slow
async def test_without_cgroups_the_dropped_uid_makes_rlimits_bind(
    sandbox_without_cgroups: BubblewrapSandbox,
) -> None:
    _root("the host-uid drop is what root does")
    box = sandbox_without_cgroups
    assert await box.check() == f"no cgroup, host uid {box._host_uid}"
    assert box.languages()["javascript"] is False
    benign = await box.run(RunRequest("python", "print('fine')"))
    bomb = await box.run(RunRequest("python", FORK_BOMB, limits=SHORT))
    memory = await box.run(RunRequest("python", MEMORY_BOMB, limits=SHORT))
    assert benign.stdout == "fine\n"
    assert bomb.timed_out
    assert "MemoryError" in memory.stderr
    with pytest.raises(LanguageUnavailable, match="cgroup"):
        await box.run(RunRequest("javascript", "1"))


async def test_root_without_cgroup_or_uid_drop_refuses_to_run() -> None:
    _root("only root must drop its uid")
    box = _NoDropSandbox(cgroup_root=None)
    with pytest.raises(SandboxUnavailable, match="cannot isolate"):
        await box.run(RunRequest("python", "print(1)"))


@pytest.mark.slow
async def test_root_without_uid_drop_relies_on_the_cgroup(caplog: pytest.LogCaptureFixture) -> None:
    _root("only root must drop its uid")
    # The measured case: as root, bwrap maps the sandbox to root outside and RLIMIT_NPROC does
    # not bind; pids.max does.
    box = _NoDropSandbox()
    if box._cgroups is None or not box._cgroups.available():
        missing("no writable cgroup here")
    assert await box.check() == f"cgroup v{box._cgroups.version} per run"
    with caplog.at_level(logging.DEBUG, logger="adapters.sandbox.bubblewrap"):
        bomb = await box.run(RunRequest("python", FORK_BOMB, limits=SHORT))
    assert bomb.timed_out
    peaks = [int(m) for m in re.findall(r"peaked at (\d+) processes", caplog.text)]
    assert peaks == [SHORT.processes]
    assert box._cgroups.leftovers() == []


async def test_sweep_removes_run_cgroups_of_dead_owners() -> None:
    box = BubblewrapSandbox()
    tree = box._cgroups
    if tree is None or not tree.available():
        missing("no writable cgroup here")
    dead_owner = max(psutil.pids()) + 100_000
    orphans = [parent / f"run-{dead_owner}-0123456789ab" for parent in tree._parents()]
    mine = tree.create(memory_bytes=64 << 20, processes=4)
    for orphan in orphans:
        orphan.mkdir()
    try:
        assert await box.sweep() == 1
        assert not any(orphan.exists() for orphan in orphans)
        assert all(directory.exists() for directory in mine.dirs)
    finally:
        await mine.kill_and_remove()
