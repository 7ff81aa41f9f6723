"""Turn what a user points the curation runner at into work items.

Accepted inputs:

- a video file, a frames folder, a directory (its clips and its subfolders' clips, as
  :func:`dynpose100k.video.expand_inputs` finds them for every command) or a glob pattern;
- a list file (``.txt``/``.lst``): one video path per line, relative to the list file, ``#`` comments;
- a Panda-70M style CSV (columns ``videoID``, ``url``, ``timestamp``, optional ``caption``), where
  ``timestamp`` is a list of clip windows like ``[['0:00:00.000', '0:00:05.005'], ...]``. Its videos are
  looked up in a local folder laid out as video2dataset's ``files`` output writes it: shard folders
  (``00000/``) holding ``<key>.mp4`` next to ``<key>.json``, whose JSON has the source ``url`` (and any
  saved extra columns such as ``videoID``). A sidecar without ``clips`` is a whole source video and each
  window is read from it by time; a sidecar with ``clips: [[start, end]]`` is an already cut clip and serves
  the CSV window with the same bounds. A ``url`` that is a video file on this machine (absolute, or relative
  to the CSV's folder, as ``dynpose100k shots`` writes it) is read directly.

Every clip window is one :class:`WorkItem` with a stable id (:func:`dynpose100k.ids.safe_id`:
``<videoID>_<clipidx>`` for CSV rows; otherwise :func:`dynpose100k.ids.unique_ids`, the ids ``pose`` and
``filter`` give the same clips). Rows that cannot be parsed and
rows whose video is missing become items with ``error`` set, so they are recorded as failed instead of
stopping the run.
"""

from __future__ import annotations

import ast
import csv
import glob
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ..errors import DynPoseError
from ..ids import safe_id, unique_ids
from ..video import VIDEO_EXTS, expand_inputs, searched_for, source_of

__all__ = ["WorkItem", "InputError", "resolve_inputs", "read_panda_csv", "index_video_root"]

log = logging.getLogger(__name__)

_WINDOW_TOL_S = 0.05


class InputError(DynPoseError):
    """The curation input itself (path, glob, list or CSV) cannot be used."""


@dataclass(frozen=True)
class WorkItem:
    """One clip window to curate."""

    item_id: str
    """Stable id without dots: the sample key in the shards and the pose result folder name."""
    path: str
    """Video file to decode ("" when the input could not be resolved)."""
    start: float | None = None
    """Window start (seconds from the start of ``path``); None: from the beginning."""
    end: float | None = None
    """Window end (seconds); None: to the end."""
    meta: dict = field(default_factory=dict, hash=False, compare=False)
    """Source metadata carried into the shard sample (``videoID``, ``url``, ``caption``, ``timestamp``)."""
    error: str | None = None
    """Why this item cannot be processed (malformed CSV row, missing video); None when it is runnable."""


def _file_items(paths: list[Path]) -> list[WorkItem]:
    """Items of video files or frames folders; ``meta["bytes"]`` and ``meta["digest"]``: their size and content
    digest (:func:`~dynpose100k.video.source_of`), which tell a clip from another one given the same id in a
    later run."""
    items = []
    for i, p in zip(unique_ids(paths), paths):
        src = source_of(p)
        items.append(WorkItem(i, str(p.resolve()), meta={"source": str(p), "bytes": src["bytes"],
                                                           "digest": src["digest"]}))
    return items


def _youtube_id(url: str) -> str | None:
    u = urlparse(url)
    if "v" in parse_qs(u.query):
        return parse_qs(u.query)["v"][0]
    if u.netloc.endswith("youtu.be") and u.path.strip("/"):
        return u.path.strip("/")
    return None


def index_video_root(root: Path) -> dict[str, list[tuple[Path, tuple[float, float] | None]]]:
    """Map each source id (url, ``videoID``, YouTube id from the url) to the videos of a video2dataset
    ``files`` folder: ``(mp4 path, (start, end) of an already cut clip or None for a whole video)``."""
    from ..video import parse_timestamp

    index: dict[str, list] = {}
    for sidecar in sorted(Path(root).rglob("*.json")):
        video = next((sidecar.with_suffix(e) for e in VIDEO_EXTS if sidecar.with_suffix(e).is_file()), None)
        if video is None:
            continue
        try:
            meta = json.loads(sidecar.read_text())
            span = None
            if meta.get("clips"):
                s, e = meta["clips"][0]
                span = (parse_timestamp(s), parse_timestamp(e))
        except (ValueError, TypeError, KeyError, IndexError, DynPoseError) as exc:
            log.warning("ignoring unreadable sidecar %s: %s", sidecar, exc)
            continue
        url = str(meta.get("url") or "")
        names = {url, str(meta.get("videoID") or ""), _youtube_id(url) or ""} - {""}
        for name in names:
            index.setdefault(name, []).append((video, span))
    return index


def _find_window(index, row_ids: list[str], start: float, end: float):
    """(path, start, end) to decode for a CSV window, or None when no local video serves it."""
    whole = None
    for rid in row_ids:
        for path, span in index.get(rid, []):
            if span is None:
                whole = whole or (str(path.resolve()), start, end)
            elif abs(span[0] - start) <= _WINDOW_TOL_S and abs(span[1] - end) <= _WINDOW_TOL_S:
                return str(path.resolve()), None, None
    return whole


