"""The few errors the rest of Buddy speaks; adapters translate library exceptions into these."""


class BuddyError(Exception):
    """Base of every error Buddy reports to a user."""


class ConcurrencyError(BuddyError):
    """An append lost the race: the stream is no longer at the expected version."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        super().__init__(
            f"stream {stream_id!r} is at version {actual_version}, expected {expected_version}"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class StoreUnavailable(BuddyError):
    """The database cannot be reached or refused the operation."""


class InvalidEvent(BuddyError):
    """An event that cannot be stored or read back (bad type, bad payload, unknown version)."""


class ConfigurationError(BuddyError):
    """Settings that cannot work together, or a missing component."""


class ModelUnavailable(BuddyError):
    """The language model cannot be reached or is not installed; says which and where."""


class GenerationFailed(BuddyError):
    """The model was reached but did not produce an answer (error, timeout, cancelled)."""


class AdapterRejected(BuddyError):
    """An adapter that must not be served: missing, corrupt, for another base, or it crashed."""

    def __init__(self, adapter_path: object, reason: str) -> None:
        super().__init__(f"adapter {adapter_path} rejected: {reason}")
        self.reason = reason
