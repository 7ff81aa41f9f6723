"""Frame-pair training data for DUSt3R from per-video records.

A *video record* is a plain dict (the layout of :func:`dynpose100k.shards.reader.decode_for_training`):

* ``key``: video id; ``frames``: ``(N, H, W, 3)`` uint8 RGB or a list of such arrays or of JPEG bytes;
* ``w2c`` ``(N, 4, 4)`` world-to-camera (OpenCV axes); ``K`` ``(N, 3, 3)`` in pixels of the stored frames;
* ``registered`` ``(N,)`` bool (optional, all true when absent);
* ``track_points`` ``(P, 3)`` static points (world) and ``track_obs`` ``(Q, 4)`` ``[track, frame, u, v]``
  (``None`` when the source has no tracks: only pose supervision is possible then).

A training pair ``(i, j)`` has gap ``|j - i|`` in ``1..max_gap`` with probability proportional to the gap
(larger gaps favoured). Each frame is scaled (random extra zoom up to ``scale_aug``: the focal-scale crop
augmentation) and cropped to the model size, with ``K`` following every step (:func:`camera.resize_K`,
:func:`camera.crop_K`). Ground truth is sparse: the static points observed in a frame are projected with its
pose and cropped ``K``, scattered into an ``(H, W, 3)`` map of camera-1 coordinates (nearest point wins) plus
a valid mask. ``T21`` is the camera-2-to-camera-1 transform (``w2c_1 @ inv(w2c_2)``) for the pose term.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from .. import camera
from ..errors import DynPoseError

__all__ = ["PairConfig", "SupervisionError", "gap_probabilities", "record_from_synth", "record_from_shard",
           "shard_sample_from_record", "check_record", "make_pair", "sample_pair", "resize_crop", "crop_geometry",
           "sparse_pointmap", "PairDataset", "ShardPairStream", "collate_pairs", "symmetrize"]

log = logging.getLogger(__name__)


class SupervisionError(DynPoseError):
    """A video record that cannot supervise the requested training (e.g. no static tracks)."""


@dataclass(frozen=True)
class PairConfig:
    """How training pairs are drawn and prepared."""

    size: tuple[int, int] = (288, 512)
    """Model input ``(H, W)``, multiples of the patch size (512x288 keeps 16:9 video)."""
    max_gap: int = 9
    """Largest frame gap; gaps ``1..max_gap`` are drawn with probability proportional to the gap."""
    scale_aug: float = 1.2
    """Extra random zoom factor in ``[1, scale_aug]`` before the random crop (1 disables)."""
    pose_only: bool = False
    """Accept records without static tracks (only the relative-pose term then supervises)."""
    min_valid: int = 16
    """Resample a pair (up to 5 tries) whose sparse ground truth has fewer valid pixels in a view."""


def gap_probabilities(max_gap: int) -> np.ndarray:
    """``(max_gap,)`` probabilities of gaps ``1..max_gap``, proportional to the gap."""
    g = np.arange(1, max_gap + 1, dtype=np.float64)
    return g / g.sum()


# ------------------------------------------------------------------ record sources
def record_from_synth(video, *, keyframe_step: int = 3, grid_step: int = 6, depth_tol: float = 0.02) -> dict:
    """A record from a :class:`dynpose100k.synth.SynthVideo`. Static tracks come from the exact depth:
    static pixels on a grid of every ``keyframe_step``-th frame are lifted to world points, which are observed
    in every frame where they project in front of the visible surface (relative depth test ``depth_tol``)
    and not on a moving object."""
    gt = video.gt
    N, H, W = gt.depth.shape
    pts = []
    for f in range(0, N, keyframe_step):
        v, u = np.mgrid[grid_step // 2:H:grid_step, grid_step // 2:W:grid_step].reshape(2, -1)
        d = gt.depth[f, v, u]
        keep = (d > 0) & ~gt.dynamic_mask[f, v, u]
        pts.append(camera.unproject(gt.K[f], gt.w2c[f], np.c_[u[keep], v[keep]], d[keep]))
    X = np.concatenate(pts)
    obs = []
    for f in range(N):
        uv, z = camera.project(gt.K[f], gt.w2c[f], X)
        ui, vi = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
        ok = (z > 0) & (ui >= 0) & (ui < W) & (vi >= 0) & (vi < H)
        idx = np.flatnonzero(ok)
        dd = gt.depth[f, vi[idx], ui[idx]]
        vis = (np.abs(dd - z[idx]) < depth_tol * z[idx]) & ~gt.dynamic_mask[f, vi[idx], ui[idx]]
        idx = idx[vis]
        obs.append(np.c_[idx, np.full(len(idx), f), uv[idx]])
    return {
        "key": gt.video_id, "frames": video.frames, "w2c": gt.w2c, "K": gt.K,
        "registered": np.ones(N, bool), "track_points": X.astype(np.float32),
        "track_obs": np.concatenate(obs).astype(np.float32),
    }


def record_from_shard(sample) -> dict:
    """A record from a shard sample: a :class:`dynpose100k.shards.schema.VideoSample` or the dict of
    :func:`dynpose100k.shards.reader.decode_for_training` (frames may stay JPEG bytes)."""
    if isinstance(sample, dict):
        return sample
    return {"key": sample.key, "frames": sample.frames, "w2c": sample.w2c, "K": sample.K,
            "registered": sample.registered, "track_points": sample.track_points, "track_obs": sample.track_obs}


def shard_sample_from_record(rec: dict, fps: float = 12.0):
    """A :class:`dynpose100k.shards.schema.VideoSample` from a record (e.g. rendered videos written as shards)."""
    from ..shards.schema import VideoSample, encode_jpeg

    n = len(rec["w2c"])
    frames = [f if isinstance(f, (bytes, bytearray)) else encode_jpeg(np.asarray(f)) for f in rec["frames"]]
    key = str(rec.get("key", "video"))
    tp = rec.get("track_points")
    return VideoSample(key=key, w2c=np.asarray(rec["w2c"], np.float64), K=np.asarray(rec["K"], np.float64),
                       registered=_registered(rec), timestamps=np.arange(n) / fps,
                       meta={"video_id": key, "num_frames": n, "fps": fps,
                             "num_static_tracks": 0 if tp is None else len(tp)},
                       frames=frames, track_points=rec.get("track_points"), track_obs=rec.get("track_obs"))


def check_record(rec: dict, pose_only: bool = False) -> None:
    """Raise :class:`SupervisionError` when ``rec`` cannot supervise training."""
    key = rec.get("key", "<video>")
    n = len(rec["w2c"])
    if rec.get("frames") is None or len(rec["frames"]) == 0:
        raise SupervisionError(f"{key}: no frames (a poses-only dataset; shard it with its videos to train on it)")
    if len(rec["frames"]) != n or len(rec["K"]) != n:
        raise SupervisionError(f"{key}: {len(rec['frames'])} frames, {n} poses, {len(rec['K'])} intrinsics")
    if int(np.sum(_registered(rec))) < 2:
        raise SupervisionError(f"{key}: fewer than 2 registered frames")
    tp, to = rec.get("track_points"), rec.get("track_obs")
    if (tp is None or to is None or len(tp) == 0 or len(to) == 0) and not pose_only:
        raise SupervisionError(f"{key}: no static tracks, so no sparse pointmap supervision; use pose-only "
                               "supervision (PairConfig.pose_only=True / data.pose_only: true)")


def _registered(rec) -> np.ndarray:
    r = rec.get("registered")
    return np.ones(len(rec["w2c"]), bool) if r is None else np.asarray(r, bool)


def _rgb(rec: dict, i: int) -> np.ndarray:
    f = rec["frames"][i]
    if isinstance(f, (bytes, bytearray)):
        img = cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise SupervisionError(f"{rec.get('key', '<video>')}: frame {i} is not a decodable image")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.asarray(f)


# ------------------------------------------------------------------ pair construction
def resize_crop(img: np.ndarray, K: np.ndarray, size: tuple[int, int], zoom: float = 1.0,
                offset: tuple[float, float] = (0.5, 0.5)) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``img`` to cover ``size=(H, W)`` times ``zoom`` and crop at relative ``offset`` in ``[0, 1]^2``
    (0.5, 0.5 = centre). Returns the crop and its ``K``."""
    H, W = img.shape[:2]
    h2, w2, x0, y0 = crop_geometry((H, W), size, zoom, offset)
    interp = cv2.INTER_AREA if h2 < H else cv2.INTER_LINEAR
    out = cv2.resize(img, (w2, h2), interpolation=interp) if (h2, w2) != (H, W) else img
    K2 = camera.crop_K(camera.resize_K(K, (H, W), (h2, w2)), x0, y0)
    return out[y0:y0 + size[0], x0:x0 + size[1]], K2


