"""`/metrics` (Prometheus text format) and `/readyz` for `buddy serve`.

The counters and histograms are a projection of the stored events: each scrape reads the events
appended since the last one (from where the store stood when the server started) and counts them,
so the figures are the ones `buddy events` would show, whichever process wrote them. Only the
platform of an answer is not in the events: the worker notes it when it starts a job (`other`:
not answered by this server's worker). Replicas over one store report the same figures. The served
version and the queue depth are read at each scrape. The registry is this server's own, not the
process-wide one, so servers in one test process do not share figures."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from domain.event_types import (
    AdminEvents,
    ConversationEvents,
    FeedbackEvents,
    SandboxEvents,
    TrainingEvents,
)
from domain.feedback import counts as vote_counts

if TYPE_CHECKING:
    from bot.bootstrap import Services
    from domain.events import RecordedEvent
    from domain.inbound import PlatformService

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 3.0  # each readiness check gets this long
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
_PLATFORMS_KEPT = 10_000  # answers whose platform is noted and not yet counted
_TRAINING = {
    TrainingEvents.TRAINING_STARTED: "started",
    TrainingEvents.TRAINING_FINISHED: "finished",
    TrainingEvents.TRAINING_FAILED: "failed",
}


class ServeMetrics:
    def __init__(self, services: Services) -> None:
        self._services = services
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.questions = Counter(
            "buddy_questions", "Questions stored (kind: question or follow_up)", ["kind"],
            registry=r,
        )  # fmt: skip
        self.answers = Counter(
            "buddy_answers", "Answers given, by answer mode and platform", ["mode", "platform"],
            registry=r,
        )  # fmt: skip
        self.failures = Counter(
            "buddy_answer_failures", "Answers that failed, by reason and platform",
            ["reason", "platform"], registry=r,
        )  # fmt: skip
        self.retrieval = Histogram(
            "buddy_retrieval_seconds", "Retrieval time per answer", buckets=_BUCKETS, registry=r
        )
        self.generation = Histogram(
            "buddy_generation_seconds", "Generation time per answer", buckets=_BUCKETS, registry=r
        )
        self.end_to_end = Histogram(
            "buddy_answer_seconds", "End-to-end time per answer, failed ones included",
            buckets=_BUCKETS, registry=r,
        )  # fmt: skip
        self.ratings = Counter(
            "buddy_ratings", "Ratings given (capped ones left out), by model version and value",
            ["model_version", "value"], registry=r,
        )  # fmt: skip
        self.capped_ratings = Counter(
            "buddy_ratings_capped", "Votes over their rater's hourly cap: stored, not counted",
            registry=r,
        )  # fmt: skip
        self.sandbox_runs = Counter(
            "buddy_sandbox_runs", "Snippet runs by outcome (ok, error, timeout, oom, killed)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.training_runs = Counter(
            "buddy_training_runs", "Training runs by outcome (started, finished, failed)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.admin_commands = Counter(
            "buddy_admin_commands", "Admin commands from chat by command and outcome (ok, "
            "refused, usage, failed)", ["command", "outcome"], registry=r,
        )  # fmt: skip
        self.served = Gauge(
            "buddy_model_served", "1 for the model version being served", ["version"], registry=r
        )
        self.pending = Gauge(
            "buddy_pending_replies", "Accepted questions whose reply is not sent yet", registry=r
        )
        self._position: int | None = None
        self._platforms: OrderedDict[str, str] = OrderedDict()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Count from here: the events already stored were counted by an earlier run."""
        self._position = await self._services.store.last_position()

    def note_platform(self, answer_id: str, platform: str) -> None:
        """The worker starts answering `answer_id` for `platform` (the events do not say)."""
        self._platforms[answer_id] = platform
        while len(self._platforms) > _PLATFORMS_KEPT:
            self._platforms.popitem(last=False)

    async def refresh(self) -> None:
        async with self._lock:
            if self._position is None:
                await self.start()
            while True:
                events = await self._services.store.read_all(self._position or 0, limit=1000)
                for event in events:
                    await self._count(event)
                    self._position = event.position
                if len(events) < 1000:
                    break
            self.served.clear()
            try:
                served = await self._services.served_model()
            except Exception:  # no model served: no sample, and /readyz says why
                log.warning("no served model to report", exc_info=True)
            else:
                self.served.labels(version=served.model_version).set(1)
            self.pending.set(len(await self._services.outbox.pending(limit=10_000)))

    async def exposition(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)

    async def _count(self, event: RecordedEvent) -> None:
        kind, payload = event.type, event.payload
        if kind in ConversationEvents.ASKED:
            asked = "follow_up" if kind == ConversationEvents.FOLLOW_UP_ASKED else "question"
            self.questions.labels(kind=asked).inc()
        elif kind == ConversationEvents.ANSWER_GIVEN:
            platform = self._platforms.pop(str(payload.get("answer_id")), "other")
            self.answers.labels(mode=str(payload.get("answer_mode")), platform=platform).inc()
            timings = payload.get("timings_ms") or {}
            if "retrieval" in timings:
                self.retrieval.observe(timings["retrieval"] / 1000)
            if "generation" in timings:
                self.generation.observe(timings["generation"] / 1000)
            self._latency(payload)
        elif kind == ConversationEvents.ANSWER_FAILED:
            platform = self._platforms.pop(str(payload.get("answer_id")), "other")
            self.failures.labels(reason=str(payload.get("reason")), platform=platform).inc()
            self._latency(payload)
        elif kind == FeedbackEvents.RATING_GIVEN and not vote_counts(payload):
            self.capped_ratings.inc()  # over its rater's hourly cap: stored, counted nowhere
        elif kind == FeedbackEvents.RATING_GIVEN:
            version = await self._rated_version(str(payload.get("answer_id")))
            self.ratings.labels(model_version=version, value=str(payload.get("value"))).inc()
        elif kind == SandboxEvents.SNIPPET_RUN:
            self.sandbox_runs.labels(outcome=_run_outcome(payload)).inc()
        elif kind in _TRAINING:
            self.training_runs.labels(outcome=_TRAINING[kind]).inc()
        elif kind == AdminEvents.ADMIN_COMMAND_ISSUED:
            self.admin_commands.labels(command=payload["command"], outcome=payload["outcome"]).inc()

    def _latency(self, payload: dict[str, Any]) -> None:
        if isinstance(payload.get("latency_ms"), int | float):
            self.end_to_end.observe(payload["latency_ms"] / 1000)

    async def _rated_version(self, answer_id: str) -> str:
        for event in await self._services.store.read_stream(f"conversation-{answer_id}"):
            if event.type == ConversationEvents.ANSWER_GIVEN:
                return str(event.payload.get("model_version"))
        return "unknown"