def _local_video(url: str, folder: Path) -> str | None:
    """The video file a CSV ``url`` names on this machine (absolute, or relative to the CSV's ``folder``, as
    ``dynpose100k shots`` writes it), resolved; None for a web address or no such file."""
    if not url or "://" in url or Path(url).suffix.lower() not in VIDEO_EXTS:
        return None
    path = folder / url  # an absolute url stays itself
    return str(path.resolve()) if path.is_file() else None


def _captions(text: str | None, windows: int) -> list[str]:
    """A row's captions, one per window: Panda-70M's list literal, or one plain caption for every window."""
    if not text:
        return [""] * windows
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        parsed = text
    if isinstance(parsed, (list, tuple)):
        return [str(c) for c in parsed[:windows]] + [""] * max(0, windows - len(parsed))
    return [str(parsed)] * windows


def read_panda_csv(csv_path: Path, video_root: Path | None = None) -> list[WorkItem]:
    """Work items for every clip window of a Panda-70M style CSV (see the module docstring)."""
    try:
        return _read_panda_csv(Path(csv_path), video_root)
    except UnicodeDecodeError as e:
        raise InputError(f"{csv_path}: not UTF-8 text (byte {e.start}); save the CSV as UTF-8") from None


def _read_panda_csv(csv_path: Path, video_root: Path | None) -> list[WorkItem]:
    from ..video import parse_timestamp

    root = Path(video_root) if video_root is not None else csv_path.parent
    if not root.is_dir():
        raise InputError(f"{root}: video root is not a directory")
    index = None  # the folder's sidecars, read when a row first needs them (not for local files alone)
    items: list[WorkItem] = []
    seen: dict[str, int] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"videoID", "url", "timestamp"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{csv_path}: not a Panda-70M style CSV (missing columns {sorted(missing)})")
        for lineno, row in enumerate(reader, start=2):
            vid = (row.get("videoID") or "").strip()
            url = (row.get("url") or "").strip()
            base = safe_id(vid, fallback="item") if vid else f"row{lineno}"
            try:
                windows = ast.literal_eval(row["timestamp"] or "")
                if not isinstance(windows, (list, tuple)) or not windows:
                    raise ValueError("timestamp is not a non-empty list of [start, end]")
                spans = [(parse_timestamp(s), parse_timestamp(e)) for s, e in windows]
                if any(e <= s for s, e in spans):
                    raise ValueError("a window ends before it starts")
                if not vid and not url:
                    raise ValueError("row has neither videoID nor url")
                if base in seen:
                    raise ValueError(f"videoID {vid} repeats row {seen[base]}")
                captions = _captions(row.get("caption"), len(spans))
            except (ValueError, TypeError, SyntaxError, DynPoseError) as exc:
                reason = f"input: malformed CSV row {lineno} of {csv_path.name}: {str(exc).splitlines()[0]}"
                items.append(WorkItem(f"{base}_row{lineno}" if vid else base, "", meta={"url": url, "videoID": vid},
                                      error=reason))
                continue
            seen[base] = lineno
            row_ids = [x for x in (url, vid, _youtube_id(url) or "") if x]
            local = _local_video(url, csv_path.parent)
            for ci, ((s, e), raw) in enumerate(zip(spans, windows)):
                meta = {
                    "videoID": vid, "url": url, "timestamp": [str(raw[0]), str(raw[1])],
                    "caption": captions[ci],
                }
                if local:
                    found = (local, s, e)
                else:
                    index = index_video_root(root) if index is None else index
                    found = _find_window(index, row_ids, s, e)
                if found is None:
                    items.append(WorkItem(f"{base}_{ci}", "", s, e, meta,
                                          error=f"input: video for {vid or url} window {ci} not found under {root}"))
                else:
                    items.append(WorkItem(f"{base}_{ci}", found[0], found[1], found[2], meta))
    return items


def resolve_inputs(spec: str | Path, csv_video_root: Path | None = None) -> list[WorkItem]:
    """Work items for a video file, directory, glob pattern, list file or Panda-70M CSV. Raises
    :class:`InputError` when the input matches nothing."""
    p = Path(spec)
    if p.is_file() and p.suffix.lower() == ".csv":
        items = read_panda_csv(p, csv_video_root)
    elif p.is_file() and p.suffix.lower() in (".txt", ".lst"):
        try:
            lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as e:
            raise InputError(f"{p}: not UTF-8 text (byte {e.start}); save the list as UTF-8") from None
        items = _file_items([(p.parent / ln) for ln in lines if ln and not ln.startswith("#")])
    elif p.is_file():
        items = _file_items([p])
    elif p.is_dir():
        items = _file_items(expand_inputs([p]))
    else:
        items = _file_items(sorted(Path(x) for x in glob.glob(str(spec), recursive=True)  # videos, not what lies beside
                                   if Path(x).is_file() and Path(x).suffix.lower() in VIDEO_EXTS))
    if not items:
        raise InputError(f"{spec}: no videos found (expected a video, folder, glob, .txt list or Panda-70M .csv; "
                         f"folders and globs are searched for {searched_for()})")
    return items
