"""Exceptions for expected failures. The CLI turns these into a one-line message and exit code 1."""


class DynPoseError(Exception):
    """An expected, user-facing failure (bad path, bad video, bad config). The message is one line."""


class VideoError(DynPoseError):
    """A video or frames folder that cannot be read: missing, not a video, truncated, too few frames.

    The message is ``"<path>: <reason>"``; ``path`` and ``reason`` are kept apart for callers that name the file
    themselves (a table row with the path in its own column)."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason

    def __reduce__(self):  # worker processes send it back pickled: rebuild from both parts
        return type(self), (self.path, self.reason)


class ShardError(DynPoseError):
    """A shard or dataset file that is malformed, foreign, truncated or unsafe."""


class CheckpointError(DynPoseError):
    """A model checkpoint whose keys or shapes do not match the model."""


class MissingExtraError(DynPoseError, ImportError):
    """An optional dependency is not installed; the message names the pip extra that provides it."""
