"""Hot-swapping the served model: answers in flight finish on the model they started on, new ones
use the new model, a replaced model is closed once idle, and no answer fails because of a swap."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from adapters.llm.swappable import SwappableModel
from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from bot.serve.model_serving import ModelServing
from domain.answering import AnsweringSettings, AnswerQuestion
from domain.conversation import Question
from domain.errors import GenerationFailed
from domain.events import NewEvent
from domain.language import ChatMessage, GenerationRequest, GenerationUsage, PromptTemplate
from domain.model_registry import ModelRegistry, ServedModel
from domain.privacy_service import Person, PrivacyService
from domain.retrieval import SearchHit
from tests.fakes import (
    FixedClock,
    InMemoryEventStore,
    InMemoryKeyVault,
    NoScrub,
    RecordingPlatform,
    ScriptedIndex,
    trusting_grounder,
)

REQUEST = GenerationRequest((ChatMessage("user", "how do I roll back?"),), max_tokens=16)
TEMPLATE = PromptTemplate("answer-test", "Cite passages.", "{context}\n\nQuestion: {question}")
HIT = SearchHit("c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8)


class VersionModel:
    """A fake of our LanguageModel port that signs its answers with its version, refuses to
    stream once closed and checks it is closed only when idle."""

    def __init__(
        self, version: str, *, delay_s: float = 0.0, pieces: int = 4,
        gate: asyncio.Event | None = None,
    ) -> None:  # fmt: skip
        self.version = version
        self.delay_s = delay_s
        self.pieces = pieces
        self.gate = gate  # when set: each answer, once streaming, waits for it
        self.in_flight = 0
        self.closed = False
        self.closed_while_busy = False
        self.context_tokens = 512

    @property
    def model_version(self) -> str:
        return f"fake:{self.version}"

    @property
    def adapter_hash(self) -> str | None:
        return None if self.version == "base" else f"hash-{self.version}"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        self.closed_while_busy |= self.in_flight > 0
        self.closed = True

    async def stream(
        self, request: GenerationRequest, usage: GenerationUsage
    ) -> AsyncIterator[str]:
        if self.closed:
            raise GenerationFailed(f"{self.version} was closed")
        self.in_flight += 1
        try:
            if self.gate is not None:
                await self.gate.wait()
            for index in range(self.pieces):
                await asyncio.sleep(self.delay_s)
                if self.closed:
                    raise GenerationFailed(f"{self.version} was closed mid-answer")
                yield "written " if index == 0 else "."
            yield f" by {self.version}"
            usage.completion_tokens = self.pieces + 1
        finally:
            self.in_flight -= 1


async def collect(model: SwappableModel, usage: GenerationUsage) -> str:
    return "".join([piece async for piece in model.stream(REQUEST, usage)])


async def test_an_answer_finishes_on_the_model_it_started_on() -> None:
    old, new = VersionModel("v1", delay_s=0.02), VersionModel("v2")
    model = SwappableModel(old)
    usage = GenerationUsage()
    first = asyncio.create_task(collect(model, usage))
    await asyncio.sleep(0.03)  # the first answer is streaming from v1
    assert model.in_flight == 1
    replaced = await model.swap(new)
    assert replaced is old
    assert not old.closed  # busy: closed once its last answer ends
    assert model.loaded == 2
    second_usage = GenerationUsage()
    assert await collect(model, second_usage) == "written ... by v2"
    assert await first == "written ... by v1"
    assert (usage.model_version, usage.adapter_hash) == ("fake:v1", "hash-v1")
    assert (second_usage.model_version, second_usage.adapter_hash) == ("fake:v2", "hash-v2")
    assert old.closed
    assert not old.closed_while_busy
    assert model.loaded == 1
    assert model.model_version == "fake:v2"


async def test_an_idle_model_is_closed_at_once_and_passthroughs_follow_the_current() -> None:
    old, new = VersionModel("base"), VersionModel("v1")
    model = SwappableModel(old)
    assert model.adapter_hash is None
    assert model.count_tokens("a b c") == 3
    assert model.context_tokens == 512
    assert model.prompt_text(REQUEST) == "how do I roll back?"
    await model.swap(new)
    assert old.closed
    assert model.adapter_hash == "hash-v1"
    await model.close()
    assert new.closed


async def test_a_model_without_token_counting_gets_the_estimate() -> None:
    class Remote:  # like Ollama: no tokenizer, no window size
        model_version, adapter_hash = "remote:1", None

        async def stream(
            self, request: GenerationRequest, usage: GenerationUsage
        ) -> AsyncIterator[str]:
            yield "hi"

    model = SwappableModel(Remote())
    assert model.context_tokens is None
    assert model.count_tokens("x" * 30) == 11
    assert await collect(model, GenerationUsage()) == "hi"


async def test_a_cancelled_answer_still_releases_the_replaced_model() -> None:
    old = VersionModel("v1", delay_s=0.05, pieces=20)
    model = SwappableModel(old)
    task = asyncio.create_task(collect(model, GenerationUsage()))
    await asyncio.sleep(0.06)
    await model.swap(VersionModel("v2"))
    assert not old.closed
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert old.closed
    assert not old.closed_while_busy


async def until(check: Callable[[], bool], spins: int = 10_000) -> None:
    """Let the other tasks run until `check()` holds (by turns of the event loop, not time)."""
    for _ in range(spins):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("never came true")


async def test_swap_under_load_fails_no_answer_and_each_lineage_names_its_writer() -> None:
    """20 answers through the real answer use case: two more start streaming before each of 10
    registry moves (promote or rollback) and the swap after it, and none ends before the last
    swap, so every swap happens with answers in flight (2, 4, ... 20 of them). Each finishes on
    the model it started on, none fails, and each replaced model is closed once its last ends."""
    store = InMemoryEventStore()
    for version in ("v1", "v2", "v3"):
        await store.append(f"model-{version}", None, [NewEvent("training.TrainingFinished", {
            "version": version, "base": "b", "dataset_hash": "d", "config": {}, "metrics": {},
            "adapter": {"dir": "x", "gguf": f"adapters/{version}/adapter.gguf",
                        "sha256": f"sha-{version}"},
        })])  # fmt: skip
    registry = ModelRegistry(store)
    built: list[VersionModel] = []
    finish = asyncio.Event()  # held until every swap is done

    async def loader(served: ServedModel) -> VersionModel:
        built.append(VersionModel(served.version, pieces=3, gate=finish))
        return built[-1]

    serving = ModelServing(registry, loader)
    keys = InMemoryKeyVault()
    privacy = PrivacyService(
        store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys, FixedClock()
    )
    platform = RecordingPlatform()
    index = ScriptedIndex([HIT])
    model = await serving.model()
    ask = AnswerQuestion(
        store, privacy, index, model, TEMPLATE, platform, AnsweringSettings(),
        grounder=trusting_grounder(index),
    )  # fmt: skip
    person = Person("local", "default", "alice")
    rng = random.Random(8)
    answers: list[asyncio.Task[Any]] = []
    started_on: list[str | None] = []  # the version served when each answer started
    in_flight_at_swaps: list[int] = []
    moves = []
    for _ in range(10):
        for _ in range(2):
            n = len(answers)
            question = Question(person, "general", f"question {n}?", None, f"Ev{n}")
            answers.append(asyncio.create_task(ask(question)))
            started_on.append(serving.version)
        await until(lambda: model.in_flight == len(answers))  # all of them are streaming
        state = await registry.state()
        if state.previous is not None and rng.random() < 0.4:
            moves.append(f"rollback->{(await registry.rollback())['to_version']}")
        else:
            choices = [v for v in ("v1", "v2", "v3") if v != state.served]
            moves.append(f"promote->{(await registry.promote(rng.choice(choices)))['version']}")
        await serving.reload()
        in_flight_at_swaps.append(model.in_flight)
    assert in_flight_at_swaps == list(range(2, 22, 2))
    assert model.swaps == 10
    assert model.loaded == 11  # each replaced model still finishing its two answers
    assert not [m for m in built if m.closed]
    assert any(m.startswith("rollback") for m in moves)

    finish.set()
    done = await asyncio.gather(*answers)
    assert not [a for a in done if a.failed]
    given = {e.payload["answer_id"]: e.payload for e in store.events
             if e.type == "conversation.AnswerGiven"}  # fmt: skip
    assert len(given) == 20
    for answer, version in zip(done, started_on, strict=True):
        writer = answer.text.rsplit(" by ", 1)[1]
        assert writer == version  # finished on the model it started on, whatever was swapped
        lineage = given[answer.answer_id]
        assert lineage["model_version"] == f"fake:{writer}" == answer.model_version
        assert lineage["adapter_hash"] == (None if writer == "base" else f"hash-{writer}")
    assert len(set(started_on)) >= 3
    assert [m for m in built if not m.closed] == [model.current]  # every replaced one closed
    assert not [m for m in built if m.closed_while_busy]
    assert model.loaded == 1
    assert model.in_flight == 0
