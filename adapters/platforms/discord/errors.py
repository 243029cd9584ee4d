"""Discord's exceptions in Buddy's words, at the edge: the rest of Buddy sees only BuddyError."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import discord

from domain.errors import BuddyError, ConfigurationError

# What a REST call or the gateway can raise: Discord said no (HTTPException, with Forbidden and
# NotFound), the connection failed (aiohttp, OSError) or nothing came back in time.
TRANSIENT = (discord.DiscordException, aiohttp.ClientError, OSError, asyncio.TimeoutError)


class DiscordUnavailable(BuddyError):
    """Discord could not be reached or refused a call; says which call and why."""


class DiscordLoginFailed(ConfigurationError):
    """Discord rejected the bot token (DISCORD_TOKEN)."""


@asynccontextmanager
async def discord_call(what: str) -> AsyncIterator[None]:
    """Run one call to Discord; its failure becomes DiscordUnavailable naming `what`."""
    try:
        yield
    except discord.LoginFailure as error:
        raise DiscordLoginFailed(f"Discord rejected the bot token: {error}") from error
    except TRANSIENT as error:
        raise DiscordUnavailable(f"Discord: {what} failed: {describe(error)}") from error


def describe(error: BaseException) -> str:
    """Why a call failed, without its URL (which names channels, messages and interaction
    tokens): this text is logged."""
    if isinstance(error, discord.HTTPException):
        return f"HTTP {error.status} {error.text or error.__class__.__name__}".strip()
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP {error.status} {error.message or error.__class__.__name__}".strip()
    if isinstance(error, aiohttp.InvalidURL):
        return error.__class__.__name__
    return str(error) or error.__class__.__name__
