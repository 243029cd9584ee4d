"""What admin commands from chat do, over the real services (the `AdminOperations` port of
domain/admin.py): the same operations the `buddy` CLI runs, reported as text for chat."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.operations.datasets import consent_changed, curate_dataset, current_dataset, export_lines
from bot.operations.models import models_json, models_lines
from bot.operations.stats import curated_examples, stats_lines
from domain.admin import AdminConsole, Admins, Report
from domain.errors import BuddyError
from domain.privacy_service import Person

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)
STEP_REPORTS = 4  # training progress said at each quarter of the steps


class ServiceAdminOperations:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def stats(self) -> tuple[str, bytes]:
        from bot.operations.stats_chart import render_chart, stats_series

        services = self._services
        lines = stats_lines(await services.conversations.stats())
        curated = await curated_examples(services)
        lines.append(f"dataset    {curated} curated examples")
        series = await stats_series(services)
        chart = await asyncio.to_thread(render_chart, series)  # matplotlib is CPU-bound
        return "\n".join(lines), chart

    async def export(self, split: str) -> tuple[int, bytes]:
        folder = await current_dataset(self._services)  # curated again if consent moved
        if not (folder / "train.jsonl").exists():  # chat has no `buddy curate`: curate now
            await curate_dataset(self._services)
        lines = export_lines(folder, split)
        return len(lines), "".join(lines).encode()

    async def retrain(self, report: Report) -> str:
        summary = await curate_dataset(self._services)
        await report(
            f"Curated {summary['examples']} examples ({summary['train']} train, "
            f"{summary['eval']} eval), dataset {str(summary['dataset_hash'])[:12]}. Training…"
        )
        if not summary["train"] or not summary["eval"]:
            raise BuddyError("too few curated examples to train and evaluate on yet")
        outcome = await self._train(report)
        return decision_text(outcome)

    async def _train(self, report: Report) -> dict[str, Any]:
        from bot.operations.training import run_training

        async with ThreadReports(report) as (progress, status):
            return await run_training(self._services, progress=progress, status=status)

    async def models(self) -> str:
        state = await self._services.model_registry().state()
        return "\n".join(models_lines(models_json(state, self._services.settings)))

    async def promote(self, version: str, by: str) -> str:
        registry = self._services.model_registry()
        promoted = await registry.promote(version, reason="admin", by=by)
        return (f"Promoted {promoted['version']} (was {promoted['previous']}): every replica "
                "serves it within seconds.")  # fmt: skip

    async def rollback(self, by: str) -> str:
        rolled = await self._services.model_registry().rollback("admin", {"by": by})
        return f"Rolled back {rolled['from_version']} -> {rolled['to_version']}."

    async def forget(self, person: Person) -> str:
        erasure = await (await self._services.privacy()).forget(person)
        await consent_changed(self._services)
        return (f"Erased user {erasure.user[:12]}…: {erasure.keys_shredded} data keys shredded; "
                "their text is unreadable and out of the datasets.")  # fmt: skip

    async def consent(self, person: Person, opted_out: bool) -> str:
        privacy = await self._services.privacy()
        user = await (privacy.opt_out(person) if opted_out else privacy.opt_in(person))
        await consent_changed(self._services)
        return f"User {user[:12]}… is now {'opted out' if opted_out else 'opted in'}."

    async def exclude_channel(self, platform: str, workspace: str, channel_id: str) -> str:
        privacy = await self._services.privacy()
        channel = await privacy.exclude_channel(platform, workspace, channel_id)
        await consent_changed(self._services)
        return f"Channel {channel[:12]}… is excluded from training and exports."

    async def scope(
        self, platform: str, workspace: str, channel_id: str, sources: tuple[str, ...] | None
    ) -> str:
        from domain.scopes import describe

        scopes = await self._services.scopes()
        if sources is None:
            return describe(await scopes.scope_of(platform, workspace, channel_id))
        scope = await scopes.set(platform, workspace, channel_id, sources)
        return ("Done. " if sources else "Scope cleared. ") + describe(scope)


async def admin_console(services: Services) -> AdminConsole:
    admins = Admins(services.settings.admin_ids)
    operations = ServiceAdminOperations(services)
    return AdminConsole(services.store, await services.privacy(), admins, operations)


def decision_text(outcome: dict[str, Any]) -> str:
    """The gate's decision with its figures, as the retrain thread ends."""
    version, metrics = outcome["version"], outcome.get("metrics") or {}
    if outcome["status"] == "failed":
        raise BuddyError(f"training {version} failed: {outcome.get('error')}")
    shown = [f"{key} {metrics[key]}" for key in (
        "steps", "train_loss", "eval_loss", "served_eval_loss", "golden_score",
        "served_golden_score",
    ) if metrics.get(key) is not None]  # fmt: skip
    figures = f" ({', '.join(shown)})" if shown else ""
    if outcome["promoted"]:
        return f"{version} passed the gate and is now served{figures}."
    reasons = "; ".join((outcome.get("gate") or {}).get("reasons") or []) or outcome["status"]
    return f"{version} was not promoted: {reasons}{figures}."


class ThreadReports:
    """The training thread's progress and status calls, said in chat from the event loop:
    a status line each, and the steps at each quarter of the run."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._said = -1
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> tuple[Callable[[int, int], None], Callable[[str], None]]:
        self._task = asyncio.ensure_future(self._relay())
        return self._progress, self._status

    async def __aexit__(self, *_exc: object) -> None:
        self._lines.put_nowait(None)  # the relay says what is queued, then ends
        if self._task is not None:
            await self._task

    async def _relay(self) -> None:
        while (line := await self._lines.get()) is not None:
            try:
                await self._report(line)
            except Exception:  # a progress line that cannot be posted never stops training
                log.warning("a retrain progress line could not be posted", exc_info=True)

    def _say(self, line: str) -> None:
        self._loop.call_soon_threadsafe(self._lines.put_nowait, line)

    def _progress(self, done: int, total: int) -> None:
        quarter = done * STEP_REPORTS // max(total, 1)
        if quarter > self._said and (quarter > 0 or done == 0):
            self._said = quarter
            self._say(f"Training: step {done}/{total}.")

    def _status(self, message: str) -> None:
        self._say(message[:1].upper() + message[1:] + ("" if message.endswith(".") else "."))
