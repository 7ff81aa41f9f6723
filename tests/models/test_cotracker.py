"""CoTracker3 offline re-implementation: checkpoint loading, the Tracker adapter, the full-size layout.

Equivalence with the official code is measured outside the test suite (it needs the official package);
here a TINY randomly initialised model is built and saved by the tests themselves.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dynpose100k.models.cotracker import (  # noqa: E402
    CoTracker3Config,
    CoTrackerTracker,
    TrackerModelError,
    config_from_state_dict,
    load_cotracker,
    support_grid_points,
)

TINY = CoTracker3Config(
    window_len=8, model_resolution=(64, 96), latent_dim=16, hidden_size=32, num_heads=4, num_virtual_tracks=4,
    time_depth=2, space_depth=1, corr_hidden=32, corr_out=16, corr_levels=3, corr_radius=2,
)
# not inferable from the weights: passed to load_cotracker
TINY_SETTINGS = dict(model_resolution=TINY.model_resolution, num_heads=TINY.num_heads)


def _tiny_model(seed=0):
    from dynpose100k.models.cotracker import CoTracker3

    torch.manual_seed(seed)
    return CoTracker3(TINY).eval()


@pytest.fixture(scope="module")
def tiny():
    return _tiny_model()


@pytest.fixture(scope="module")
def tiny_ckpt(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("cotracker") / "tiny.pth"
    torch.save(tiny.state_dict(), path)
    return path


def _inputs(T=6, N=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    h, w = TINY.model_resolution
    video = torch.rand(1, T, 3, h, w, generator=g) * 255
    queries = torch.stack([torch.randint(0, T, (N,), generator=g).float(),
                           torch.rand(N, generator=g) * (w - 1), torch.rand(N, generator=g) * (h - 1)], -1)[None]
    return video, queries


def _clip(T=6, H=48, W=80, seed=0):
    """A textured grey clip panning right by 1 px per frame: (T, H, W) uint8."""
    rng = np.random.default_rng(seed)
    tex = rng.integers(0, 256, (H, W + T), dtype=np.uint8)
    return np.stack([tex[:, T - t : T - t + W] for t in range(T)])


# ---- checkpoints ---------------------------------------------------------------------------------------


def test_save_load_roundtrip_gives_identical_outputs(tiny, tiny_ckpt):
    loaded = load_cotracker(tiny_ckpt, **TINY_SETTINGS)
    assert loaded.config == TINY  # every other size read back from the weights
    assert not loaded.training
    video, queries = _inputs()
    with torch.no_grad():
        expected = tiny(video, queries, iters=3)
        got = loaded(video, queries, iters=3)
    for e, g in zip(expected, got):
        assert torch.equal(e, g)
    coords, vis, conf = got
    assert coords.shape == (1, 6, 5, 2) and vis.shape == conf.shape == (1, 6, 5)
    assert ((vis > 0) & (vis < 1)).all() and ((conf > 0) & (conf < 1)).all()


def test_checkpoint_under_model_key(tiny, tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"model": tiny.state_dict()}, path)
    loaded = load_cotracker(path, **TINY_SETTINGS)
    assert torch.equal(loaded.time_emb, tiny.time_emb)
    assert loaded.time_emb.shape == (1, TINY.window_len, TINY.input_dim)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(TrackerModelError, match="nope.pth") as e:
        load_cotracker(path)
    assert "\n" not in str(e.value)


def test_unreadable_file(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(TrackerModelError, match="garbage.pth"):
        load_cotracker(path)


@pytest.mark.parametrize("key", ["corr_mlp.fc2.bias", "time_emb", "updateformer.time_blocks.1.attn.to_q.weight"])
def test_renamed_key(tiny, tmp_path, key):
    state = dict(tiny.state_dict())
    state[key + "_renamed"] = state.pop(key)
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(TrackerModelError) as e:
        load_cotracker(path, **TINY_SETTINGS)
    msg = str(e.value)
    assert str(path) in msg and key in msg and "\n" not in msg


def test_wrong_shape(tiny, tmp_path):
    state = dict(tiny.state_dict())
    state["fnet.conv1.bias"] = state["fnet.conv1.bias"][:-1]
    path = tmp_path / "shape.pth"
    torch.save(state, path)
    with pytest.raises(TrackerModelError, match="shape.pth.*fnet.conv1.bias"):
        load_cotracker(path, **TINY_SETTINGS)


# ---- the model -----------------------------------------------------------------------------------------


def test_untrained_model_stays_near_queries(tiny):
    """Small output heads: every frame's estimate is within a pixel of its query; this checks the scaling
    between pixels and feature-map cells on the way in and out, for queries at any frame."""
    video, queries = _inputs(T=TINY.window_len, N=7, seed=1)  # T == window_len: time_emb used as is
    with torch.no_grad():
        coords, _, _ = tiny(video, queries)
    assert (coords - queries[:, None, :, 1:]).abs().max() < 1.0
    assert not torch.equal(coords[:, 0], coords[:, 1])  # but the model does act on each frame


def test_encode_then_track_equals_forward(tiny):
    video, queries = _inputs(T=3, N=4, seed=2)
    with torch.no_grad():
        pyramid = tiny.encode(video, frames_per_chunk=2)
        assert len(pyramid) == TINY.corr_levels
        assert pyramid[0].shape == (1, 3, TINY.latent_dim, 16, 24) and pyramid[2].shape[-2:] == (4, 6)
        assert torch.allclose(pyramid[0].norm(dim=2), torch.ones(1, 3, 16, 24), atol=1e-5)
        split = tiny.track(pyramid, queries, iters=2)
        whole = tiny(video, queries, iters=2)
    for a, b in zip(split, whole):
        assert torch.allclose(a, b, atol=1e-6)


def test_video_at_wrong_resolution_rejected(tiny):
    with pytest.raises(ValueError, match="model takes"):
        tiny(torch.zeros(1, 2, 3, 32, 32), torch.zeros(1, 1, 3))


# ---- the Tracker adapter -------------------------------------------------------------------------------


def test_tracker_shapes_grey_and_rgb(tiny, tiny_ckpt):
    grey = _clip()
    queries = np.array([[10.0, 12.0], [40.5, 30.25], [79.0, 47.0], [0.0, 0.0], [55.0, 20.0]], np.float32)
    tracker = CoTrackerTracker(tiny, iters=2)
    tracks, visible = tracker(grey, queries)
    assert tracks.shape == (6, 5, 2) and tracks.dtype == np.float32
    assert visible.shape == (6, 5) and visible.dtype == bool
    assert np.array_equal(tracks[0], queries) and visible[0].all()
    assert np.isfinite(tracks[visible]).all()
    # back in input pixels: an untrained model stays within a pixel or so of its queries
    assert np.abs(tracks - queries).max() < 2.0
    # RGB with equal channels is the same clip
    rgb_tracks, rgb_visible = tracker(np.repeat(grey[..., None], 3, axis=-1), queries)
    np.testing.assert_allclose(rgb_tracks, tracks, atol=1e-5)
    assert np.array_equal(rgb_visible, visible)


RELEASED_TINY = dataclasses.replace(TINY, model_resolution=(384, 512), num_heads=8)
"""The tiny sizes at the released model's resolution and heads: what a checkpoint path loads as."""


