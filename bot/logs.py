"""Logging on stderr, text or JSON lines, with every message run through the scrubber first:
logs carry pseudonyms and event ids, never message text, secrets or raw ids.

Call sites name answers (event ids), never platform ids or text. Two nets catch what slips
through: libraries log at INFO at the most verbose (at DEBUG they dump whole requests, gateway
events and SQL parameters), and whatever still looks like a Slack or Discord id in a line or a
traceback is replaced by a hash keyed for this process only (`<id:…>`: equal ids read the same
within one run, and mean nothing outside it).

Every line carries a correlation id (`correlation_id`: the answer id, set where a platform event
is accepted and where the worker answers it), so one question can be followed to its reply."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from domain.ports import Scrubber

# Attributes every LogRecord has; anything else was passed with `extra=` and is structured data.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

# Buddy's own code: it logs at the level asked for; every other logger is a library's.
OWN_PACKAGES = frozenset({"bot", "domain", "adapters", "scheduler", "training", "migrations"})
LIBRARY_LEVEL = logging.INFO  # the most a library may say, whatever the level asked for

PLATFORM_ID = re.compile(
    r"\b(?:"
    r"[A-Z](?=[A-Z0-9]*[0-9])[A-Z0-9]{8,}"  # Slack users, channels, teams: U024BE7LH
    r"|Ev[A-Z0-9]{8,}"  # Slack event ids
    r"|[0-9]{10}\.[0-9]{6}"  # Slack message timestamps
    r"|[0-9]{6,}\.[0-9]{6,}\.[0-9a-f]{8,}"  # Slack trigger ids
    r"|[0-9]{17,20}"  # Discord snowflakes
    r")\b"
)
_ID_KEY = secrets.token_bytes(16)

# The answer being worked on in this task; every log record made in it carries the id.
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def mask_platform_ids(text: str) -> str:
    return PLATFORM_ID.sub(_masked, text)


def _masked(match: re.Match[str]) -> str:
    digest = hmac.new(_ID_KEY, match.group().encode(), hashlib.sha256).hexdigest()
    return f"<id:{digest[:8]}>"


class LibraryLevel(logging.Filter):
    """Libraries' records below INFO are dropped; Buddy's own pass at any level."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.partition(".")[0] in OWN_PACKAGES
        return own or record.levelno >= LIBRARY_LEVEL


class CorrelationFilter(logging.Filter):
    """Adds `correlation_id` (None outside an answer) and `correlation` (" [id]" or "", for
    the text format) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = correlation_id.get()
        record.correlation_id = current
        record.correlation = f" [{current}]" if current else ""
        return True


class RedactingFilter(logging.Filter):
    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self._scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.getMessage())
        record.args = None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, self._clean(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:  # the formatters print this, not exc_info, once it is set
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True

    def _clean(self, text: str) -> str:
        return mask_platform_ids(self._scrubber.scrub(text).text)


_TRACEBACKS = logging.Formatter()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        document.update(
            {
                k: v
                for k, v in record.__dict__.items()
                if k not in _STANDARD and k != "correlation" and _is_json(v)
            }
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exc"] = record.exc_text
        if record.stack_info:
            document["stack"] = record.stack_info
        return json.dumps(document, ensure_ascii=False)


def _is_json(value: object) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def configure_logging(level: str, log_format: str, scrubber: Scrubber) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(LibraryLevel())
    handler.addFilter(RedactingFilter(scrubber))
    handler.addFilter(CorrelationFilter())  # after redaction: the id is Buddy's own, not text
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s%(correlation)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
