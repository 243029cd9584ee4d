"""Logging on stderr, text or JSON lines, with every message run through the scrubber first:
logs carry pseudonyms and event ids, never message text, secrets or raw ids."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from domain.ports import Scrubber

# Attributes every LogRecord has; anything else was passed with `extra=` and is structured data.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self._scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._scrubber.scrub(record.getMessage()).text
        record.args = None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, self._scrubber.scrub(value).text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        document.update(
            {k: v for k, v in record.__dict__.items() if k not in _STANDARD and _is_json(v)}
        )
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def _is_json(value: object) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def configure_logging(level: str, log_format: str, scrubber: Scrubber) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(scrubber))
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
