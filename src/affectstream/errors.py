"""The one exception type for errors a user can cause and fix, and its kinds."""


class AffectStreamError(Exception):
    """A problem with the user's input, settings or model files; the message says what to do."""


class SourceError(AffectStreamError):
    """A source that stopped part-way; `frames_read` frames were delivered before the damage."""

    def __init__(self, message: str, frames_read: int = 0):
        super().__init__(message)
        self.frames_read = frames_read


class WriteError(AffectStreamError):
    """An output that could not be written or finished (disk full, I/O error, no permission)."""
