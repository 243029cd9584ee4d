"""What the domain asks of a language model, and how a prompt is fitted to its context window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    messages: tuple[ChatMessage, ...]
    max_tokens: int = 256
    temperature: float = 0.2
    stop: tuple[str, ...] = ()


@dataclass
class GenerationUsage:
    """Filled in by the model as it streams; complete once the stream ends."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, float] = field(default_factory=dict)
    # Set by a model that can be swapped while serving: the version (and adapter) that actually
    # wrote this answer, which may no longer be the one served when the answer is stored.
    model_version: str | None = None
    adapter_hash: str | None = None


class LanguageModel(Protocol):
    @property
    def model_version(self) -> str: ...

    @property
    def adapter_hash(self) -> str | None:
        """The LoRA adapter served on top of the base model, if any (for lineage)."""
        ...

    def stream(self, request: GenerationRequest, usage: GenerationUsage) -> AsyncIterator[str]:
        """Text pieces as they are generated. Cancelling the consumer cancels generation."""
        ...


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt: the version goes into every answer's lineage."""

    version: str
    system: str
    user: str  # with {context}, {question} and optionally {history} placeholders
    turn: str = "Question: {question}\nAnswer: {answer}"  # one earlier exchange in {history}
    stop: tuple[str, ...] = ()  # where a completion model should stop writing

    def render(self, question: str, context: str, history: str = "") -> tuple[ChatMessage, ...]:
        user = self.user.format(context=context, question=question, history=history)
        return (ChatMessage("system", self.system), ChatMessage("user", user))

    def history(self, turns: Sequence[tuple[str, str]]) -> str:
        """Earlier exchanges of the thread, oldest first, as the template lays them out."""
        if not turns:
            return ""
        lines = [self.turn.format(question=q, answer=a) for q, a in turns]
        return "Earlier in this thread:\n" + "\n\n".join(lines) + "\n\n"


@dataclass(frozen=True)
class ContextPassage:
    """A retrieved passage offered to the prompt, most relevant first."""

    reference: int
    source: str
    text: str


def format_passages(passages: Sequence[ContextPassage]) -> str:
    return "\n\n".join(f"[{p.reference}] {p.source}\n{p.text}" for p in passages)


def fit_context(
    template: PromptTemplate,
    question: str,
    passages: Sequence[ContextPassage],
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    history: str = "",
) -> list[ContextPassage]:
    """The most relevant passages whose prompt fits the budget. The question (and the history
    given) is never cut: the least relevant passages go first, and a passage that alone overflows
    is shortened."""
    fits = _Fits(template, question, history, budget_tokens, count_tokens)
    chosen = list(passages)
    while chosen and not fits(chosen):
        if len(chosen) > 1:
            chosen.pop()
            continue
        chosen = _shorten(chosen[0], fits)
        break
    return chosen


@dataclass(frozen=True)
class _Fits:
    template: PromptTemplate
    question: str
    history: str
    budget_tokens: int
    count_tokens: Callable[[str], int]

    def __call__(self, passages: Sequence[ContextPassage]) -> bool:
        messages = self.template.render(self.question, format_passages(passages), self.history)
        return sum(self.count_tokens(m.content) for m in messages) <= self.budget_tokens


def _shorten(passage: ContextPassage, fits: _Fits) -> list[ContextPassage]:
    words = passage.text.split()
    low, high = 0, len(words)
    while low < high:  # the longest prefix of words that still fits
        middle = (low + high + 1) // 2
        if fits([_cut(passage, words, middle)]):
            low = middle
        else:
            high = middle - 1
    return [_cut(passage, words, low)] if low else []


def _cut(passage: ContextPassage, words: list[str], keep: int) -> ContextPassage:
    return ContextPassage(passage.reference, passage.source, " ".join(words[:keep]) + " …")
