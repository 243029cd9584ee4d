"""Slack's and aiohttp's exceptions in Buddy's words, at the edge: the rest of Buddy sees only
BuddyError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from slack_sdk.errors import SlackApiError

from domain.errors import BuddyError


class SlackUnavailable(BuddyError):
    """A Slack Web API call failed or Slack could not be reached; says which call and why."""


@contextmanager
def translated(method: str) -> Iterator[None]:
    try:
        yield
    except SlackApiError as error:
        raise SlackUnavailable(f"Slack {method} failed: {describe(error)}") from error
    except (aiohttp.ClientError, TimeoutError) as error:
        raise SlackUnavailable(f"Slack {method} could not be reached: {describe(error)}") from error


def describe(error: BaseException) -> str:
    """Why a call failed, fit for the log: Slack's error code, never the request (its URL,
    headers and arguments) nor Slack's whole response, which carry ids, tokens and text."""
    if isinstance(error, BuddyError):
        return str(error)
    if isinstance(error, SlackApiError):
        response = error.response
        reason = response.get("error") if response is not None else None
        status = getattr(response, "status_code", None)
        return str(reason) if reason else f"HTTP {status}"
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP {error.status} {error.message or ''}".strip()
    if isinstance(error, aiohttp.InvalidURL):
        return error.__class__.__name__
    text = str(error)
    return f"{error.__class__.__name__}: {text}" if text else error.__class__.__name__


def error_code(error: SlackUnavailable) -> str | None:
    cause = error.__cause__
    if not isinstance(cause, SlackApiError) or cause.response is None:
        return None
    code = cause.response.get("error")
    return str(code) if code else None