@pytest.fixture
def tiny_released_layout(tmp_path):
    """A tiny random model of :data:`RELEASED_TINY`, saved."""
    from dynpose100k.models.cotracker import CoTracker3

    torch.manual_seed(0)
    path = tmp_path / "tiny_cotracker.pth"
    torch.save(CoTracker3(RELEASED_TINY).state_dict(), path)
    return path


@pytest.fixture
def tiny_from_path(tiny_ckpt, monkeypatch):
    """The saved TINY model, which the product's paths (pose engine, benchmarks) load by file name at its own
    64x96 resolution rather than the released 384x512 one (:func:`test_tracker_from_checkpoint_path` covers
    that default): ``(path, loads)``, where ``loads`` records each load's ``(path, device)``."""
    import dynpose100k.models.cotracker as ct

    load = ct.load_cotracker
    loads = []
    monkeypatch.setattr(ct, "load_cotracker", lambda path, device="auto", **k: loads.append((str(path), device))
                        or load(path, device, **{**TINY_SETTINGS, **k}))
    return tiny_ckpt, loads


def test_tracker_from_checkpoint_path(tiny_released_layout):
    """A path is loaded with the released model's resolution (384x512), which a checkpoint cannot tell."""
    from dynpose100k.models.cotracker import CoTracker3

    path = tiny_released_layout
    model = CoTracker3(RELEASED_TINY).eval()
    model.load_state_dict(torch.load(path, weights_only=True))
    grey, queries = _clip(T=2), np.array([[30.0, 20.0]], np.float32)
    tracks, visible = CoTrackerTracker(path, iters=1)(grey, queries)
    expected, _ = CoTrackerTracker(model, iters=1)(grey, queries)
    np.testing.assert_array_equal(tracks, expected)
    assert tracks.shape == (2, 1, 2) and visible[0].all()


