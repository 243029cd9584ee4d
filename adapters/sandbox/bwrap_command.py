"""The command lines around a sandboxed program: cgroup entry, privilege drop, bwrap, rlimits.

Pure: builds argument lists from paths and limits, runs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from adapters.sandbox.languages import WORK_DIR
from domain.sandbox import SandboxLimits

# What the sandboxed program sees as its environment, and nothing else.
SANDBOX_ENV = {"PATH": "/usr/bin:/bin", "HOME": WORK_DIR, "LANG": "C.UTF-8", "TMPDIR": WORK_DIR}
# The environment of the host-side helpers (sh, setpriv, bwrap): /proc/1/environ inside the
# sandbox is bwrap's initial environment, so it must hold nothing worth reading.
HOST_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
# The only files of /etc the dynamic loader may want; nothing from /etc is needed otherwise.
ETC_FILES = ("/etc/ld.so.cache",)
_MERGED_USR_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# pid 1 inside: runs the program as pid 2 (pid 1 ignores default-action signals, SIGXCPU
# included), reaps orphans while it waits, exits with the program's status. A background job
# would read /dev/null, hence the stdin passed on through fd 3.
SANDBOX_INIT = ("/bin/sh", "-c", 'exec 3<&0; "$@" <&3 3<&- & exec 3<&-; wait $!', "sh")
# Exits with this when it cannot join the run's cgroup, before anything else runs.
CGROUP_JOIN_FAILED = 125
# Joins every listed cgroup (`cgroup.procs` files up to `--`) before exec: the program and all it
# forks start inside the cgroup, with no window outside it.
_JOIN_CGROUPS = (
    'while [ "$1" != -- ]; do echo $$ > "$1" || exit ' + str(CGROUP_JOIN_FAILED) + "; shift; done;"
    ' shift; exec "$@"'
)


def root_filesystem_args() -> list[str]:
    """Read-only /usr, the merged-/usr links (or read-only copies on split-/usr hosts), the
    loader cache, a fresh /proc for the new pid namespace and a minimal /dev."""
    args = ["--ro-bind", "/usr", "/usr"]
    for directory in _MERGED_USR_DIRS:
        if os.path.islink(directory):
            args += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            args += ["--ro-bind", directory, directory]
    for path in ETC_FILES:
        if os.path.isfile(path):
            args += ["--ro-bind", path, path]
    return [*args, "--proc", "/proc", "--dev", "/dev"]


def bwrap_args(
    bwrap: str,
    limits: SandboxLimits,
    *,
    sandbox_uid: int,
    tmpfs_size_option: bool,
    code_fd: int | None,
    source_path: str,
) -> list[str]:
    """bwrap with every namespace unshared (no network at all), a read-only system, a fresh
    tmpfs as the only writable place, a non-root uid and an explicit minimal environment."""
    args = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        # bwrap's own init is left out: bwrap exits before reaping it, and the orphan then waits
        # on the host's pid 1. SANDBOX_INIT takes its place.
        "--as-pid-1",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        "--uid",
        str(sandbox_uid),
        "--gid",
        str(sandbox_uid),
        "--clearenv",
    ]
    for name, value in SANDBOX_ENV.items():
        args += ["--setenv", name, value]
    args += root_filesystem_args()
    if tmpfs_size_option:
        args += ["--size", str(limits.tmpfs_mib << 20)]
    args += ["--tmpfs", WORK_DIR]
    if code_fd is not None:
        args += ["--file", str(code_fd), source_path]
    # bwrap's /dev is a tmpfs of its own: read-only too (the device nodes still work).
    return [*args, "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORK_DIR]


def rlimit_args(prlimit: str, limits: SandboxLimits) -> list[str]:
    """The sandbox's init, then prlimit: set after bwrap made its user namespace, so
    RLIMIT_NPROC counts this run's processes only (per-namespace counting, Linux 5.14+)."""
    cpu = f"{limits.cpu_s}:{limits.cpu_s + 1}"  # SIGXCPU first, SIGKILL a second later
    args = [
        *SANDBOX_INIT,
        prlimit,
        f"--cpu={cpu}",
        f"--fsize={limits.file_size_mib << 20}",
        f"--nofile={limits.open_files}",
        f"--nproc={limits.processes}",
        "--core=0",
    ]
    if limits.address_space_mib is not None:
        args.append(f"--as={limits.address_space_mib << 20}")
    return [*args, "--"]


def wrapper_args(
    *, cgroup_procs: Sequence[str], setpriv: str | None, drop_to_uid: int | None
) -> list[str]:
    """What runs before bwrap on the host: join the run's cgroups, then drop to an unprivileged
    host uid (as root, bwrap maps the sandbox uid to root outside and RLIMIT_NPROC never binds)."""
    args: list[str] = []
    if cgroup_procs:
        args += ["/bin/sh", "-c", _JOIN_CGROUPS, "sh", *cgroup_procs, "--"]
    if drop_to_uid is not None and setpriv is not None:
        uid = str(drop_to_uid)
        args += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    return args
