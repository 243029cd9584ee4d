"""A chat platform that keeps what the bot sent, for the CLI to show."""

from __future__ import annotations

from domain.answering import Answer


class LocalChannel:
    platform = "local"
    workspace = "default"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, Answer]] = []

    async def send(self, channel_id: str, thread_id: str | None, answer: Answer) -> None:
        self.sent.append((channel_id, thread_id, answer))


def answer_json(answer: Answer) -> dict[str, object]:
    return {
        "answer_id": answer.answer_id,
        "answer": answer.text,
        "sources": [
            {"reference": s.reference, "path": s.path, "license": s.license, "lines": list(s.lines)}
            for s in answer.sources
        ],
        "model_version": answer.model_version,
        "latency_ms": answer.latency_ms,
    }