def test_tracker_chunks(tiny, tiny_ckpt):
    grey = _clip(T=4, seed=3)
    queries = np.random.default_rng(0).uniform([0, 0], [79, 47], (7, 2)).astype(np.float32)
    whole = CoTrackerTracker(load_cotracker(tiny_ckpt, **TINY_SETTINGS), iters=2)(grey, queries)
    same = CoTrackerTracker(tiny, iters=2)(grey, queries)
    np.testing.assert_array_equal(whole[0], same[0])
    chunked, vis = CoTrackerTracker(tiny, iters=2, max_queries=3)(grey, queries)
    assert chunked.shape == (4, 7, 2) and vis.shape == (4, 7)
    assert np.array_equal(chunked[0], queries) and vis[0].all()
    # chunks are tracked apart (tracks interact through attention), so results differ slightly, not much
    assert np.abs(chunked - whole[0]).max() < 0.5


def test_tracker_visibility_rule(tiny):
    grey = _clip(T=3)
    queries = np.array([[20.0, 20.0], [60.0, 10.0]], np.float32)
    _, none_visible = CoTrackerTracker(tiny, iters=1, threshold=1.0)(grey, queries)
    _, all_visible = CoTrackerTracker(tiny, iters=1, threshold=0.0)(grey, queries)
    assert none_visible[0].all() and not none_visible[1:].any()
    assert all_visible.all()


def test_tracker_empty_queries(tiny):
    tracks, visible = CoTrackerTracker(tiny)(_clip(T=3), np.zeros((0, 2), np.float32))
    assert tracks.shape == (3, 0, 2) and visible.shape == (3, 0)


def test_support_grid_points():
    pts = support_grid_points(6, (384, 512))
    assert pts.shape == (36, 2) and pts.dtype == np.float32
    np.testing.assert_allclose(pts[0], [8, 8])  # margin W / 64
    np.testing.assert_allclose(pts[-1], [504, 376])
    assert pts[1, 0] > pts[0, 0] and pts[1, 1] == pts[0, 1]  # row by row, x first
    assert support_grid_points(0, (384, 512)).shape == (0, 2)


# ---- the full-size model -------------------------------------------------------------------------------


def test_full_size_layout():
    from dynpose100k.models.cotracker import CoTracker3

    model = CoTracker3()
    # the official CoTrackerThreeOffline (window_len 60) has exactly this many parameters and 188 entries
    assert sum(p.numel() for p in model.parameters()) == 25_385_700
    state = model.state_dict()
    assert len(state) == 188
    assert {k.split(".")[0] for k in state} == {"fnet", "updateformer", "corr_mlp", "time_emb"}
    assert state["time_emb"].shape == (1, 60, 1110)
    assert state["corr_mlp.fc1.weight"].shape == (384, 49 * 49)
    assert state["updateformer.input_transform.weight"].shape == (384, 1110)
    assert state["updateformer.virual_tracks"].shape == (1, 64, 1, 384)
    assert state["fnet.conv2.weight"].shape == (256, 416, 3, 3)
    for key in ("updateformer.space_virtual2point_blocks.2.norm_context.weight",
                "updateformer.space_point2virtual_blocks.0.cross_attn.to_kv.weight",
                "updateformer.vis_conf_head.bias", "fnet.layer2.0.downsample.0.weight"):
        assert key in state
    assert config_from_state_dict(state) == CoTracker3Config()