def crop_geometry(src_hw, size, zoom: float = 1.0, offset=(0.5, 0.5)) -> tuple[int, int, int, int]:
    """Resized ``(h2, w2)`` and crop corner ``(x0, y0)`` used by :func:`resize_crop`."""
    H, W = src_hw
    s = max(size[0] / H, size[1] / W) * zoom
    h2, w2 = max(size[0], int(round(H * s))), max(size[1], int(round(W * s)))
    return h2, w2, int(round((w2 - size[1]) * offset[0])), int(round((h2 - size[0]) * offset[1]))


def sparse_pointmap(X_world: np.ndarray, w2c_view: np.ndarray, K_view: np.ndarray, w2c_ref: np.ndarray,
                    size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Scatter static points ``(M, 3)`` seen by a view into ``(H, W, 3)`` camera-``ref`` coordinates and a
    ``(H, W)`` valid mask; the nearest point wins a pixel."""
    H, W = size
    pts, valid = np.zeros((H, W, 3), np.float32), np.zeros((H, W), bool)
    if len(X_world) == 0:
        return pts, valid
    uv, z = camera.project(K_view, w2c_view, X_world)
    ui, vi = np.round(uv[:, 0]).astype(np.int64), np.round(uv[:, 1]).astype(np.int64)
    ok = np.flatnonzero((z > 0) & (ui >= 0) & (ui < W) & (vi >= 0) & (vi < H))
    ok = ok[np.argsort(-z[ok])]  # far first, so nearer points overwrite
    pts[vi[ok], ui[ok]] = camera.transform_points(w2c_ref, X_world[ok])
    valid[vi[ok], ui[ok]] = True
    return pts, valid


def _observed(rec: dict, frame: int) -> np.ndarray:
    obs = rec.get("track_obs")
    if obs is None or len(obs) == 0:
        return np.zeros((0, 3))
    tid = np.unique(obs[obs[:, 1].astype(np.int64) == frame, 0].astype(np.int64))
    return np.asarray(rec["track_points"], np.float64)[tid]


def make_pair(rec: dict, i: int, j: int, cfg: PairConfig, rng: np.random.Generator) -> dict:
    """One training pair ``(i, j)`` of ``rec`` as numpy arrays: ``img1``/``img2`` ``(3, H, W)`` float32 in
    ``[-1, 1]``, ``true_shape1``/``2`` ``(2,)``, ``pts1``/``pts2`` ``(H, W, 3)`` float32 in camera 1's frame,
    ``valid1``/``2`` ``(H, W)`` bool, ``K1``/``K2`` ``(3, 3)`` of the crops, ``T21`` ``(4, 4)``."""
    out = {}
    w2c = np.asarray(rec["w2c"], np.float64)
    for n, f in ((1, i), (2, j)):
        zoom = rng.uniform(1.0, max(1.0, cfg.scale_aug))
        img, Kc = resize_crop(_rgb(rec, f), np.asarray(rec["K"][f], np.float64), cfg.size, zoom, tuple(rng.random(2)))
        pts, valid = sparse_pointmap(_observed(rec, f), w2c[f], Kc, w2c[i], cfg.size)
        out[f"img{n}"] = (img.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)
        out[f"true_shape{n}"] = np.array(cfg.size, np.int64)
        out[f"pts{n}"], out[f"valid{n}"], out[f"K{n}"] = pts, valid, Kc
    out["T21"] = camera.relative_pose(w2c[j], w2c[i])
    out["frames"] = np.array([i, j], np.int64)
    return out


def sample_pair(rec: dict, cfg: PairConfig, rng: np.random.Generator) -> dict:
    """Draw a pair from ``rec`` (registered frames only, gap favouring larger values) and build it."""
    reg = np.flatnonzero(_registered(rec))
    p = gap_probabilities(cfg.max_gap)
    best = None
    for _ in range(5):
        i = int(rng.choice(reg))
        gap = int(rng.choice(np.arange(1, cfg.max_gap + 1), p=p)) * (1 if rng.random() < 0.5 else -1)
        cand = reg[(reg != i) & (np.abs(reg - i) <= abs(gap))]
        if len(cand) == 0:
            continue
        j = int(cand[np.argmin(np.abs(cand - (i + gap)))])
        pair = make_pair(rec, i, j, cfg, rng)
        n = min(pair["valid1"].sum(), pair["valid2"].sum())
        if best is None or n > best[0]:
            best = (n, pair)
        if cfg.pose_only or n >= cfg.min_valid:
            break
    if best is None:
        raise SupervisionError(f"{rec.get('key', '<video>')}: no frame pair within gap {cfg.max_gap}")
    return best[1]


class PairDataset(torch.utils.data.Dataset):
    """Map-style dataset of ``length`` random pairs drawn from ``records`` (dicts or zero-argument callables
    returning a dict, for lazy loading). Item ``k`` of epoch ``e`` is deterministic given ``seed``."""

    def __init__(self, records: Sequence[dict | Callable[[], dict]], cfg: PairConfig, length: int, seed: int = 0):
        self.records, self.cfg, self.length, self.seed, self.epoch = list(records), cfg, length, seed, 0
        for r in self.records:
            if isinstance(r, dict):
                check_record(r, cfg.pose_only)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, k: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, k])
        r = self.records[int(rng.integers(len(self.records)))]
        rec = r() if callable(r) else r
        check_record(rec, self.cfg.pose_only)
        return sample_pair(rec, self.cfg, rng)


class ShardPairStream(torch.utils.data.IterableDataset):
    """Pairs streamed from WebDataset shards (:func:`dynpose100k.shards.reader.make_pipeline`, resampled):
    ``pairs_per_video`` pairs per video, mixed through a buffer of ``buffer`` pairs; at most ``video_buffer``
    videos (frames kept as JPEG bytes) are held per worker, which bounds memory. Videos that
    cannot supervise (see :func:`check_record`) are skipped with a warning, never stopping the run. Each
    process and worker draws its own stream; set ``seed`` differently on resume for fresh pairs."""

    def __init__(self, source, cfg: PairConfig, epoch_videos: int, pairs_per_video: int = 4, buffer: int = 16,
                 seed: int = 0, video_buffer: int = 8):
        self.source, self.cfg, self.epoch_videos = source, cfg, epoch_videos
        self.ppv, self.buffer, self.seed, self.video_buffer = pairs_per_video, buffer, seed, video_buffer

    def __iter__(self):
        from ..shards.reader import make_pipeline

        info = torch.utils.data.get_worker_info()
        dist = torch.distributed
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        wid = rank * 1000 + (0 if info is None else info.id)  # every process and worker draws its own stream
        rng = np.random.default_rng([self.seed, wid])
        pipe = make_pipeline(self.source, resampled=True, epoch_samples=self.epoch_videos, decode_frames=False,
                             seed=self.seed * 100003 + wid, shuffle=self.video_buffer)
        buf, used, seen, why = [], 0, 0, ""
        for raw in pipe:
            rec = record_from_shard(raw)
            seen += 1
            try:
                check_record(rec, self.cfg.pose_only)
                buf.extend(sample_pair(rec, self.cfg, rng) for _ in range(self.ppv))
            except DynPoseError as e:
                log.warning("skipping video: %s", e)
                why = str(e)
                continue
            used += 1
            while len(buf) >= self.buffer:
                yield buf.pop(int(rng.integers(len(buf))))
        if seen and not used:  # a whole epoch of videos none of which can supervise: no pair will ever come
            raise DynPoseError(f"{self.source}: none of the {seen} videos drawn can supervise training "
                               f"(the last: {why})")
        rng.shuffle(buf)
        yield from buf


def collate_pairs(items: list[dict]) -> dict:
    """Stack pair dicts into a batch of tensors."""
    return {k: torch.as_tensor(np.stack([it[k] for it in items])) for k in items[0]}


def _transform(T: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bij,bhwj->bhwi", T[:, :3, :3], p) + T[:, None, None, :3, 3]


def symmetrize(batch: dict) -> dict:
    """Append every pair swapped (view 2 first) to the batch: ``[pairs..., swapped pairs...]``. The swapped
    ground truth is re-expressed in the new first camera, and ``T21`` is inverted."""
    T = batch["T21"].double()
    Tinv = torch.linalg.inv(T)
    sw = dict(batch)
    for a, b in (("img1", "img2"), ("true_shape1", "true_shape2"), ("valid1", "valid2"), ("K1", "K2")):
        sw[a], sw[b] = batch[b], batch[a]
    Tf = Tinv.to(batch["pts1"].dtype)
    sw["pts1"] = _transform(Tf, batch["pts2"]) * batch["valid2"][..., None]
    sw["pts2"] = _transform(Tf, batch["pts1"]) * batch["valid1"][..., None]
    sw["T21"] = Tinv.to(batch["T21"].dtype)
    sw["frames"] = batch["frames"].flip(-1)
    return {k: torch.cat([batch[k], sw[k]]) for k in batch}
