"""`buddy bench generation`: tokens per second and time to first token through Buddy's answer
path against raw llama-cpp-python on the very same prompt, and where an answer's time goes.

Both sides use one loaded model, greedy decoding (so they write the same tokens), and a reset
KV cache before every run (llama-cpp-python would otherwise reuse the previous prompt's prefix).
Runs alternate between the two sides; medians are reported."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings import Settings
from domain.conversation import Answer, Question
from domain.language import GenerationRequest, GenerationUsage
from domain.privacy_service import Person

QUESTION = "How do I roll back a production deploy?"
TARGET = 0.9  # Buddy's rates as a fraction of raw llama.cpp's
SAMPLE_KB = Path(__file__).resolve().parents[2] / "data" / "sample-kb"


class _RecordingModel:
    """The served model, keeping the requests Buddy builds so the raw side can replay them."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.requests: list[GenerationRequest] = []
        self.usages: list[GenerationUsage] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @property
    def model_version(self) -> str:
        return str(self._model.model_version)

    def stream(self, request: GenerationRequest, usage: GenerationUsage) -> Any:
        self.requests.append(request)
        self.usages.append(usage)
        self._model.engine.reset()  # no prefix reuse from the previous run, on either side
        return self._model.stream(request, usage)


@dataclass
class _Quiet:
    """A platform that only counts what streams: the bench prints nothing while timing."""

    drafts: int = 0
    sent: list[Answer] = field(default_factory=list)

    async def draft(
        self, answer_id: str, channel_id: str, thread_id: str | None, text_so_far: str
    ) -> None:
        self.drafts += 1

    async def send(self, channel_id: str, thread_id: str | None, answer: Answer) -> None:
        self.sent.append(answer)


async def bench_generation(
    settings: Settings, runs: int = 3, max_tokens: int = 64
) -> dict[str, Any]:
    from adapters.files.source_reader import read_source
    from bot.bootstrap import bootstrap
    from bot.operations.index import refresh_index
    from domain.ingestion import IngestReport

    with tempfile.TemporaryDirectory(prefix="buddy-bench-gen-") as scratch:
        local = settings.model_copy(
            update={
                "data_dir": Path(scratch),
                "database_url": f"sqlite+aiosqlite:///{scratch}/b.db",
            }
        )
        async with bootstrap(local) as services:
            await services.ingestion().ingest(
                read_source(SAMPLE_KB, name="sample"), IngestReport(), lambda _n: None
            )
            await refresh_index(services)
            model = _RecordingModel(services.language_model())
            services._language_model = model
            platform = _Quiet()
            # Both sides write every token: Buddy does not stop at an unsupported sentence here.
            answerer = await services.answerer(
                platform, temperature=0.0, max_tokens=max_tokens, stop_unsupported=False
            )
            person = Person("local", "default", "bench")
            await answerer(Question(person, "bench", QUESTION))  # warm-up: caches, first load
            buddy, raw = [], []
            for _ in range(runs):
                answer = await answerer(Question(person, "bench", QUESTION))
                buddy.append(answer.timings_ms | {"total": answer.latency_ms})
                raw.append(_raw_run(model._model, model.requests[-1]))
    return _summary(buddy, raw, model.usages[-1], model.model_version)


def _raw_run(model: Any, request: GenerationRequest) -> dict[str, float]:
    """The same prompt straight through llama-cpp-python, as its README streams it."""
    engine = model.engine
    engine.reset()
    started = time.perf_counter()
    first = 0.0
    tokens = 0
    for chunk in engine.create_completion(
        model.prompt_text(request), max_tokens=request.max_tokens,
        temperature=request.temperature, stop=["<end_of_turn>", *request.stop], stream=True,
    ):  # fmt: skip
        if not first:
            first = time.perf_counter() - started
        if chunk["choices"][0].get("finish_reason") is None:
            tokens += 1
    return {"ttft_ms": first * 1000, "generation_ms": (time.perf_counter() - started) * 1000,
            "tokens": tokens}  # fmt: skip


def _summary(
    buddy: list[dict[str, int]], raw: list[dict[str, float]], usage: GenerationUsage, version: str
) -> dict[str, Any]:
    tokens = usage.completion_tokens

    def median(rows: list[Any], key: str) -> float:
        return float(statistics.median(row[key] for row in rows))

    buddy_rate = tokens / (median(buddy, "generation") / 1000)
    raw_rate = median(raw, "tokens") / (median(raw, "generation_ms") / 1000)
    buddy_ttft, raw_ttft = median(buddy, "first_token"), median(raw, "ttft_ms")
    ratios = {
        "tokens_per_s": round(buddy_rate / raw_rate, 3),
        "time_to_first_token": round(raw_ttft / buddy_ttft, 3),  # > 1: Buddy is quicker
    }
    split = {k: median(buddy, k) for k in ("retrieval", "prompt", "generation", "storage", "total")}
    return {
        "model_version": version,
        "runs": len(buddy),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": tokens,
        "raw_completion_tokens": median(raw, "tokens"),
        "buddy": {"tokens_per_s": round(buddy_rate, 1), "ttft_ms": round(buddy_ttft, 1)},
        "raw": {"tokens_per_s": round(raw_rate, 1), "ttft_ms": round(raw_ttft, 1)},
        "ratios": ratios,
        "target": TARGET,
        "meets_target": min(ratios.values()) >= TARGET,
        "latency_split_ms": split,
    }


def print_generation(result: dict[str, Any]) -> None:
    ratios, split = result["ratios"], result["latency_split_ms"]
    buddy, raw = result["buddy"], result["raw"]
    lines = [
        f"generation ({result['model_version']}, {result['runs']} runs, "
        f"{result['prompt_tokens']} prompt + {result['completion_tokens']} completion tokens)",
        f"  Buddy: {buddy['tokens_per_s']} tok/s, first token {buddy['ttft_ms']} ms",
        f"  raw:   {raw['tokens_per_s']} tok/s, first token {raw['ttft_ms']} ms",
        f"  ratios: tok/s {ratios['tokens_per_s']}, first token {ratios['time_to_first_token']}"
        f" (target >= {result['target']}: {'met' if result['meets_target'] else 'NOT met'})",
        "  latency split: " + ", ".join(f"{k} {v:.0f} ms" for k, v in split.items()),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
