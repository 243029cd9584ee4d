"""slack/manifest.yaml asks for exactly what the Slack adapter uses."""

from __future__ import annotations

from pathlib import Path

import yaml

from adapters.platforms.slack.commands import COMMAND

MANIFEST = Path(__file__).parents[3] / "slack" / "manifest.yaml"

# Each scope, and the calls or events in adapters/platforms/slack that need it.
USED_SCOPES = {
    "app_mentions:read": "app_mention",
    "channels:history": "message.channels, conversations.history/replies",
    "groups:history": "message.groups, conversations.history/replies",
    "im:history": "message.im, conversations.history/replies",
    "chat:write": "chat.postMessage, chat.update",
    "reactions:read": "reaction_added, reaction_removed",
    "reactions:write": "reactions.add, reactions.remove",
    "files:write": "files.getUploadURLExternal, files.completeUploadExternal",
    "commands": "/buddy",
    "im:write": "conversations.open (an admin's export in a DM)",
}


def test_the_manifest_asks_for_exactly_the_scopes_events_and_command_used() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(USED_SCOPES)
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.channels", "message.groups", "message.im",
        "reaction_added", "reaction_removed",
    }  # fmt: skip
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND
    assert command["should_escape"] is True  # `/buddy forget @bob` arrives as <@U123|bob>
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
