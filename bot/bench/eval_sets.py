"""Answer evaluation sets: `data/eval/<name>/` with the documents, a LICENSE and NOTICE naming
their origin, and `questions.jsonl`:

    {"question": "...", "source": "path/in/docs.md", "facts": [["a", "b"], ["c"]]}
    {"question": "...", "answerable": false}

A correct answer holds one string of every fact group. `split` ("dev" or "test") is optional;
without it a question's half follows from a hash of its text. `followups.jsonl` (optional) holds
questions asked in a thread: the same fields plus `thread`, the earlier questions. The documents
are `docs/`, or the folder `set.json` names ({"documents": "../../sample-kb"})."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from domain.errors import ConfigurationError

EVAL_ROOT = Path(__file__).resolve().parents[2] / "data" / "eval"
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    split: str
    source: str | None = None  # None: the documents cannot answer it
    facts: tuple[tuple[str, ...], ...] = ()
    thread: tuple[str, ...] = ()  # earlier questions of the thread (follow-ups)

    @property
    def answerable(self) -> bool:
        return self.source is not None


@dataclass(frozen=True)
class EvalSet:
    name: str
    documents: Path
    questions: tuple[EvalQuestion, ...]
    followups: tuple[EvalQuestion, ...]


def available_sets(root: Path = EVAL_ROOT) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / "questions.jsonl").is_file())


def load_set(name: str, root: Path = EVAL_ROOT) -> EvalSet:
    folder = root / name
    if not (folder / "questions.jsonl").is_file():
        known = ", ".join(available_sets(root)) if root.is_dir() else "none"
        raise ConfigurationError(f"no eval set {name!r} in {root} (known: {known})")
    documents = folder / "docs"
    manifest = folder / "set.json"
    if manifest.is_file():
        documents = (folder / _manifest(manifest).get("documents", "docs")).resolve()
    if not documents.is_dir():
        raise ConfigurationError(f"eval set {name!r}: its documents folder {documents} is missing")
    for required in ("LICENSE", "NOTICE"):
        if not (folder / required).is_file():
            raise ConfigurationError(f"eval set {name!r} has no {required} naming its origin")
    questions = parse_questions(folder / "questions.jsonl", documents)
    followups_file = folder / "followups.jsonl"
    followups = parse_questions(followups_file, documents) if followups_file.is_file() else ()
    return EvalSet(name, documents, questions, followups)


def _manifest(path: Path) -> dict[str, str]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(found, dict):
        raise ConfigurationError(f"{path}: expected a JSON object")
    return {str(key): str(value) for key, value in found.items()}


def parse_questions(path: Path, documents: Path) -> tuple[EvalQuestion, ...]:
    """Every line checked; the first bad one is a clear error naming the file and line."""
    questions: list[EvalQuestion] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            questions.append(_question(json.loads(line), documents, number))
        except (ValueError, TypeError, KeyError) as error:
            raise ConfigurationError(f"{path}:{number}: {error}") from error
    if not questions:
        raise ConfigurationError(f"{path}: no questions")
    return tuple(questions)


def _question(row: object, documents: Path, number: int) -> EvalQuestion:
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError('"question" must be a non-empty string')
    split = row.get("split") or SPLITS[int(hashlib.sha256(question.encode()).hexdigest(), 16) % 2]
    if split not in SPLITS:
        raise ValueError(f'"split" must be one of {SPLITS}, not {split!r}')
    thread = row.get("thread", [])
    if not isinstance(thread, list) or not all(isinstance(t, str) for t in thread):
        raise ValueError('"thread" must be a list of earlier questions')
    ident = str(row.get("id") or f"q{number:03d}")
    if row.get("answerable", True) is False:
        return EvalQuestion(ident, question, split, thread=tuple(thread))
    if row.get("answerable", True) is not True:
        raise ValueError('"answerable" must be true or false')
    source, facts = row.get("source"), row.get("facts")
    if not isinstance(source, str) or not source:
        raise ValueError('an answerable question needs "source", the file that answers it')
    if not (documents / source).is_file():
        raise ValueError(f'"source" {source!r} is not a file of the set\'s documents')
    if not isinstance(facts, list) or not facts:
        raise ValueError('"facts" must be a non-empty list of fact groups')
    groups: list[tuple[str, ...]] = []
    for group in facts:
        if not isinstance(group, list) or not group:
            raise ValueError("each fact group must be a non-empty list of strings")
        if not all(isinstance(fact, str) and fact.strip() for fact in group):
            raise ValueError("each fact group must be a non-empty list of strings")
        groups.append(tuple(group))
    return EvalQuestion(ident, question, split, source, tuple(groups), tuple(thread))
