"""Slack: Socket Mode or the HTTP Events API through slack-bolt, replies through the Web API.

`service.SlackService` is what `buddy serve` runs; `translate` and `mrkdwn` are the pure
translation at the edge (Slack payloads to domain commands, Markdown to mrkdwn)."""
