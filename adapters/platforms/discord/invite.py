"""The invite link: the bot and its slash command, with exactly the permissions Buddy uses."""

from __future__ import annotations

import base64
import binascii

import discord

# What each one is for: reading and answering in channels and threads, the history read for
# back-fill and for ▶️ on older messages, the 👍/👎 it seeds on answers, snippet output and long
# answers as files, and /buddy. No Embed Links: Buddy sends no embeds.
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    add_reactions=True,
    attach_files=True,
    use_application_commands=True,
)
SCOPES = ("bot", "applications.commands")


def invite_url(client_id: str) -> str:
    return discord.utils.oauth_url(client_id, permissions=PERMISSIONS, scopes=SCOPES)


def client_id_from_token(token: str) -> str | None:
    """The bot's application id, read from its token without asking Discord: a bot token's
    first segment is the bot user id (which is the application id) in base64. None when the
    token does not look like one."""
    head = token.strip().split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    text = decoded.decode("ascii", errors="replace")
    return text if text.isdigit() else None
