"""What every chat platform shares: one help text, one way to say a snippet could not run, one
dedupe of redelivered events, and the background work done after an event is taken.

Each platform package has the same files for the same jobs: `service.py` (the PlatformService
`buddy serve` runs), `inbound.py` (platform events to use-case calls), `commands.py` (`/buddy`),
`replies.py` (the answer worker's ChatPlatform), `working.py` (the "working on it" sign while
an answer is written), `translate.py` (pure: payloads to domain values and back), `errors.py`
(the platform's exceptions as BuddyError) and `client.py` (the wire).

The error policy, for every platform:

- A question is stored (`accept`, idempotent on the message's platform id) before the event is
  acknowledged. Where the platform redelivers (Slack: the listener raises, Slack gets no 200 and
  retries), storing failing is left to that redelivery. Where it does not (Discord's gateway),
  the failure is logged by the inbound adapter and the event is dropped; a lost session is
  back-filled from history instead.
- A duplicate delivery (a redelivery, both of Slack's events for one mention, a replayed or
  back-filled Discord message) is answered once: `SeenIds` here for work run after the ack, the
  store's idempotency key for questions.
- The answer itself is sent by the answer worker from the outbox. `ChatPlatform.send` raises
  when the platform refuses it; the job stays pending and the outbox retries it, and the retry
  edits the message already posted instead of posting again. The worker logs the failure.
- A draft, the working sign (👀, typing) and the 👍/👎 seeds are courtesies: a failure is logged
  as a warning where it happens and never fails the answer.
- A snippet run, stats and the like run after the ack and are never retried: the user is told
  (`snippet_failed`) when the run itself fails, and a reply that cannot be posted is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any

from adapters.tasks import drain
from domain.errors import BuddyError
from domain.inbound import InboundHandlers
from domain.rate_limits import RateLimited
from domain.snippets import Snippet, SnippetReply

log = logging.getLogger(__name__)

HELP = (
    "**Buddy** answers from the team's docs and code.\n"
    "• Mention me, DM me, or reply in a thread I answer in: I answer in the thread.\n"
    "• React 👍 or 👎 on an answer to rate it: that is how I learn.\n"
    '• Say "run this" with a fenced code block, or react ▶️ on a message with one, and I run '
    "it in a sandbox.\n"
    "• `/buddy ask QUESTION`: I answer in this channel.\n"
    "• `/buddy run CODE`: I run it in a sandbox.\n"
    "• Admins: `/buddy stats`, `export`, `retrain`, `models`, `promote`, `rollback`, `forget`, "
    "`optout`, `optin`, `exclude-channel`, `audit` (`/buddy help admin` says more).\n"
    "• `/buddy help`: this."
)  # Markdown: each platform renders it in its own markup


def snippet_failed(error: BuddyError) -> SnippetReply:
    """What the user sees when a snippet could not run (no such language, no sandbox here), or
    was refused by a rate limit (its message says when to try again, as it is)."""
    if isinstance(error, RateLimited):
        return SnippetReply(str(error), busy=True)
    return SnippetReply(f"I couldn't run that: {error}")


async def run_or_explain(handlers: InboundHandlers, snippet: Snippet) -> SnippetReply:
    try:
        return await handlers.run_snippet(snippet)
    except BuddyError as error:  # said in the thread, not raised into the platform's listener
        return snippet_failed(error)


class SeenIds:
    """The last `size` keys seen: a redelivered event, a replayed or back-filled message, or a
    second ▶️ is handled once."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, key: str) -> bool:
        if key in self._ids:
            return False
        self._ids[key] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, key: str) -> bool:
        return key in self._ids


class BackgroundWork:
    """Work done after the platform has its ack (snippet runs, slash command results, a
    back-fill): each job logged if it fails, never raised into a listener, run once per key,
    and drained on stop."""

    def __init__(self, platform: str, remember: int = 5_000) -> None:
        self._platform = platform
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen = SeenIds(remember)

    def start(self, work: Coroutine[Any, Any, None], what: str, *, key: str | None = None) -> bool:
        """Run `work` now in the background; False (and not run) when `key` was already seen:
        a platform redelivers an event it thinks was lost, and a snippet must not run twice."""
        if key is not None and not self._seen.first_time(key):
            work.close()
            return False
        task = asyncio.create_task(self._logged(work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _logged(self, work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except Exception:  # a failed reply is logged; it must not take the service down
            log.exception("%s: %s failed", self._platform, what)

    async def drain(self, timeout_s: float) -> int:
        """Let the work in flight finish within `timeout_s`; how much was cancelled."""
        return await drain(self._tasks, timeout_s)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
