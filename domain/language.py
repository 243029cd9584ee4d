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


class LanguageModel(Protocol):
    @property
    def model_version(self) -> str: ...

    def stream(self, request: GenerationRequest, usage: GenerationUsage) -> AsyncIterator[str]:
        """Text pieces as they are generated. Cancelling the consumer cancels generation."""
        ...


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt: the version goes into every answer's lineage."""

    version: str
    system: str
    user: str  # with {context} and {question} placeholders

    def render(self, question: str, context: str) -> tuple[ChatMessage, ...]:
        return (
            ChatMessage("system", self.system),
            ChatMessage("user", self.user.format(context=context, question=question)),
        )


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
) -> list[ContextPassage]:
    """The most relevant passages whose prompt fits the budget. The question is never cut: the
    least relevant passages go first, and a passage that alone overflows is shortened."""
    chosen = list(passages)
    while chosen and _prompt_tokens(template, question, chosen, count_tokens) > budget_tokens:
        if len(chosen) > 1:
            chosen.pop()
            continue
        chosen = _shorten(template, question, chosen[0], budget_tokens, count_tokens)
        break
    return chosen


def _prompt_tokens(
    template: PromptTemplate,
    question: str,
    passages: Sequence[ContextPassage],
    count_tokens: Callable[[str], int],
) -> int:
    messages = template.render(question, format_passages(passages))
    return sum(count_tokens(message.content) for message in messages)


def _shorten(
    template: PromptTemplate,
    question: str,
    passage: ContextPassage,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
) -> list[ContextPassage]:
    words = passage.text.split()
    low, high = 0, len(words)
    while low < high:  # the longest prefix of words that still fits
        middle = (low + high + 1) // 2
        trial = _cut(passage, words, middle)
        if _prompt_tokens(template, question, [trial], count_tokens) <= budget_tokens:
            low = middle
        else:
            high = middle - 1
    return [_cut(passage, words, low)] if low else []


def _cut(passage: ContextPassage, words: list[str], keep: int) -> ContextPassage:
    return ContextPassage(passage.reference, passage.source, " ".join(words[:keep]) + " …")
