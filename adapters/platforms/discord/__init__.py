"""Discord (discord.py): questions from mentions, DMs and threads the bot answers in, ratings from
raw reaction events, `/buddy`, streamed replies, and back-fill after a session is lost."""
