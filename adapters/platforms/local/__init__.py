"""The local channel: the terminal as a chat platform (`buddy ask`, `buddy chat`)."""
