"""The local channel: a chat platform on the terminal. It streams the answer as it is written
(when given somewhere to write) and keeps what it sent, for the CLI to show and to test."""

from __future__ import annotations

from collections.abc import Callable

from domain.conversation import Answer


class LocalChannel:
    platform = "local"
    workspace = "default"

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.sent: list[tuple[str, str | None, Answer]] = []
        self._write = write
        self._shown = ""  # what of the current answer was already written

    async def draft(
        self, answer_id: str, channel_id: str, thread_id: str | None, text_so_far: str
    ) -> None:
        if self._write is None:
            return
        text = text_so_far.lstrip()  # the model often opens with blank lines
        if len(text) > len(self._shown):
            self._write(text[len(self._shown) :])
            self._shown = text

    async def send(self, channel_id: str, thread_id: str | None, answer: Answer) -> None:
        self.sent.append((channel_id, thread_id, answer))
        if self._write is not None:
            final = answer.text.lstrip()
            if final.startswith(self._shown):
                self._write(final[len(self._shown) :])
            else:
                # A terminal cannot edit what it printed: the checked answer follows in full.
                self._write("\n\n(checked against the docs, the answer is:)\n" + final)
            self._write("\n")
        self._shown = ""


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
        "answer_mode": answer.mode,
    }


def source_lines(answer: Answer) -> list[str]:
    return [
        f"  [{s.reference}] {s.path}:{s.lines[0]}-{s.lines[1]} ({s.license})"
        for s in answer.sources
    ]
