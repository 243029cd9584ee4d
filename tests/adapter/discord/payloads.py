"""Discord API objects as JSON, the shapes discord.py parses: users, messages, a guild with a
text channel and a thread, reactions and application command interactions."""

from __future__ import annotations

import itertools
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000
_START_MS = 1_764_000_000_000  # late 2025: snowflakes that look like today's
_ids = itertools.count(1)

JSON = dict[str, Any]


def snowflake() -> str:
    """A new id, larger than every earlier one (history `after=` compares them)."""
    return str(((_START_MS - DISCORD_EPOCH_MS + next(_ids)) << 22) | 1)


BOT_ID = snowflake()
APP_ID = BOT_ID  # a bot's application id is its user id
OWNER_ID = snowflake()
ALICE_ID = snowflake()
BOB_ID = snowflake()
OTHER_BOT_ID = snowflake()
GUILD_ID = snowflake()
CHANNEL_ID = snowflake()  # #general, a text channel
THREAD_ID = snowflake()  # a thread under #general, started by alice
BOT_THREAD_ID = snowflake()  # a thread under #general, started by the bot
DM_CHANNEL_ID = snowflake()
TIMESTAMP = "2026-11-23T12:00:00.000000+00:00"


def user(user_id: str, name: str, *, bot: bool = False) -> JSON:
    return {"id": user_id, "username": name, "discriminator": "0", "global_name": name,
            "avatar": None, "bot": bot}  # fmt: skip


BOT = user(BOT_ID, "buddy", bot=True)
ALICE = user(ALICE_ID, "alice")
BOB = user(BOB_ID, "bob")
OTHER_BOT = user(OTHER_BOT_ID, "otherbot", bot=True)
USERS = {u["id"]: u for u in (BOT, ALICE, BOB, OTHER_BOT)}


def application() -> JSON:
    return {"id": APP_ID, "name": "Buddy", "description": "", "icon": None, "bot_public": True,
            "bot_require_code_grant": False, "owner": user(OWNER_ID, "owner"),
            "verify_key": "00", "flags": 0}  # fmt: skip


def message(
    channel_id: str, author: JSON, content: str, *, message_id: str | None = None,
    guild_id: str | None = GUILD_ID, reference: str | None = None, nonce: str | None = None,
    attachments: list[JSON] | None = None,
) -> JSON:  # fmt: skip
    mentions = [USERS[uid] for uid in USERS if f"<@{uid}>" in content or f"<@!{uid}>" in content]
    data: JSON = {
        "id": message_id or snowflake(), "channel_id": channel_id, "author": author,
        "content": content, "timestamp": TIMESTAMP, "edited_timestamp": None, "tts": False,
        "mention_everyone": False, "mentions": mentions, "mention_roles": [],
        "attachments": attachments or [], "embeds": [], "pinned": False,
        "type": 19 if reference else 0, "flags": 0, "components": [],
    }  # fmt: skip
    if guild_id is not None:
        data["guild_id"] = guild_id
    if reference is not None:
        data["message_reference"] = {"message_id": reference, "channel_id": channel_id}
    if nonce is not None:
        data["nonce"] = nonce
    return data


def text_channel() -> JSON:
    return {"id": CHANNEL_ID, "type": 0, "guild_id": GUILD_ID, "name": "general", "position": 0,
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
            "last_message_id": None, "rate_limit_per_user": 0}  # fmt: skip


def thread(thread_id: str = THREAD_ID, owner_id: str = ALICE_ID) -> JSON:
    metadata = {"archived": False, "auto_archive_duration": 1440, "archive_timestamp": TIMESTAMP,
                "locked": False}  # fmt: skip
    return {"id": thread_id, "type": 11, "guild_id": GUILD_ID, "parent_id": CHANNEL_ID,
            "owner_id": owner_id, "name": "rollbacks", "message_count": 0, "member_count": 2,
            "rate_limit_per_user": 0, "flags": 0, "last_message_id": None,
            "thread_metadata": metadata}  # fmt: skip


def guild() -> JSON:
    everyone = {"id": GUILD_ID, "name": "@everyone", "permissions": "8", "position": 0,
                "color": 0, "hoist": False, "managed": False, "mentionable": False}  # fmt: skip
    return {"id": GUILD_ID, "name": "team", "unavailable": False, "owner_id": OWNER_ID,
            "roles": [everyone], "emojis": [], "stickers": [], "features": [],
            "member_count": 3, "members": [], "channels": [text_channel()],
            "threads": [thread(), thread(BOT_THREAD_ID, BOT_ID)], "voice_states": [],
            "presences": [], "large": False,
            "joined_at": TIMESTAMP, "preferred_locale": "en-US"}  # fmt: skip


def member(who: JSON) -> JSON:
    return {"user": who, "roles": [], "joined_at": TIMESTAMP, "deaf": False, "mute": False,
            "flags": 0, "permissions": "8"}  # fmt: skip


def reaction(
    message_id: str, user_id: str, emoji: str, *, channel_id: str = CHANNEL_ID,
    guild_id: str | None = GUILD_ID,
) -> JSON:  # fmt: skip
    data: JSON = {"user_id": user_id, "channel_id": channel_id, "message_id": message_id,
                  "emoji": {"id": None, "name": emoji}, "type": 0, "burst": False}  # fmt: skip
    if guild_id is not None:
        data["guild_id"] = guild_id
        data["member"] = member(USERS[user_id])
    return data


def slash_command(subcommand: str, options: list[JSON] | None = None, *, who: JSON = ALICE) -> JSON:
    """An INTERACTION_CREATE for `/buddy <subcommand>` in #general."""
    command = {"id": snowflake(), "name": "buddy", "type": 1,
               "options": [{"name": subcommand, "type": 1, "options": options or []}]}  # fmt: skip
    return {"id": snowflake(), "application_id": APP_ID, "type": 2, "data": command,
            "guild_id": GUILD_ID, "channel_id": CHANNEL_ID, "channel": text_channel(),
            "member": member(who), "token": f"token-{snowflake()}", "version": 1,
            "app_permissions": "8", "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": GUILD_ID},
            "context": 0, "attachment_size_limit": 8_388_608}  # fmt: skip
