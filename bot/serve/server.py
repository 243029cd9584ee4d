"""`buddy serve`: the chat platforms that have credentials, the HTTP server (`/healthz`,
`/readyz`, `/metrics`, `/slack/events`) and the answer worker, in one process, stopped
gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.bootstrap import Services, bootstrap
from bot.serve.metrics import ServeMetrics, metrics_handler, readyz_handler
from bot.serve.worker import AnswerWorker
from bot.settings import Settings
from domain.inbound import PlatformService

if TYPE_CHECKING:
    from domain.answering import AnswerQuestion
    from domain.language import LanguageModel
    from domain.sandbox import Sandbox

log = logging.getLogger(__name__)
DRAIN_S = 30.0  # in-flight answers get this long to finish; the rest resume on the next start


def platform_services(settings: Settings) -> list[PlatformService]:
    """One service per platform whose credentials are set."""
    found: list[PlatformService] = []
    if settings.slack_bot_token:
        from adapters.platforms.slack.service import SlackService

        found.append(
            SlackService(
                settings.slack_bot_token.get_secret_value(),
                signing_secret=_secret(settings.slack_signing_secret),
                app_token=_secret(settings.slack_app_token),
                api_url=settings.slack_api_url,
            )
        )
    if settings.discord_token:
        from adapters.platforms.discord.service import DiscordService

        found.append(
            DiscordService(
                settings.discord_token.get_secret_value(), api_url=settings.discord_api_url
            )
        )
    return found


async def serve(
    settings: Settings, *, model: LanguageModel | None = None, sandbox: Sandbox | None = None,
    platforms: list[PlatformService] | None = None, stop: asyncio.Event | None = None,
) -> None:  # fmt: skip
    """Run until SIGTERM/SIGINT (or `stop`, in process). `model`, `sandbox` and `platforms`
    replace the configured ones: a test runs the whole server with fakes."""
    from bot.operations.index import refresh_index
    from bot.serve.scheduled_jobs import start_scheduler

    async with bootstrap(settings, model=model, sandbox=sandbox) as services:
        await refresh_index(services)
        # Loaded now, not at the first question: the first answer is not slow, a model that
        # cannot load fails the start, and /healthz can say which version is served.
        await services.served_model()
        if platforms is None:
            platforms = platform_services(settings)
        answerers: dict[str, AnswerQuestion] = {}
        metrics = ServeMetrics(services)
        await metrics.start()
        worker = AnswerWorker(services.outbox, answerers, started=metrics.note_platform)

        for service in platforms:
            answerer = await services.answerer(service.platform)
            answerers[service.name] = answerer
            service.bind(await services.inbound_handlers(answerer, service.name, worker.wake))
        app = web.Application()
        app.router.add_get("/healthz", _healthz(services, platforms))
        app.router.add_get("/readyz", readyz_handler(services, platforms))
        app.router.add_get("/metrics", metrics_handler(metrics))
        for service in platforms:
            await service.start(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        # The learning loop's jobs (milestones, retention, rollback); None with BUDDY_SCHEDULER=0.
        scheduler = start_scheduler(services)
        _announce(platforms, runner)
        worker_task = asyncio.create_task(worker.run())
        # Hot-swap: serve the registry's version as soon as it moves (promote, rollback); a
        # model set by the caller stays.
        watcher = (
            asyncio.create_task(services.model_serving().watch(settings.model_watch_s))
            if model is None
            else None
        )
        try:
            await _until_stopped(stop)
        finally:
            if watcher is not None:
                watcher.cancel()
            if scheduler is not None:
                await scheduler.stop()  # first: no training starts while the rest stops
            await _shut_down(platforms, worker, worker_task, runner)
            await services.outbox.close()  # this replica's claims go, once nothing is sent


def _healthz(services: Services, platforms: list[PlatformService]) -> Any:
    async def healthz(_request: web.Request) -> web.Response:
        pending = len(await services.outbox.pending())
        names = [service.name for service in platforms]
        served = await services.served_model()
        return web.json_response({"status": "ok", "platforms": names, "pending_replies": pending,
                                  "model_version": served.model_version})  # fmt: skip

    return healthz


def _announce(platforms: list[PlatformService], runner: web.AppRunner) -> None:
    names = (
        ", ".join(
            f"{service.name} ({service.transport})"
            if hasattr(service, "transport")
            else service.name
            for service in platforms
        )
        or "none (no credentials set)"
    )
    addresses = ", ".join(f"http://{host}:{port}" for host, port, *_ in _addresses(runner))
    sys.stderr.write(f"serving platforms: {names}; listening on {addresses}\n")
    sys.stderr.flush()


def _addresses(runner: web.AppRunner) -> list[tuple[Any, ...]]:
    found = []
    for site in runner.sites:
        server = getattr(site, "_server", None)
        for sock in getattr(server, "sockets", None) or []:
            found.append(sock.getsockname())
    return found


async def _until_stopped(stopped: asyncio.Event | None) -> None:
    if stopped is None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    sys.stderr.write("stopping: finishing answers in flight\n")


async def _shut_down(
    platforms: list[PlatformService], worker: AnswerWorker, worker_task: asyncio.Task[None],
    runner: web.AppRunner,
) -> None:  # fmt: skip
    for service in platforms:
        try:
            await service.stop()
        except Exception:  # one platform failing to stop must not keep the others up
            log.exception("stopping %s failed", service.name)
    left = await worker.drain(DRAIN_S)
    if left:
        log.warning("%d answers did not finish; they resume on the next start", left)
    worker_task.cancel()
    await runner.cleanup()


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
