"""sqlite-vec where a Python can load SQLite extensions (the project's own Python cannot, so this
runs the same code in a small virtualenv of one that can, such as Debian's /usr/bin/python3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.components import missing

PROBE = "import sqlite3; sqlite3.Connection.enable_load_extension"
PACKAGES = ["sqlalchemy[asyncio]>=2.0.30,<2.2", "aiosqlite", "alembic", "numpy", "sqlite-vec"]


def python_that_loads_extensions() -> str | None:
    for candidate in (sys.executable, "/usr/bin/python3"):
        if Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", PROBE], capture_output=True, check=False)
            if probe.returncode == 0:
                return candidate
    return None


@pytest.fixture(scope="module")
def extension_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = python_that_loads_extensions()
    if base is None:
        missing("no Python here can load SQLite extensions")
    venv = tmp_path_factory.mktemp("sqlite-vec-venv")
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *PACKAGES],
        check=True, timeout=600, capture_output=True,
    )  # fmt: skip
    return python


@pytest.mark.slow
def test_sqlite_vec_ranks_like_the_numpy_scan(
    extension_python: Path, project_root: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(extension_python), "-m", "tests.adapter.sqlite_vec_probe", str(tmp_path / "kb.db")],
        cwd=project_root,
        env={**os.environ, "PYTHONPATH": str(project_root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["backend"].startswith("sqlite-vec")
    assert result["sqlite_vec"][0][0] == "c0"
    assert result["sqlite_vec"] == result["numpy"]
