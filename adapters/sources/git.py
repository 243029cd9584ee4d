"""A Git repository as a source, through the `git` command line.

Each source has a bare repository under the data dir. A sync fetches the followed branch or
tag (depth 1: history is not needed), lists the commit's tree, and compares each path's blob id
with the previous sync's: only new and changed blobs are read (`git cat-file --batch`), and
paths gone from the tree are the deleted ones (a rename is one of each). Nothing is checked
out, so a hostile repository's paths, symlinks and hooks never touch the disk.

Credentials in a clone URL are kept out of the event store and the logs: the URL is stored
without them, and they go to a git credential store file (0600) beside the bare repository."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from adapters.files.licenses import spdx_of
from adapters.files.text_files import readable, safe_path, selected, text_file
from domain.ingestion import digest
from domain.sources import Fetched, SourceError, SourceSpec, without_credentials

log = logging.getLogger(__name__)
_LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "COPYING", "COPYING.md")
_SECRET_IN_URL = re.compile(r"(\w+://)[^/@\s]+@")
GIT_TIMEOUT_S = 600.0


class GitFetcher:
    def __init__(self, root: Path, *, timeout_s: float = GIT_TIMEOUT_S) -> None:
        self._root = root
        self._timeout_s = timeout_s

    def remember_credentials(self, name: str, url: str) -> None:
        """Keep the user and password of `url` for this source's fetches (never stored)."""
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return
        path = self._credentials(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{parts.scheme}://{parts.netloc}\n")

    def forget(self, name: str) -> None:
        self._credentials(name).unlink(missing_ok=True)

    async def fetch(self, spec: SourceSpec, previous: Mapping[str, Any] | None) -> Fetched:
        repo = await self._repository(spec)
        await self._git(repo, "fetch", "--depth=1", "--force", "--no-tags", "origin",
                        spec.ref or "HEAD", name=spec.name)  # fmt: skip
        commit = (await self._git(repo, "rev-parse", "FETCH_HEAD^{commit}")).decode().strip()
        tree = await self._tree(repo, commit)
        before: Mapping[str, str] = (previous or {}).get("blobs") or {}
        skipped: Counter[str] = Counter()
        wanted = {
            path: entry for path, entry in tree.items()
            if self._wanted(spec, path, entry, skipped)
        }  # fmt: skip
        changed = [path for path, (blob, _) in wanted.items() if before.get(path) != blob]
        blobs = await self._read_blobs(repo, [wanted[path][0] for path in changed])
        read = (text_file(path, blobs[wanted[path][0]], skipped) for path in changed)
        files = [file for file in read if file is not None]
        short = commit[:12]
        return Fetched(
            revision=commit, files=files, deleted=[p for p in before if p not in wanted],
            license=await self._license(repo, tree), skipped=skipped,
            state={"commit": commit, "blobs": {p: blob for p, (blob, _) in wanted.items()}},
            citation=f"{spec.name}@{short}",
        )  # fmt: skip

    @staticmethod
    def _wanted(
        spec: SourceSpec, path: str, entry: tuple[str, int | None], skipped: Counter[str]
    ) -> bool:
        if not safe_path(path):
            log.warning("source %s: skipping a path that leaves the repository", spec.name)
            skipped["unsafe path"] += 1
            return False
        if not selected(spec, path):
            skipped["excluded"] += 1
            return False
        _, size = entry
        if size is None:  # a symlink or a submodule: never followed
            skipped["link"] += 1
            return False
        return readable(path, size, skipped)

    async def _repository(self, spec: SourceSpec) -> Path:
        repo = self._root / digest("source", spec.name)
        if not (repo / "HEAD").exists():
            repo.mkdir(parents=True, exist_ok=True)
            await self._git(repo, "init", "--bare", "--quiet")
        await self._git(repo, "config", "remote.origin.url", without_credentials(spec.origin))
        credentials = self._credentials(spec.name)
        helper = f"store --file={credentials}" if credentials.exists() else ""
        await self._git(repo, "config", "credential.helper", helper)
        return repo

    async def _tree(self, repo: Path, commit: str) -> dict[str, tuple[str, int | None]]:
        """path -> (blob id, size); size None for links and submodules."""
        listing = await self._git(repo, "ls-tree", "-r", "-z", "--long", commit)
        tree: dict[str, tuple[str, int | None]] = {}
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, blob, size = meta.decode().split()
            path = raw_path.decode("utf-8", errors="replace")
            regular = kind == "blob" and mode in ("100644", "100755")
            tree[path] = (blob, int(size) if regular else None)
        return tree

    async def _read_blobs(self, repo: Path, blobs: list[str]) -> dict[str, bytes]:
        if not blobs:
            return {}
        output = await self._git(repo, "cat-file", "--batch", stdin="\n".join(blobs) + "\n")
        found: dict[str, bytes] = {}
        offset = 0
        for _ in blobs:
            header_end = output.index(b"\n", offset)
            blob, _kind, size = output[offset:header_end].decode().split()
            start = header_end + 1
            found[blob] = output[start : start + int(size)]
            offset = start + int(size) + 1  # the content ends with a newline
        return found

    async def _license(self, repo: Path, tree: Mapping[str, tuple[str, int | None]]) -> str | None:
        for name in _LICENSE_NAMES:
            entry = tree.get(name)
            if entry is not None and entry[1] is not None:
                text = (await self._read_blobs(repo, [entry[0]]))[entry[0]]
                return spdx_of(text.decode("utf-8", errors="replace"))
        return None

    def _credentials(self, name: str) -> Path:
        return self._root / f"{digest('source', name)}.credentials"

    async def _git(
        self, repo: Path, *args: str, stdin: str | None = None, name: str | None = None
    ) -> bytes:
        environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true",
                       "LC_ALL": "C"}  # fmt: skip
        try:
            process = await asyncio.create_subprocess_exec(
                "git", "-C", str(repo), *args, env=environment,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except FileNotFoundError:
            raise SourceError("git is not installed on this host") from None
        try:
            output, errors = await asyncio.wait_for(
                process.communicate(stdin.encode() if stdin is not None else None),
                self._timeout_s,
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            raise SourceError(f"git {args[0]} took over {self._timeout_s:g} s") from None
        if process.returncode != 0:
            said = _SECRET_IN_URL.sub(r"\1", errors.decode(errors="replace")).strip()
            last = said.splitlines()[-1] if said else f"exit {process.returncode}"
            what = f" {name}" if name else ""
            raise SourceError(f"git {args[0]}{what} failed: {last[:300]}")
        return output
