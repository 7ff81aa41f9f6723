"""Ids of videos: one rule for pose result folder names, curation item ids and shard sample keys.

An id is made of ``[A-Za-z0-9_-]`` only (no dots, so ``<id>.<field>`` tar member names split at the first
dot, and no path separators). :func:`safe_id` turns any text into one: each run of other characters inside
the text becomes a single ``_``, runs at its ends are dropped. Text that is already an id is returned
unchanged (so synthetic clip names such as ``good_0004_s4`` and YouTube ids keep their id), and
``safe_id(safe_id(x)) == safe_id(x)``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import DynPoseError

__all__ = ["ID_RE", "safe_id", "unique_ids", "video_id_of"]

ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
"""What a valid id (and shard sample key) matches."""
_UNSAFE = "[^A-Za-z0-9_-]+"


def safe_id(text: str, fallback: str | None = None) -> str:
    """The id of ``text`` (see the module docstring). When no allowed character is left, ``fallback`` if
    given, else :class:`~dynpose100k.errors.DynPoseError`."""
    s = re.sub(_UNSAFE, "_", re.sub(f"^{_UNSAFE}|{_UNSAFE}$", "", str(text)))
    if s:
        return s
    if fallback is not None:
        return fallback
    raise DynPoseError(f"cannot make an id from {str(text)!r}: it has no letter, digit, '_' or '-'")


def video_id_of(path: str | Path, fallback: str | None = None) -> str:
    """Id of a video file (from its stem) or frames folder (from its name); ``fallback`` as for
    :func:`safe_id`."""
    p = Path(path)
    return safe_id(p.name if p.is_dir() else p.stem, fallback)


def unique_ids(paths) -> list[str]:
    """The ids of the clips ``paths`` in order (:func:`video_id_of`, ``"video"`` when nothing of the name is
    left), made unique: among clips of one id, in the order of their full paths (not of ``paths``, so naming
    the same clips in another order gives each the same id), the first keeps it, the second gets
    ``<id>_1``, the third ``<id>_2`` (``a.mp4`` beside ``a.mov``, or ``clip.mp4`` in two subfolders), so no
    clip's results overwrite another's."""
    paths = list(paths)
    base = [video_id_of(p, fallback="video") for p in paths]
    out = list(base)
    taken = set(base)
    seen: set[str] = set()
    for i in sorted(range(len(paths)), key=lambda k: str(Path(paths[k]).resolve())):
        if base[i] not in seen:
            seen.add(base[i])
            continue
        n, candidate = 1, f"{base[i]}_1"
        while candidate in taken:
            n += 1
            candidate = f"{base[i]}_{n}"
        taken.add(candidate)
        out[i] = candidate
    return out
