"""Cold start: questions and grounded answers written from knowledge-base chunks, validated,
stored as events, and curated into the train split only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection

import pytest

from adapters.llm.prompt_files import load_prompt
from adapters.privacy.scrubber import PatternScrubber
from domain.curation import MIN_ANSWER_CHARS, CurateDataset, split_of
from domain.language import GenerationRequest, GenerationUsage
from domain.synthesis import (
    EmptyKnowledgeBase,
    KnowledgeChunk,
    SynthesisSettings,
    SynthesizeExamples,
    clean_answer,
    clean_question,
)
from domain.synthetic_pairs import SYNTHETIC_EVENT, SyntheticPair
from tests.fakes import HashingEmbedder, InMemoryEventStore
from tests.unit.test_curation import LONG, ListSource, Rig

DEPLOY = (
    "To deploy to production, tag the release and run `make deploy ENV=production`. The pipeline "
    "builds the image, runs the smoke tests and rolls out one zone at a time; watch the error "
    "dashboard for ten minutes afterwards."
)
ONCALL = (
    "The on-call engineer carries the pager for one week, from Monday 10:00 to the next Monday "
    "10:00. Hand over in the #ops channel with a summary of open incidents, alerts that fired "
    "and anything that looked flaky."
)
KEYS = (
    "API keys are rotated every 90 days in the secrets manager. Ask the platform team to rotate "
    "a key earlier when it may have leaked, and never paste keys into chat, tickets or pull "
    "request descriptions or logs."
)
GOOD_ANSWER = "Tag the release and run `make deploy ENV=production`, then watch the dashboard [1]."


class ListChunks:
    def __init__(self, chunks: list[KnowledgeChunk]) -> None:
        self.chunks = chunks

    async def count_chunks(self) -> int:
        return len(self.chunks)

    async def sample_chunks(
        self, n: int, *, min_chars: int = 0, skip: Collection[str] = ()
    ) -> list[KnowledgeChunk]:
        found = [c for c in self.chunks if len(c.text) >= min_chars and c.chunk_id not in skip]
        return found[:n]


class PromptedModel:
    """Answers each prompt with whatever `reply` makes of it; records what it was asked."""

    model_version = "scripted:2"
    adapter_hash = None

    def __init__(self, reply: Callable[[str, GenerationRequest], str]) -> None:
        self.reply = reply
        self.requests: list[GenerationRequest] = []

    @staticmethod
    def prompt(request: GenerationRequest) -> str:
        return "\n\n".join(message.content for message in request.messages)

    async def stream(
        self, request: GenerationRequest, usage: GenerationUsage
    ) -> AsyncIterator[str]:
        self.requests.append(request)
        text = self.reply(self.prompt(request), request)
        for start in range(0, len(text), 7):
            yield text[start : start + 7]


def asking_for_a_question(prompt: str) -> bool:
    return prompt.rstrip().endswith("FAQ\nQ:")


def scripted(questions: dict[str, str], answers: dict[str, str] | None = None) -> PromptedModel:
    """Replies by which chunk's passage is in the prompt (its first word picks the script)."""

    def reply(prompt: str, _: GenerationRequest) -> str:
        for word, question in questions.items():
            if word in prompt:
                if asking_for_a_question(prompt):
                    return " " + question
                return (answers or {}).get(word, GOOD_ANSWER)
        return ""

    return PromptedModel(reply)


def chunks(*texts: str) -> list[KnowledgeChunk]:
    return [
        KnowledgeChunk(f"c{i}", f"kb/doc{i}.md", text, 1, 5, "MIT") for i, text in enumerate(texts)
    ]


def synthesizer(
    source: ListChunks, model: PromptedModel, store: InMemoryEventStore, **settings: int
) -> SynthesizeExamples:
    return SynthesizeExamples(
        source, model, load_prompt("question", "v1"), load_prompt("answer", "v2"),
        PatternScrubber(), store, SynthesisSettings(**settings),
    )  # fmt: skip


