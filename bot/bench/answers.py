"""`buddy bench answers`: answer quality on real documentation and code, per eval set and half.

Each set's documents go into a fresh index; every question is answered by Buddy and, in the same
run on the same questions, by two baselines: the raw model on the same passages with the plain
prompt and no checks, and retrieval alone (the best chunk as the answer)."""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.bench.answer_metrics import AnswerRecord, summarize
from bot.bench.eval_sets import EvalQuestion, EvalSet, available_sets, load_set
from bot.settings import Settings
from domain.conversation import Answer, Question
from domain.errors import ConfigurationError
from domain.event_types import ConversationEvents
from domain.grounding.grounder import evidence
from domain.grounding.support import check_support
from domain.language import GenerationRequest, GenerationUsage, fit_context, format_passages
from domain.privacy_service import Person
from domain.retrieval import SearchHit

SYSTEMS = ("buddy", "raw_model", "retrieval")
EXTRACTIVE_ONLY = "extractive"  # --model extractive: Buddy without generation (no model needed)


@dataclass
class _Quiet:
    sent: list[Answer] = field(default_factory=list)

    async def draft(
        self, answer_id: str, channel_id: str, thread_id: str | None, text: str
    ) -> None:
        return None

    async def send(self, channel_id: str, thread_id: str | None, answer: Answer) -> None:
        self.sent.append(answer)


@dataclass(frozen=True)
class BenchOptions:
    sets: tuple[str, ...] = ()
    model: str | None = None  # a GGUF path, "extractive", or None: the served default
    splits: tuple[str, ...] = ("dev", "test")
    limit: int | None = None  # questions per set and half (a small slice for CI)
    baselines: bool = True
    details: bool = False


