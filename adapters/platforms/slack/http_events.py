"""`POST /slack/events` on the aiohttp server: the signature and its 5-minute window are
checked on the raw bytes before anything is parsed or stored (401 otherwise), then bolt
dispatches the request and answers after the listener has stored what it must."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def signed_by_slack(verifier: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> bool:
    """v0 HMAC-SHA256 over `v0:{timestamp}:{body}`, the timestamp within 5 minutes of now
    (either way). Missing or malformed headers are simply not signed."""
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    try:
        return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except (ValueError, TypeError, UnicodeError):
        return False


def events_endpoint(app: AsyncApp, signing_secret: str, accepting: Callable[[], bool]) -> Handler:
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not signed_by_slack(verifier, body, request.headers):
            log.warning("Slack: unsigned or stale request to %s refused", EVENTS_PATH)
            return web.Response(status=401, text="invalid signature")
        if not accepting():  # stopping: Slack retries later, and the next Buddy stores it
            return web.Response(status=503, text="stopping")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=400, text="body is not UTF-8")
        headers: dict[str, str | Sequence[str]] = {
            name.lower(): value for name, value in request.headers.items()
        }
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=headers)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    return slack_events
