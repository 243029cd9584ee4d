"""Load versioned prompt templates shipped as package files (`answer-v1.txt`, ...)."""

from __future__ import annotations

from importlib.resources import files

from domain.errors import ConfigurationError
from domain.language import PromptTemplate

_PACKAGE = "adapters.llm.prompts"


def load_prompt(name: str, version: str) -> PromptTemplate:
    resource = files(_PACKAGE) / f"{name}-{version}.txt"
    if not resource.is_file():
        raise ConfigurationError(f"no prompt template {name}-{version}.txt in {_PACKAGE}")
    sections = _sections(resource.read_text(encoding="utf-8"))
    missing = {"system", "user"} - set(sections)
    if missing:
        raise ConfigurationError(f"prompt {name}-{version} lacks sections: {sorted(missing)}")
    optional: dict[str, str] = {}
    if "turn" in sections:
        optional["turn"] = sections["turn"]
    stops = tuple(_unescape(line) for line in sections.get("stop", "").splitlines() if line)
    return PromptTemplate(
        version=f"{name}-{version}", system=sections["system"], user=sections["user"],
        stop=stops, **optional,
    )  # fmt: skip


def _unescape(line: str) -> str:
    """Stop sequences are written one a line, with \\n for a newline inside one."""
    return line.replace("\\n", "\n")


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("--- "):
            current = sections.setdefault(line[4:].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}