def test_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import dynpose100k.models.cotracker as m\n"
        "from dynpose100k.errors import MissingExtraError\n"
        "assert m.CoTracker3Config().input_dim == 1110\n"
        "try:\n    m.CoTracker3\nexcept MissingExtraError as e:\n    print('ok', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok") and "dynpose100k[models]" in out.stdout


# ---- through the pose engine and the CLI ----------------------------------------------------------------


def test_pose_engine_tracks_with_the_learned_tracker(tiny_from_path, synth_good, tmp_path, monkeypatch):
    """``PoseConfig(tracker="cotracker3")``: the weights load once per process, the tracker is handed RGB
    windows of ``config.window`` frames (decoded while tracking), and the result records the tracker."""
    import dynpose100k.models.cotracker as ct
    from dynpose100k.pose import PoseConfig, load_pose_result, pose_video, tracking

    path, loads = tiny_from_path
    tracking._cotracker.cache_clear()
    windows = []
    call = ct.CoTrackerTracker.__call__
    monkeypatch.setattr(ct.CoTrackerTracker, "__call__", lambda self, f, q: windows.append(f.shape) or call(self, f, q))
    config = PoseConfig(tracker="cotracker3", tracker_model=str(path), window=8, window_stride=6)
    for _ in range(2):
        res = load_pose_result(pose_video(synth_good.video, tmp_path / "poses", config, overwrite=True))
    assert [p for p, _ in loads] == [str(path)]  # once for both clips
    assert windows and all(len(s) == 4 and s[-1] == 3 and 2 <= s[0] <= 8 for s in windows)
    assert res.config["tracker"] == "cotracker3" and res.num_frames == 24
    tracking._cotracker.cache_clear()


