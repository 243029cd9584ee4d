"""The Git fetcher against real repositories on this machine: a working repository read over
file://, and a bare one served by `git daemon` on a loopback port. Each sync reads only the
blobs that changed since the previous one; links, binaries, huge files and excluded paths are
skipped; credentials never reach what is returned or logged."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sources.git import GitFetcher
from domain.sources import SourceError, SourceSpec

MIT = "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining\n"


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}  # fmt: skip
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str | bytes | None], message: str = "change") -> str:
    for path, content in files.items():
        target = repo / path
        if content is None:
            git(repo, "rm", "-q", path)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        git(repo, "add", path)
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "team-docs"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, {"LICENSE": MIT, "docs/deploy.md": "# Deploy\n\nRun make deploy.\n",
                  "docs/rollback.md": "# Rollback\n\nRun make rollback.\n",
                  "src/app.py": "def main() -> None:\n    pass\n"}, "first")  # fmt: skip
    return path


def spec(repo: Path, **options: object) -> SourceSpec:
    return SourceSpec("team-docs", "git", f"file://{repo}", **options)  # type: ignore[arg-type]


async def test_a_first_sync_reads_every_file_and_the_license(repo: Path, tmp_path: Path) -> None:
    fetched = await GitFetcher(tmp_path / "sources").fetch(spec(repo), None)
    head = git(repo, "rev-parse", "HEAD")
    assert fetched.revision == head
    assert fetched.citation == f"team-docs@{head[:12]}"
    assert sorted(f.relative_path for f in fetched.files) == [
        "docs/deploy.md", "docs/rollback.md", "src/app.py",
    ]  # fmt: skip
    assert fetched.license == "MIT"
    assert fetched.deleted == []
    assert fetched.skipped["unsupported"] == 1  # LICENSE itself is no document


async def test_later_syncs_read_what_changed_and_name_what_went(repo: Path, tmp_path: Path) -> None:
    fetcher = GitFetcher(tmp_path / "sources")
    first = await fetcher.fetch(spec(repo), None)
    commit(repo, {"docs/deploy.md": "# Deploy\n\nRun make deploy ENV=prod.\n",
                  "docs/rollback.md": None, "docs/new.md": "# New\n\nHello.\n"})  # fmt: skip
    git(repo, "mv", "src/app.py", "src/main.py")
    git(repo, "commit", "-qm", "rename")
    second = await fetcher.fetch(spec(repo), first.state)
    assert sorted(f.relative_path for f in second.files) == [
        "docs/deploy.md", "docs/new.md", "src/main.py",
    ]  # a rename: the new path read, the old one deleted  # fmt: skip
    assert sorted(second.deleted) == ["docs/rollback.md", "src/app.py"]
    third = await fetcher.fetch(spec(repo), second.state)
    assert third.files == []
    assert third.deleted == []
    assert third.revision == second.revision


async def test_a_branch_or_a_tag_is_followed(repo: Path, tmp_path: Path) -> None:
    git(repo, "tag", "-a", "v1.0", "-m", "release")
    git(repo, "checkout", "-q", "-b", "next")
    commit(repo, {"docs/next.md": "# Next\n\nSoon.\n"})
    git(repo, "checkout", "-q", "main")
    fetcher = GitFetcher(tmp_path / "sources")
    on_next = await fetcher.fetch(spec(repo, ref="next"), None)
    on_tag = await fetcher.fetch(spec(repo, ref="v1.0"), None)
    assert "docs/next.md" in {f.relative_path for f in on_next.files}
    assert "docs/next.md" not in {f.relative_path for f in on_tag.files}
    assert on_tag.revision == git(repo, "rev-parse", "main")  # the tag's commit, peeled


async def test_links_binaries_huge_and_excluded_files_are_skipped(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "docs" / "escape.md").symlink_to("/etc/passwd")
    git(repo, "add", "docs/escape.md")
    commit(repo, {"docs/blob.md": b"# x\0\x01\x02", "docs/huge.md": "x" * 1_000_001,
                  "docs/latin.md": "caf\xe9".encode("latin-1"),
                  "drafts/wip.md": "# WIP\n"})  # fmt: skip
    fetched = await GitFetcher(tmp_path / "sources").fetch(spec(repo, exclude=("drafts/*",)), None)
    paths = {f.relative_path for f in fetched.files}
    assert paths == {"docs/deploy.md", "docs/rollback.md", "src/app.py"}
    assert fetched.skipped["link"] == 1
    assert fetched.skipped["binary"] == 1
    assert fetched.skipped["huge"] == 1
    assert fetched.skipped["undecodable"] == 1
    assert fetched.skipped["excluded"] == 1
    assert not (tmp_path / "sources" / "etc").exists()  # nothing is checked out


async def test_a_crafted_tree_naming_paths_outside_the_repository_is_refused(
    tmp_path: Path,
) -> None:
    """`git mktree` writes what no checkout would: entries `..` and `.git` holding files. The
    fetcher reads trees, never the disk, and skips such paths as unsafe."""
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    git(hostile, "init", "-q", "-b", "main")

    def run(*args: str, stdin: str = "") -> str:
        done = subprocess.run(["git", "-C", str(hostile), *args], input=stdin,
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.strip()

    blob = run("hash-object", "-w", "--stdin", stdin="# Evil\n\nescaped\n")
    license_blob = run("hash-object", "-w", "--stdin", stdin=MIT)
    inner = run("mktree", stdin=f"100644 blob {blob}\tx.md\n")
    root = run("mktree", stdin=(f"040000 tree {inner}\t..\n040000 tree {inner}\t.git\n"
                                f"100644 blob {license_blob}\tLICENSE\n"
                                f"100644 blob {blob}\tok.md\n"))  # fmt: skip
    run("update-ref", "refs/heads/main", run("commit-tree", root, "-m", "crafted"))
    assert "../x.md" in git(hostile, "ls-tree", "-r", "--name-only", "main")

    fetched = await GitFetcher(tmp_path / "sources").fetch(spec(hostile), None)
    assert {f.relative_path for f in fetched.files} == {"ok.md"}
    assert fetched.skipped["unsafe path"] == 2
    assert set(fetched.state["blobs"]) == {"ok.md"}
    assert fetched.license == "MIT"
    assert not (tmp_path / "x.md").exists()


def test_safe_paths() -> None:
    from adapters.files.text_files import safe_path

    assert safe_path("docs/deploy.md")
    assert safe_path("a/.github/b.md")  # a dot file is fine; only . and .. and .git are not
    for unsafe in ("../x.md", "a/../../x.md", "/etc/passwd", ".git/config", "a//b.md",
                   "a/./b.md", "a\\..\\b.md", "a\nb.md"):  # fmt: skip
        assert not safe_path(unsafe), unsafe


async def test_an_unreachable_repository_is_a_clear_error(tmp_path: Path) -> None:
    missing = SourceSpec("gone", "git", f"file://{tmp_path}/nothing-here")
    with pytest.raises(SourceError, match="git fetch gone failed"):
        await GitFetcher(tmp_path / "sources").fetch(missing, None)


@pytest.fixture
def daemon(repo: Path, tmp_path: Path) -> Iterator[str]:
    """The repository, cloned bare and served by `git daemon` on a free loopback port."""
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(served / "docs.git")],
                   check=True)  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}",
         "--listen=127.0.0.1", f"--port={port}", str(served)],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}/docs.git"
    finally:
        process.terminate()
        process.wait(10)


async def test_a_repository_served_by_git_daemon(daemon: str, tmp_path: Path) -> None:
    fetched = await GitFetcher(tmp_path / "sources").fetch(
        SourceSpec("team-docs", "git", daemon), None
    )
    assert {f.relative_path for f in fetched.files} >= {"docs/deploy.md", "docs/rollback.md"}


async def test_credentials_stay_in_a_private_file_never_in_the_state_or_logs(
    repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fetcher = GitFetcher(tmp_path / "sources")
    fetcher.remember_credentials("team-docs", "https://bot:hunter2secret@127.0.0.1:9/x.git")
    [stored] = (tmp_path / "sources").glob("*.credentials")
    assert stored.stat().st_mode & 0o077 == 0
    unreachable = SourceSpec("team-docs", "git", "https://127.0.0.1:9/x.git")
    with pytest.raises(SourceError) as failure:
        await fetcher.fetch(unreachable, None)
    assert "hunter2secret" not in str(failure.value)
    assert "hunter2secret" not in caplog.text
    config = (next((tmp_path / "sources").glob("*/config"))).read_text()
    assert "hunter2secret" not in config  # the remote URL is stored without them
    fetcher.forget("team-docs")
    assert not stored.exists()
