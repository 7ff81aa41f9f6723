"""Import the official DynPose-100K release layout into dynpose100k shards (a converter: it writes shards only).

Expected layout (what the public release provides once frames are extracted)::

    <release>/metadata.csv        Panda-70M style: videoID, url, timestamp (list of [start, end]),
                                  caption (list of strings), one row per source video
    <release>/uid_mapping.csv     one row per clip: video id, clip index (into the lists above), uid
    <release>/cameras/<uid>.pkl   dict with ``poses`` (N, 3, 4) world-to-camera [R|t] (OpenCV axes), and
                                  intrinsics as ``intrinsics`` (N, 4) / (4,) = fx, fy, cx, cy or ``K``
                                  (N, 3, 3) / (3, 3)
    <release>/frames/<uid>/*.jpg  frames extracted at 12 fps (sorted by name), optional

Assumptions (stated because the release does not spell all of them out): intrinsics are in pixels of the
1280x720 release frames with OpenCV's pixel-centre convention; intrinsics whose values are all <= 2 are
taken as normalised by width/height; frame i is at ``clip start + i / 12`` s; poses with non-finite
values mark unregistered frames. Pickles are read with an allow-list unpickler that only rebuilds numpy
arrays, dtypes and scalars: anything else (a code-executing payload included) is refused before it runs.
"""

from __future__ import annotations

import ast
import csv
import io
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..camera import make_K, make_w2c, resize_K
from ..errors import DynPoseError, ShardError
from ..ids import safe_id
from .schema import VideoSample
from .writer import DatasetWriter, ShardConfig, WriteResult

logger = logging.getLogger(__name__)

RELEASE_HW = (720, 1280)
RELEASE_FPS = 12.0

_ALLOWED = {
    (mod, name)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
}