def test_learned_tracker_settings_and_missing_weights_are_one_line_errors(tmp_path, synth_good, capsys):
    from dynpose100k.cli import main
    from dynpose100k.errors import DynPoseError
    from dynpose100k.pose import PoseConfig

    with pytest.raises(DynPoseError, match="needs its weights"):
        PoseConfig(tracker="cotracker3")
    with pytest.raises(DynPoseError, match="unknown tracker"):
        PoseConfig(tracker="raft")
    missing = tmp_path / "nowhere" / "scaled_offline.pth"
    out = tmp_path / "poses"
    assert main(["pose", str(synth_good.video), "--out", str(out), "--preset", "cotracker3-own-12fps",
                 "--tracker-model", str(missing)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0]
    assert not out.exists()

    from dynpose100k.curate import Stages  # the curator refuses to start too, before any item runs

    with pytest.raises(DynPoseError, match="nowhere"):
        Stages(pose_root="p", staging_dir="s", pose_config=PoseConfig(tracker="cotracker3",
                                                                      tracker_model=str(missing))).check()


def test_the_curators_check_loads_the_tracker_on_the_cpu_and_keeps_no_copy(tiny_from_path, tmp_path):
    """The curator poses nothing itself: its start-up check loads a learned tracker on the CPU and drops it
    (its workers load their own), while ``pose``'s check keeps the one it will use."""
    from dynpose100k.curate import Stages
    from dynpose100k.errors import DynPoseError
    from dynpose100k.pose import PoseConfig, tracking

    path, loads = tiny_from_path
    tracking._cotracker.cache_clear()
    config = PoseConfig(tracker="cotracker3", tracker_model=str(path), device="cuda")
    Stages(pose_root="p", staging_dir="s", pose_config=config).check()
    assert [d for _, d in loads] == ["cpu"] and tracking._cotracker.cache_info().currsize == 0
    tracking.check_models(PoseConfig(tracker="cotracker3", tracker_model=str(path), device="cpu"))
    assert tracking._cotracker.cache_info().currsize == 1  # kept for the clips of this process
    tracking._cotracker.cache_clear()
    broken = tmp_path / "broken.pth"
    broken.write_text("not weights")
    with pytest.raises(DynPoseError, match="broken.pth"):
        Stages(pose_root="p", staging_dir="s",
               pose_config=PoseConfig(tracker="cotracker3", tracker_model=str(broken))).check()


def test_auto_device_is_the_gpu_when_there_is_one(monkeypatch):
    from dynpose100k.models import torch_device

    assert torch_device("cuda:1") == "cuda:1" and torch_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_device("auto") == "cuda"


def test_bench_pose_runs_ours_with_the_learned_tracker(tiny_from_path, tmp_path, monkeypatch):
    """``bench pose --preset cotracker3-own-12fps --tracker-model PATH``: ours is posed with that preset (the
    tracker sees every clip), the JSON records it; weights that do not load stop it before any clip."""
    import dynpose100k.models.cotracker as ct
    from dynpose100k.bench import pose as bench
    from dynpose100k.errors import DynPoseError
    from dynpose100k.pose import tracking

    tracking._cotracker.cache_clear()
    calls = []
    call = ct.CoTrackerTracker.__call__
    monkeypatch.setattr(ct.CoTrackerTracker, "__call__", lambda self, f, q: calls.append(1) or call(self, f, q))
    monkeypatch.setattr(bench, "_timing_10s", lambda quick, preset, overrides: [])
    small = [dict(seed=s, hard=False, height=96, width=160, duration=1.5, set="heldout", style="a") for s in (0, 1)]
    monkeypatch.setattr(bench, "_clips", lambda quick, sets, clips, seed: small)
    r = bench.run(tmp_path, quick=True, baselines=False, sets=("heldout",), preset="cotracker3-own-12fps",
                  tracker_model=str(tiny_from_path[0]), device="cpu")
    assert r["preset"] == "cotracker3-own-12fps" and len(r["videos"]) == 2 and calls
    with pytest.raises(DynPoseError, match="nothing_here"):
        bench.run(tmp_path, quick=True, baselines=False, sets=("heldout",), preset="cotracker3-own-12fps",
                  tracker_model=str(tmp_path / "nothing_here.pth"))
    tracking._cotracker.cache_clear()


def test_bench_tracks_measures_the_learned_tracker_beside_lucas_kanade(tiny_from_path, tmp_path, monkeypatch):
    """``bench tracks --preset cotracker3-own-12fps --tracker-model PATH``: both trackers on the same clips,
    scored against the truth; weights that do not load stop it before any clip."""
    from dynpose100k.bench import pose as bench_pose
    from dynpose100k.bench import tracks
    from dynpose100k.errors import DynPoseError
    from dynpose100k.pose import tracking

    tracking._cotracker.cache_clear()
    small = [dict(seed=0, hard=False, height=96, width=160, duration=1.5, set="heldout", style="a")]
    monkeypatch.setattr(bench_pose, "_clips", lambda quick, sets, clips, seed: small)
    r = tracks.run(tmp_path, sets=("heldout",), clips=1, preset="cotracker3-own-12fps",
                   tracker_model=str(tiny_from_path[0]), device="cpu")
    assert r["trackers"] == ["klt-own-12fps", "cotracker3-own-12fps"]
    row = r["videos"][0]
    assert row["klt-own-12fps"]["static_tracks"] > 0 and "median_px_1" in row["cotracker3-own-12fps"]
    with pytest.raises(DynPoseError, match="nothing_here"):
        tracks.run(tmp_path, sets=("heldout",), clips=1, preset="cotracker3-own-12fps",
                   tracker_model=str(tmp_path / "nothing_here.pth"))
    tracking._cotracker.cache_clear()
