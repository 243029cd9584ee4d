"""Answers held to their passages: the terms they share, the units they may quote, whether a
question is answerable from what was retrieved, and whether an answer says only what its passages
say."""
