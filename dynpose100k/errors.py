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


def check_range(option: str, value, low=None, high=None, *, low_open: bool = False, high_open: bool = False) -> None:
    """A setting's ``value`` within ``[low, high]`` (``low_open`` / ``high_open``: the bound itself excluded;
    None: no bound), else a one-line DynPoseError naming it (``option``: a config field or a command-line
    option); NaN is never within. An unset value (None) passes."""
    if value is None:
        return
    ok = value == value  # NaN is not
    ok = ok and (low is None or (value > low if low_open else value >= low))
    ok = ok and (high is None or (value < high if high_open else value <= high))
    if ok:
        return
    if high is None:
        want = f"above {low:g}" if low_open else f"at least {low:g}"
    elif low is None:
        want = f"below {high:g}" if high_open else f"at most {high:g}"
    else:
        want = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise DynPoseError(f"{option} must be {want}, got {value:g}")
