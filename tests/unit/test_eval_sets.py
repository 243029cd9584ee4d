"""The answer benchmark's eval sets: the shipped ones load, a malformed one is a clear error,
and the metrics count what they say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.bench.answer_metrics import AnswerRecord, contains_facts, summarize
from bot.bench.eval_sets import EvalQuestion, available_sets, load_set
from domain.errors import ConfigurationError


def test_the_shipped_sets_load_with_both_halves_and_enough_questions() -> None:
    names = available_sets()
    assert {"sample-kb", "mkdocs", "click", "dotenv"} <= set(names)
    for name in ("mkdocs", "click", "dotenv"):
        eval_set = load_set(name)
        answerable = [q for q in eval_set.questions if q.answerable]
        unanswerable = [q for q in eval_set.questions if not q.answerable]
        assert len(eval_set.questions) >= 40, name
        assert len(unanswerable) >= 8, name
        for split in ("dev", "test"):
            assert any(q.split == split for q in answerable), name
            assert any(q.split == split for q in unanswerable), name
        for question in answerable:  # every fact group can be found in its source file
            text = (eval_set.documents / str(question.source)).read_text(encoding="utf-8")
            assert contains_facts(text, [[g] for g in _any_per_group(question, text)]), question.id


def _any_per_group(question: EvalQuestion, text: str) -> list[str]:
    lowered = " ".join(text.lower().split())
    return [
        next((f for f in group if " ".join(f.lower().split()) in lowered), group[0])
        for group in question.facts
    ]


def _write_set(root: Path, lines: list[str]) -> None:
    folder = root / "broken"
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "a.md").write_text("# A\n\nRun make x.\n")
    (folder / "LICENSE").write_text("MIT")
    (folder / "NOTICE").write_text("test")
    (folder / "questions.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "questions.jsonl:2"),
        ('{"question": ""}', '"question" must be a non-empty string'),
        ('{"question": "q?", "source": "missing.md", "facts": [["x"]]}', "is not a file"),
        ('{"question": "q?", "source": "a.md", "facts": []}', '"facts" must be a non-empty'),
        ('{"question": "q?", "source": "a.md", "facts": ["x"]}', "each fact group"),
        ('{"question": "q?", "source": "a.md", "facts": [["x"]], "split": "train"}', '"split"'),
        ('{"question": "q?", "answerable": "no"}', '"answerable" must be true or false'),
    ],
)
def test_a_malformed_questions_file_is_a_clear_error_naming_the_line(
    tmp_path: Path, line: str, message: str
) -> None:
    good = json.dumps({"question": "how?", "source": "a.md", "facts": [["make x"]]})
    _write_set(tmp_path, [good, line])
    with pytest.raises(ConfigurationError, match=r"questions\.jsonl:2") as error:
        load_set("broken", tmp_path)
    assert message in str(error.value)


def test_a_set_without_license_or_notice_is_refused(tmp_path: Path) -> None:
    _write_set(tmp_path, [json.dumps({"question": "q?", "answerable": False})])
    (tmp_path / "broken" / "NOTICE").unlink()
    with pytest.raises(ConfigurationError, match="NOTICE"):
        load_set("broken", tmp_path)


def test_metrics_count_facts_sources_abstentions_and_support() -> None:
    asked = EvalQuestion("q1", "how?", "dev", "docs/a.md", (("make x", "make  X"), ("ENV",)))
    other = EvalQuestion("q2", "why?", "dev", "docs/b.md", (("never",),))
    missing = EvalQuestion("q3", "vpn?", "dev")
    records = [
        AnswerRecord(asked, "Run MAKE x with env", ["kb/docs/a.md"], False, 100, 2, 2),
        AnswerRecord(other, "nope", ["kb/docs/a.md", "kb/docs/b.md"], False, 300, 2, 1),
        AnswerRecord(missing, "I won't guess.", [], True, 50),
    ]
    figures = summarize(records)
    assert figures["fact_rate"] == 0.5
    assert figures["source_at_1"] == 0.5
    assert figures["source_at_k"] == 1.0
    assert figures["abstain_rate"] == 1.0
    assert figures["false_abstain_rate"] == 0.0
    assert figures["supported_sentence_rate"] == 0.75
    assert figures["latency_ms_p50"] == 100