class UnsafePickleError(ShardError):
    """A pickle that references something other than numpy array reconstruction."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, source: Path):
        super().__init__(io.BytesIO(data))
        self.source = source

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(f"{self.source}: refused pickle global {module}.{name} "
                                "(only numpy arrays/dtypes/scalars are allowed)")


def safe_load_pickle(path) -> object:
    """Unpickle ``path`` allowing only numpy array reconstruction (plus plain containers and literals)."""
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"{path}: missing")
    try:
        return _NumpyOnlyUnpickler(path.read_bytes(), path).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError) as e:
        raise ShardError(f"{path}: unreadable pickle ({type(e).__name__}: {e})") from None


@dataclass(frozen=True)
class ReleaseCamera:
    """Cameras of one release clip, converted to the project convention."""

    w2c: np.ndarray
    """``(N, 4, 4)`` float64 world-to-camera (identity where the release pose is not finite)."""
    K: np.ndarray
    """``(N, 3, 3)`` float64 in pixels of the 1280x720 release frames."""
    registered: np.ndarray
    """``(N,)`` bool: the release pose is finite."""


def load_release_camera(path, release_hw: tuple[int, int] = RELEASE_HW) -> ReleaseCamera:
    """Read ``cameras/<uid>.pkl`` (see the module docstring for the accepted keys)."""
    path = Path(path)
    d = safe_load_pickle(path)
    if not isinstance(d, dict) or "poses" not in d:
        raise ShardError(f"{path}: expected a dict with 'poses' (got {type(d).__name__})")
    poses = np.asarray(d["poses"], np.float64)
    if poses.ndim != 3 or poses.shape[1:] not in ((3, 4), (4, 4)):
        raise ShardError(f"{path}: poses must be (N, 3, 4) or (N, 4, 4), got {poses.shape}")
    n = len(poses)
    if "intrinsics" in d:
        intr = np.asarray(d["intrinsics"], np.float64)
        intr = np.broadcast_to(intr, (n, 4)) if intr.shape in ((4,), (1, 4), (n, 4)) else None
        if intr is None:
            raise ShardError(f"{path}: intrinsics must be (4,) or (N, 4) = fx, fy, cx, cy")
        if np.all(np.abs(intr) <= 2.0):  # normalised by width/height
            intr = intr * np.array([release_hw[1], release_hw[0], release_hw[1], release_hw[0]])
        K = np.stack([make_K(fx, fy, cx, cy) for fx, fy, cx, cy in intr])
    elif "K" in d:
        K = np.asarray(d["K"], np.float64)
        if K.shape == (3, 3):
            K = np.tile(K, (n, 1, 1))
        if K.shape != (n, 3, 3):
            raise ShardError(f"{path}: K must be (3, 3) or (N, 3, 3), got {K.shape}")
    else:
        raise ShardError(f"{path}: no 'intrinsics' or 'K' entry")
    ok = np.isfinite(poses).all(axis=(1, 2))
    w2c = np.tile(np.eye(4), (n, 1, 1))
    w2c[ok] = make_w2c(poses[ok, :3, :3], poses[ok, :3, 3])
    return ReleaseCamera(w2c=w2c, K=np.array(K), registered=ok)


@dataclass(frozen=True)
class ReleaseClip:
    """One clip of the release index."""

    uid: str
    video_id: str
    clip_index: int
    url: str | None
    start_s: float | None
    end_s: float | None
    caption: str | None


def _col(row: dict, names: tuple[str, ...], path: Path):
    low = {k.strip().lower().replace(" ", "_"): v for k, v in row.items() if k}
    for n in names:
        if n in low:
            return low[n]
    raise ShardError(f"{path}: no column among {names} (found {sorted(low)})")


def _seconds(value: str) -> float:
    from ..video import parse_timestamp

    return float(parse_timestamp(value))


def read_release_index(release_dir) -> list[ReleaseClip]:
    """Join ``uid_mapping.csv`` with ``metadata.csv`` -> one ``ReleaseClip`` per uid."""
    root = Path(release_dir)
    meta_path, map_path = root / "metadata.csv", root / "uid_mapping.csv"
    for p in (meta_path, map_path):
        if not p.is_file():
            raise ShardError(f"{p}: missing (not a DynPose-100K release folder)")
    videos = {}
    with open(meta_path, newline="") as f:
        for row in csv.DictReader(f):
            vid = _col(row, ("videoid", "video_id"), meta_path)
            try:
                stamps = ast.literal_eval(_col(row, ("timestamp", "timestamps"), meta_path) or "[]")
                caps = ast.literal_eval(_col(row, ("caption", "captions"), meta_path) or "[]")
            except (ValueError, SyntaxError) as e:
                raise ShardError(f"{meta_path}: unparsable timestamp/caption list for {vid} ({e})") from None
            videos[vid] = (_col(row, ("url",), meta_path), stamps, caps)
    clips = []
    with open(map_path, newline="") as f:
        for row in csv.DictReader(f):
            uid = _col(row, ("uid", "uuid"), map_path)
            vid = _col(row, ("videoid", "video_id"), map_path)
            idx = int(_col(row, ("clip_idx", "clip_index", "clip_id", "clip"), map_path))
            url, stamps, caps = videos.get(vid, (None, [], []))
            window = stamps[idx] if idx < len(stamps) else (None, None)
            clips.append(ReleaseClip(
                uid=uid, video_id=vid, clip_index=idx, url=url,
                start_s=_seconds(window[0]) if window[0] is not None else None,
                end_s=_seconds(window[1]) if window[1] is not None else None,
                caption=caps[idx] if idx < len(caps) else None,
            ))
    return clips


def _clip_sample(root: Path, clip: ReleaseClip, frame_short_side: int | None, release_hw) -> VideoSample:
    from ..video import load_clip
    from .build import resize_frames
    from .schema import encode_jpeg

    cam = load_release_camera(root / "cameras" / f"{clip.uid}.pkl", release_hw)
    n = len(cam.w2c)
    frames_dir = root / "frames" / clip.uid
    jpegs, hw = [], release_hw
    if frames_dir.is_dir():
        frames = load_clip(frames_dir, fps=None, source_fps=RELEASE_FPS).frames
        if len(frames) != n:
            raise ShardError(f"{frames_dir}: {len(frames)} frames for {n} poses")
        frames = resize_frames(frames, frame_short_side)
        hw = frames.shape[1:3]
        jpegs = [encode_jpeg(f) for f in frames]
    K = resize_K(cam.K, release_hw, hw)
    start = clip.start_s or 0.0
    return VideoSample(
        key=safe_id(clip.uid), w2c=cam.w2c, K=K, registered=cam.registered,
        timestamps=start + np.arange(n) / RELEASE_FPS, frames=jpegs,
        meta={
            "video_id": clip.uid, "source_url": clip.url, "source_start_s": clip.start_s,
            "source_end_s": clip.end_s, "caption": clip.caption, "num_frames": n,
            "registered_fraction": float(cam.registered.mean()) if n else 0.0, "fps": RELEASE_FPS,
            "frame_size": [int(hw[0]), int(hw[1])] if jpegs else None,
            "pose_size": [int(release_hw[0]), int(release_hw[1])], "preset": "official-release",
        },
    )


@dataclass(frozen=True)
class ImportResult:
    """Outcome of :func:`import_release`."""

    write: WriteResult
    """What was written."""
    failed: tuple[tuple[str, str], ...]
    """``(uid, reason)`` for clips that could not be imported."""


def import_release(release_dir, out_dir, *, frame_short_side: int | None = None, limit: int | None = None,
                   config: ShardConfig = ShardConfig(), release_hw: tuple[int, int] = RELEASE_HW) -> ImportResult:
    """Convert a release folder into shards of a dataset directory (appending; uids already present are
    skipped). The dataset card is written by the caller (``builder.card.write_card``).

    A clip that fails (missing or refused pickle, frame count mismatch) is recorded and skipped.
    """
    from tqdm import tqdm

    root = Path(release_dir)
    clips = read_release_index(root)[:limit]
    failed = []
    with DatasetWriter(out_dir, config) as w:
        for clip in tqdm(clips, desc="import", unit="clip"):
            if safe_id(clip.uid) in w.keys:
                continue
            try:
                w.add(_clip_sample(root, clip, frame_short_side, release_hw))
            except DynPoseError as e:
                failed.append((clip.uid, str(e)))
                logger.warning("%s: skipped (%s)", clip.uid, e)
    return ImportResult(w.close(), tuple(failed))