def test_a_question_is_cleaned_and_checked() -> None:
    prompt = "Passage:\n[1] kb/deploy.md\n" + DEPLOY + "\nQuestion:"
    assert clean_question(" How do I deploy to production?\nAnd more", prompt) == (
        "How do I deploy to production?"
    )
    assert clean_question('Q: "Who carries the pager?"', prompt) == "Who carries the pager?"
    assert clean_question("1. What does the pipeline do? It builds.", prompt) == (
        "What does the pipeline do?"
    )
    assert clean_question("Deploy to production.", prompt) is None  # not a question
    assert clean_question("Why?", prompt) is None  # too short
    assert clean_question("", prompt) is None
    assert clean_question("What " * 60 + "?", prompt) is None  # too long
    copied = "Does the pipeline build the image, run the smoke tests and roll out?"
    assert clean_question(copied, prompt + "\n" + copied) is None  # copied from the prompt


def test_an_answer_cut_mid_sentence_ends_at_its_last_full_sentence() -> None:
    whole = "Run make deploy ENV=production from the repository root. Then watch the dashboard."
    assert clean_answer("  " + whole + "  ") == whole
    assert clean_answer(whole + " After ten minutes, if the err") == whole
    assert clean_answer("Run it and then") == "Run it and then"  # nothing better to cut to


async def test_pairs_are_written_from_the_chunk_and_stored_as_events() -> None:
    store = InMemoryEventStore()
    source = ListChunks(chunks(DEPLOY, ONCALL, KEYS))
    model = scripted(
        {"deploy": "How do I deploy to production?", "pager": "Who carries the pager?"},
        {"pager": "The on-call engineer carries it for a week; mail oncall@example.com [1]."},
    )
    progress: list[int] = []

    report = await synthesizer(source, model, store)(2, progress.append)

    assert report.as_json() == {"requested": 2, "created": 2, "tried": 2, "rejected": {}}
    assert progress == [1, 1]
    first, second = report.created
    assert (first.chunk_id, first.question, first.answer) == (
        "c0",
        "How do I deploy to production?",
        GOOD_ANSWER,
    )
    assert "oncall@example.com" not in second.answer  # scrubbed
    assert "<EMAIL>" in second.answer
    assert first.model_version == "scripted:2"
    assert (first.source, first.lines, first.license) == ("kb/doc0.md", (1, 5), "MIT")
    # Grounded: the chunk is the passage of both prompts, and the answer prompt is the served one.
    asked, answered = model.requests[:2]
    assert DEPLOY in model.prompt(asked)
    assert DEPLOY in model.prompt(answered)
    assert asked.stop == ("\n",)
    served = load_prompt("answer", "v2")
    assert answered.stop[: len(served.stop)] == served.stop
    assert model.prompt(answered).endswith("Question: How do I deploy to production?\nAnswer:")
    assert "[1] kb/doc0.md" in model.prompt(answered)
    events = [e for e in store.events if e.type == SYNTHETIC_EVENT]
    assert [e.stream_id for e in events] == ["synthetic-c0", "synthetic-c1"]
    assert SyntheticPair.from_payload(events[0].payload) == first
    assert events[0].payload["prompt_version"] == "question-v1+answer-v2"


async def test_a_chunk_without_a_valid_pair_gives_its_turn_to_the_next_boundedly() -> None:
    store = InMemoryEventStore()
    source = ListChunks(chunks(DEPLOY, ONCALL, KEYS, DEPLOY.replace("production", "staging")))
    model = scripted(
        {"production": "Deploy it to production.",  # no question mark
         "pager": "Who carries the pager?", "rotated": "How often are API keys rotated?",
         "staging": "How do I deploy to staging?"},
        {"pager": "A week.", "rotated": "",  # too short, empty
         "staging": "Run make deploy --tag 1000000000000000000000000000000000000000000000000"},
    )  # fmt: skip

    report = await synthesizer(source, model, store, tries_per_pair=3)(1)

    assert report.as_json() == {
        "requested": 1, "created": 0, "tried": 3,
        "rejected": {"no_question": 1, "short_answer": 2},
    }  # fmt: skip
    assert not [e for e in store.events if e.type == SYNTHETIC_EVENT]
    again = await synthesizer(source, model, store, tries_per_pair=4)(1)
    assert again.rejected == {"no_question": 1, "short_answer": 2, "degenerate": 1}
    model.reply = lambda prompt, request: (
        " How do I deploy to staging?" if asking_for_a_question(prompt) else GOOD_ANSWER
    )
    third = await synthesizer(source, model, store, tries_per_pair=4)(1)
    assert [pair.chunk_id for pair in third.created] == ["c0"]