def _run_outcome(payload: dict[str, Any]) -> str:
    if payload.get("timed_out"):
        return "timeout"
    if payload.get("oom_killed"):
        return "oom"
    if payload.get("signal"):
        return "killed"
    return "ok" if payload.get("exit_code") == 0 else "error"


def metrics_handler(metrics: ServeMetrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        body = await metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handler


# Readiness --------------------------------------------------------------------------------------


async def _bounded(check: Callable[[], Awaitable[str]]) -> dict[str, Any]:
    try:
        detail = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"ok": False, "reason": f"no answer within {CHECK_TIMEOUT_S:g}s"}
    except Exception as error:  # any failure is a reason, never a 500
        return {"ok": False, "reason": f"{type(error).__name__}: {error}"[:300]}
    return {"ok": True, "detail": detail}


def readyz_handler(
    services: Services, platforms: Sequence[PlatformService]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def database() -> str:
        db = services.db
        if db.is_sqlite:
            path = db.engine.url.database
            if path and path != ":memory:" and not await asyncio.to_thread(Path(path).exists):
                raise FileNotFoundError(f"database file {path} is missing")
        position = await services.store.last_position()
        return f"{services.database_label}, last event {position}"

    async def model() -> str:
        return (await services.served_model()).model_version

    async def sandbox() -> str:
        box = services.sandbox()
        check = getattr(box, "check", None)
        if check is not None:
            return str(await check())
        usable = [name for name, ok in box.languages().items() if ok]
        if not usable:
            raise RuntimeError("no language can run")
        return ", ".join(usable)

    async def connections() -> str:
        down = [s.name for s in platforms if getattr(s, "connected", True) is False]
        if down:
            raise ConnectionError(f"not connected: {', '.join(down)}")
        return ", ".join(s.name for s in platforms) or "none configured"

    async def readyz(_request: web.Request) -> web.Response:
        names = ("database", "model", "sandbox", "platforms")
        results = await asyncio.gather(
            *(_bounded(check) for check in (database, model, sandbox, connections))
        )
        checks = dict(zip(names, results, strict=True))
        ready = all(result["ok"] for result in results)
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    return readyz