async def bench_answers(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    names = list(options.sets) or available_sets()
    eval_sets = [load_set(name) for name in names]  # every set checked before any work
    results: dict[str, Any] = {"model": options.model or "served", "sets": {}}
    for eval_set in eval_sets:
        results["sets"][eval_set.name] = await _bench_set(settings, eval_set, options)
    results["model_version"] = next(
        (r.get("model_version") for r in results["sets"].values() if r.get("model_version")), None
    )
    return results


async def _bench_set(
    settings: Settings, eval_set: EvalSet, options: BenchOptions
) -> dict[str, Any]:
    from adapters.files.source_reader import read_source
    from bot.bootstrap import bootstrap
    from bot.operations.index import refresh_index
    from domain.ingestion import IngestReport

    with tempfile.TemporaryDirectory(prefix="buddy-bench-answers-") as scratch:
        local = _local_settings(settings, Path(scratch), options.model)
        async with bootstrap(local) as services:
            snapshot = read_source(eval_set.documents, name=eval_set.name)
            await services.ingestion().ingest(snapshot, IngestReport(), lambda _n: None)
            with _progress(f"{eval_set.name}: embedding"):
                await refresh_index(services)
            generate = options.model != EXTRACTIVE_ONLY
            runner = _Runner(services, await services.answerer(
                _Quiet(), temperature=0.0, generate=generate
            ), generate and options.baselines)  # fmt: skip
            out: dict[str, Any] = {"documents": len(snapshot.files)}
            for split in options.splits:
                chosen = [q for q in eval_set.questions if q.split == split][: options.limit]
                follow = [q for q in eval_set.followups if q.split == split][: options.limit]
                out[split] = await runner.run(chosen, f"{eval_set.name}/{split}", options)
                if follow:
                    out[split]["followups"] = (
                        await runner.run(follow, f"{eval_set.name}/{split} follow-ups", options)
                    )["buddy"]
            out["model_version"] = runner.model_version
    return out


def _local_settings(settings: Settings, scratch: Path, model: str | None) -> Settings:
    update: dict[str, Any] = {
        "data_dir": scratch, "database_url": f"sqlite+aiosqlite:///{scratch}/bench.db",
        "scheduler": False,
    }  # fmt: skip
    if model and model != EXTRACTIVE_ONLY:
        path = Path(model)
        if not path.is_file():
            raise ConfigurationError(f"--model {model}: no such GGUF file (or use 'extractive')")
        update["llamacpp_model"] = path
    return settings.model_copy(update=update)


class _Runner:
    def __init__(self, services: Any, answerer: Any, baselines: bool) -> None:
        self._services = services
        self._answerer = answerer
        self._baselines = baselines
        self.model_version: str | None = None

    async def run(
        self, questions: list[EvalQuestion], label: str, options: BenchOptions
    ) -> dict[str, Any]:
        records: dict[str, list[AnswerRecord]] = {system: [] for system in SYSTEMS}
        with _progress(label, len(questions)) as advance:
            for question in questions:
                records["buddy"].append(await self._buddy(question))
                hits, retrieval_ms = await self._retrieve(question.question)
                records["retrieval"].append(_retrieval_record(question, hits, retrieval_ms))
                if self._baselines:
                    records["raw_model"].append(await self._raw(question, hits, retrieval_ms))
                advance()
        result: dict[str, Any] = {
            system: summarize(rows) for system, rows in records.items() if rows
        }
        buddy, raw = result["buddy"], result.get("raw_model")
        if raw and raw["latency_ms_p50"]:
            buddy["latency_p50_vs_raw_model"] = round(
                buddy["latency_ms_p50"] / raw["latency_ms_p50"], 3
            )
        if options.details:
            result["details"] = [_detail(r) for r in records["buddy"]]
        return result

    async def _buddy(self, question: EvalQuestion) -> AnswerRecord:
        person = Person("local", "bench", "bench")
        thread_id = None
        for earlier in question.thread:
            first = await self._answerer(Question(person, "bench", earlier, thread_id, _event()))
            thread_id = thread_id or first.answer_id
        answer = await self._answerer(
            Question(person, "bench", question.question, thread_id, _event())
        )
        self.model_version = answer.model_version
        lineage = await self._lineage(answer.answer_id)
        cited = await self._services.knowledge_index().chunks(
            [chunk["chunk_id"] for chunk in lineage.get("chunks", [])]
        )
        support = check_support(answer.text, [evidence(hit) for hit in cited])
        return AnswerRecord(
            question, answer.text, [s.path for s in answer.sources], answer.mode == "declined",
            answer.latency_ms, support.sentences, support.supported, answer.mode,
            {"relevance": lineage.get("relevance"), "support": lineage.get("support")},
        )  # fmt: skip

    async def _lineage(self, answer_id: str) -> dict[str, Any]:
        events = await self._services.store.read_stream(f"conversation-{answer_id}")
        given = [e for e in events if e.type == ConversationEvents.ANSWER_GIVEN]
        return dict(given[-1].payload) if given else {}

    async def _retrieve(self, text: str) -> tuple[list[SearchHit], float]:
        started = time.perf_counter()
        hits = await self._services.knowledge_index().search(text, 5)
        return hits, (time.perf_counter() - started) * 1000

    async def _raw(
        self, question: EvalQuestion, hits: list[SearchHit], retrieval_ms: float
    ) -> AnswerRecord:
        """The same passages through the same model with the plain prompt, and no checks."""
        from adapters.llm.prompt_files import load_prompt
        from bot.bootstrap import ANSWER_PROMPT
        from domain.answer_records import passages_of

        model = self._services.language_model()
        template = load_prompt("answer", ANSWER_PROMPT)
        settings = self._answerer.settings
        passages = fit_context(
            template, question.question, passages_of(hits),
            budget_tokens=settings.budget_tokens, count_tokens=settings.count_tokens,
        )  # fmt: skip
        request = GenerationRequest(
            template.render(question.question, format_passages(passages)),
            max_tokens=settings.max_tokens, temperature=0.0, stop=template.stop,
        )  # fmt: skip
        started = time.perf_counter()
        text = "".join([piece async for piece in model.stream(request, GenerationUsage())]).strip()
        latency = retrieval_ms + (time.perf_counter() - started) * 1000
        used = hits[: len(passages)]
        support = check_support(text, [evidence(hit) for hit in used], question.question)
        return AnswerRecord(
            question, text, [hit.source for hit in used], support.unsure, latency,
            support.sentences, support.supported,
        )  # fmt: skip


def _retrieval_record(question: EvalQuestion, hits: list[SearchHit], ms: float) -> AnswerRecord:
    text = hits[0].text if hits else ""
    sentences = check_support(text, [text]) if text else None
    return AnswerRecord(
        question, text, [hit.source for hit in hits], not hits, ms,
        sentences.sentences if sentences else 0, sentences.supported if sentences else 0,
    )  # fmt: skip


def _event() -> str:
    return f"bench-{uuid.uuid4().hex}"


def _detail(record: AnswerRecord) -> dict[str, Any]:
    return {
        "id": record.question.id,
        "question": record.question.question,
        "answerable": record.question.answerable,
        "source": record.question.source,
        "mode": record.mode,
        "facts": record.has_facts if record.question.answerable else None,
        "cited": record.cited,
        "answer": record.text,
        **record.details,
    }


@contextmanager
def _progress(label: str, total: int | None = None) -> Iterator[Any]:
    """A progress bar on stderr (stdout stays one JSON document)."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda: progress.advance(task)


def print_answers(result: dict[str, Any]) -> None:
    columns = [
        ("fact", "fact_rate"), ("src@1", "source_at_1"), ("src@k", "source_at_k"),
        ("abstain", "abstain_rate"), ("false-abs", "false_abstain_rate"),
        ("supported", "supported_sentence_rate"), ("len p50", "length_p50"),
        ("len p95", "length_p95"), ("ms p50", "latency_ms_p50"), ("ms p95", "latency_ms_p95"),
    ]  # fmt: skip
    lines = [f"answers ({result['model_version']})"]
    header = f"  {'set/half':<22}{'system':<11}" + "".join(f"{n:>10}" for n, _ in columns)
    lines.append(header)
    for name, per_set in result["sets"].items():
        for split in ("dev", "test"):
            for system, figures in per_set.get(split, {}).items():
                if system not in SYSTEMS and system != "followups":
                    continue
                cells = "".join(f"{_cell(figures.get(key)):>10}" for _, key in columns)
                lines.append(f"  {name + '/' + split:<22}{system:<11}{cells}")
    sys.stdout.write("\n".join(lines) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) and value <= 1 else f"{value:g}"