async def test_chunks_with_a_pair_are_skipped_next_time() -> None:
    store = InMemoryEventStore()
    source = ListChunks(chunks(DEPLOY, ONCALL, KEYS))
    model = scripted({"deploy": "How do I deploy?", "pager": "Who has the pager?",
                      "rotated": "How often are keys rotated?"})  # fmt: skip
    first = await synthesizer(source, model, store)(2)
    second = await synthesizer(source, model, store)(2)
    assert [p.chunk_id for p in first.created] == ["c0", "c1"]
    assert [p.chunk_id for p in second.created] == ["c2"]
    assert await synthesizer(source, model, store).synthesized() == {"c0", "c1", "c2"}


async def test_tiny_chunks_are_left_out_and_an_empty_base_is_an_error() -> None:
    store = InMemoryEventStore()
    model = scripted({"deploy": "How do I deploy?"})
    tiny = ListChunks(chunks("# Deploy"))
    assert (await synthesizer(tiny, model, store)(3)).as_json()["tried"] == 0
    assert model.requests == []
    with pytest.raises(EmptyKnowledgeBase, match="buddy ingest PATH"):
        await synthesizer(ListChunks([]), model, store)(1)


class ListPairs:
    def __init__(self, pairs: list[SyntheticPair]) -> None:
        self.pairs = pairs

    async def synthetic_pairs(self) -> list[SyntheticPair]:
        return self.pairs


def eval_question() -> str:
    """A question the split would put in eval, were it a person's."""
    return next(q for i in range(1000) if split_of(q := f"How do I run job {i} nightly?") == "eval")


async def test_synthetic_pairs_are_curated_into_train_only_and_not_counted_as_examples() -> None:
    rig = Rig()
    await rig.add("How do I roll back a production deploy?")
    question = eval_question()
    answer = "Add it to `jobs/nightly.yaml` with a cron line and open a pull request [1]."
    pairs = [
        SyntheticPair("c1", "kb/jobs.md", question, answer, "scripted:2", (3, 9), "MIT"),
        # The same as the person's example: the synthetic one is the one dropped.
        SyntheticPair("c2", "kb/deploy.md", "How do I roll back a production deploy?", LONG, None),
        SyntheticPair(
            "c3", "kb/old.md", "Where is the old wiki?", LONG + " Old.", None, current=False
        ),
        SyntheticPair("c4", "kb/x.md", "What is x at all?", "x" * (MIN_ANSWER_CHARS - 1), None),
    ]
    curator = CurateDataset(
        ListSource(rig.items), rig.privacy, HashingEmbedder(), rig.store, ListPairs(pairs)
    )

    dataset = await curator()

    assert (dataset.synthetic, dataset.size) == (1, 1)
    synthetic = [e for e in dataset.train if e["meta"]["synthetic"]]
    assert [e["messages"][1]["content"] for e in synthetic] == [question]
    assert not [e for e in dataset.eval if e["meta"]["synthetic"]]
    [example] = synthetic
    assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]
    assert example["messages"][0] == next(e for e in dataset.train + dataset.eval
                                          if not e["meta"]["synthetic"])["messages"][0]  # fmt: skip
    assert (example["meta"]["chunk_id"], example["meta"]["source"]) == ("c1", "kb/jobs.md")
    assert example["meta"]["sources"] == [
        {"reference": 1, "path": "kb/jobs.md", "license": "MIT", "lines": [3, 9]}
    ]
    assert dataset.dropped == {
        "synthetic_duplicate": 1,
        "synthetic_stale": 1,
        "synthetic_short_answer": 1,
    }
    summary = rig.store.events[-1].payload
    assert (summary["examples"], summary["synthetic"]) == (1, 1)
    assert summary["train"] + summary["eval"] == 2


async def test_a_source_that_has_synthetic_pairs_is_read_for_them() -> None:
    class BothSource(ListSource, ListPairs):
        def __init__(self, pairs: list[SyntheticPair]) -> None:
            ListSource.__init__(self, [])
            ListPairs.__init__(self, pairs)

    rig = Rig()
    pair = SyntheticPair("c1", "kb/a.md", "How do I deploy it?", LONG, None)
    dataset = await CurateDataset(BothSource([pair]), rig.privacy, HashingEmbedder(), rig.store)()
    assert (dataset.synthetic, len(dataset.train)) == (1, 1)
