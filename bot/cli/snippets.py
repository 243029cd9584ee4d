"""`buddy run`: a snippet from a file or stdin through the sandbox, as chat users run them."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.settings import Settings
from domain.errors import BuddyError

SUFFIXES = {".py": "python", ".sh": "bash", ".bash": "bash", ".js": "javascript", ".sql": "sql"}
MAX_CODE_BYTES = 100_000


def read_code(source: str) -> str:
    if source == "-":
        code = sys.stdin.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise BuddyError(f"no such file: {source}")
        if path.stat().st_size > MAX_CODE_BYTES:
            raise BuddyError(f"{source} is over {MAX_CODE_BYTES:,} bytes: too long for a snippet")
        code = path.read_text(encoding="utf-8", errors="replace")
    if len(code.encode()) > MAX_CODE_BYTES:
        raise BuddyError(f"the snippet is over {MAX_CODE_BYTES:,} bytes")
    return code


def language_of(source: str, language: str | None) -> str:
    if language:
        return language
    return SUFFIXES.get(Path(source).suffix.lower(), "python") if source != "-" else "python"


async def run_snippet(
    settings: Settings, source: str, language: str | None, user: str, as_json: bool
) -> None:
    from bot.bootstrap import bootstrap
    from domain.privacy_service import Person
    from domain.sandbox import normalise_language
    from domain.snippets import Snippet

    code = read_code(source)
    async with bootstrap(settings) as services:
        runner = await services.snippets()
        person = Person("local", "default", user)
        lang = normalise_language(language_of(source, language))
        reply = await runner(Snippet(person, "cli", lang, code))
    result = reply.result
    if result is None:
        raise BuddyError(reply.text)
    if as_json:
        document = {
            "stdout": result.stdout, "stderr": result.stderr, "exit_code": result.exit_code,
            "timed_out": result.timed_out, "truncated": result.truncated,
            "duration_ms": result.duration_ms,
        }  # fmt: skip
        print_json(document)
        return
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    from domain.snippets import status_line

    typer.echo(status_line(lang, result), err=True)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_command(
        source: Annotated[str, typer.Argument(help="A code file, or - for stdin.")] = "-",
        language: Annotated[
            str | None,
            typer.Option(
                "--lang",
                help="python, bash, javascript or sql (default: from the "
                "file's suffix, else python).",
            ),
        ] = None,
        json_output: JsonFlag = False,
    ) -> None:
        """Run a snippet in the sandbox (no network, 6 s, 70 MiB, 15 processes, 1 MB output)."""
        run(lambda s: run_snippet(s, source, language, getpass.getuser(), json_output))
