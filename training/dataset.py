"""Chat-format training examples, rendered the way Buddy serves a base model (ADR 0006).

A curated example is `{"messages": [{"role", "content"}...], "meta": {...}}`. Serving joins the
messages as plain text with blank lines between them and the model continues after the last one,
so training renders the same way: everything before the last assistant message is the prompt,
that message is the answer, and the loss is taken on the answer's tokens only."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.errors import TrainingFailed

IGNORE_INDEX = -100  # the label torch's cross-entropy skips: prompt tokens and padding
ROLES = frozenset({"system", "user", "assistant"})


@dataclass(frozen=True)
class ChatExample:
    messages: tuple[tuple[str, str], ...]  # (role, content) in order
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> ChatExample:
        try:
            messages = tuple((str(m["role"]), str(m["content"])) for m in record["messages"])
        except (KeyError, TypeError) as error:
            raise TrainingFailed(
                f"not a chat example (messages of role/content): {error}"
            ) from error
        unknown = {role for role, _ in messages} - ROLES
        if unknown:
            raise TrainingFailed(f"unknown message roles {sorted(unknown)}")
        return cls(messages=messages, meta=dict(record.get("meta") or {}))


@dataclass(frozen=True)
class RenderedExample:
    prompt: str
    answer: str  # begins with the separator the model must produce after the prompt


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX on the prompt, the token ids on the answer


def load_examples(path: Path) -> list[ChatExample]:
    """Every example in a JSONL file (blank lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [ChatExample.from_json(json.loads(line)) for line in lines if line.strip()]
    except (OSError, json.JSONDecodeError) as error:
        raise TrainingFailed(f"cannot read training examples from {path}: {error}") from error


def as_examples(items: Iterable[ChatExample | Mapping[str, Any]]) -> list[ChatExample]:
    return [
        item if isinstance(item, ChatExample) else ChatExample.from_json(item) for item in items
    ]


def render(example: ChatExample) -> RenderedExample:
    """The served plain-text layout: messages joined by blank lines; the last assistant answers.

    A bare question (a curated user message) is laid out as the served answer prompt ends,
    "Question: ...\nAnswer:", with the passages it was answered from when the example has them,
    so the adapter learns the very continuation it is asked for when serving."""
    last = max(
        (i for i, (role, _) in enumerate(example.messages) if role == "assistant"), default=-1
    )
    if last < 1:
        raise TrainingFailed("a training example needs a prompt and then an assistant answer")
    passages = str(example.meta.get("passages") or "")
    prompt = prompt_text(example.messages[:last], passages)
    answer = example.messages[last][1].strip()
    return RenderedExample(prompt=prompt, answer=" " + answer)


def prompt_text(messages: Sequence[tuple[str, str]], passages: str = "") -> str:
    """The prompt for `messages` (system, user, ...), ending in "Answer:" as served (ADR 0006)."""
    parts = [content.strip() for _, content in messages]
    role, last = messages[-1]
    if role == "user" and not last.rstrip().endswith(":"):
        context = f"Passages:\n{passages.strip()}\n\n" if passages.strip() else ""
        parts[-1] = f"{context}Question: {last.strip()}\nAnswer:"
    return "\n\n".join(part for part in parts if part)


def tokenize(tokenizer: Any, rendered: RenderedExample, max_length: int) -> TokenizedExample:
    """Token ids with the loss masked to the answer; too long -> the prompt's start is cut.

    The answer is kept whole (plus end-of-sequence, so the model learns to stop); only an answer
    longer than `max_length` on its own loses its end, the one case with nothing else to cut."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    prompt_ids = tokenizer(rendered.prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(rendered.answer, add_special_tokens=False)["input_ids"] + eos
    answer_ids = answer_ids[: max_length - len(bos) - 1]  # at least one prompt token stays
    prompt_room = max_length - len(bos) - len(answer_ids)
    prompt_ids = bos + prompt_ids[max(0, len(prompt_ids) - prompt_room) :]
    return TokenizedExample(
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
    )


def tokenize_all(
    tokenizer: Any, examples: Sequence[ChatExample], max_length: int
) -> list[TokenizedExample]:
    return [tokenize(tokenizer, render(example), max_length) for example in examples]


def collate(batch: Sequence[TokenizedExample], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask (0 on padding), labels (ignored there)."""
    import torch

    width = max(len(item.input_ids) for item in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, item in enumerate(batch):
        size = len(item.input_ids)
        input_ids[row, :size] = torch.tensor(item.input_ids)
        labels[row, :size] = torch.tensor(item.labels)
        attention[row, :size] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
