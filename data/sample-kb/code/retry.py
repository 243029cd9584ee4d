"""Retrying flaky calls with exponential backoff and jitter."""

import random
import time


class RetryError(Exception):
    """Raised when every attempt failed."""


def backoff_delays(base: float = 0.1, cap: float = 10.0, attempts: int = 5):
    """Yield full-jitter delays: a random wait between 0 and base * 2**attempt, capped."""
    for attempt in range(attempts):
        yield random.uniform(0, min(cap, base * 2**attempt))


def retry(call, *, attempts: int = 5, retry_on=(ConnectionError, TimeoutError)):
    """Call `call()` until it succeeds, sleeping with backoff between failed attempts."""
    last_error = None
    for delay in backoff_delays(attempts=attempts):
        try:
            return call()
        except retry_on as error:
            last_error = error
            time.sleep(delay)
    raise RetryError(f"gave up after {attempts} attempts") from last_error
