"""The progress bar on stderr that the CLI and the operations share (stdout stays one JSON
document under `--json`)."""

from __future__ import annotations

from typing import Any


def progress() -> Any:
    """A progress bar on stderr, only where a person watches it (not in logs or pipes)."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(console=console, transient=True, disable=not console.is_terminal)
