import csv
import os
import pickle

import numpy as np
import pytest

from dynpose100k.camera import look_at, make_K, resize_K
from dynpose100k.cli import main
from dynpose100k.errors import ShardError
from dynpose100k.shards import iter_samples, read_manifest
from dynpose100k.shards.release import UnsafePickleError, load_release_camera, safe_load_pickle


def _release(root, n=6):
    """A miniature of the official layout: metadata.csv, uid_mapping.csv, cameras/*.pkl, frames/<uid>/*.jpg."""
    import cv2

    (root / "cameras").mkdir(parents=True)
    with open(root / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["videoID", "url", "timestamp", "caption", "matching_score"])
        w.writerow(["abc123", "https://www.youtube.com/watch?v=abc123",
                    "[['0:00:01.000', '0:00:05.500'], ['0:00:07.250', '0:00:12.000']]",
                    "['a dog runs on a beach', 'a man rides a bike']", "[0.4, 0.5]"])
    uids = ["0b1e9c2a-0000-4000-8000-000000000001", "0b1e9c2a-0000-4000-8000-000000000002"]
    with open(root / "uid_mapping.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["videoID", "clip_idx", "uid"])
        w.writerow(["abc123", 0, uids[0]])
        w.writerow(["abc123", 1, uids[1]])
    truth = {}
    for k, uid in enumerate(uids):
        w2c = np.stack([look_at([0.1 * i, 0, -3], [0, 0, 0]) for i in range(n)])
        if k == 0:  # per-frame fx, fy, cx, cy in 1280x720 pixels
            intr = np.tile([1000.0, 1000.0, 639.5, 359.5], (n, 1))
            cam = {"poses": w2c[:, :3, :].astype(np.float32), "intrinsics": intr}
            K = np.stack([make_K(*r) for r in intr])
        else:  # a single 3x3 K, one frame not registered
            K1 = make_K(900.0, 900.0, 640.0, 360.0)
            poses = w2c[:, :3, :].copy()
            poses[2] = np.nan
            cam = {"poses": poses, "K": K1}
            K = np.tile(K1, (n, 1, 1))
        (root / "cameras" / f"{uid}.pkl").write_bytes(pickle.dumps(cam))
        fd = root / "frames" / uid
        fd.mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(fd / f"{i:05d}.jpg"), np.full((72, 128, 3), 20 * i, np.uint8))
        truth[uid] = (w2c, K)
    return uids, truth


def test_import_release_miniature(tmp_path):
    uids, truth = _release(tmp_path / "rel")
    out = tmp_path / "ds"
    # the miniature's frames are 128x72: poses/K are at the 1280x720 release size and must follow
    assert main(["import-release", str(tmp_path / "rel"), "--out", str(out)]) == 0
    got = {s.key: s for s in iter_samples(out)}
    s0, s1 = got[uids[0]], got[uids[1]]
    np.testing.assert_allclose(s0.w2c, truth[uids[0]][0], atol=1e-6)
    np.testing.assert_allclose(s0.K, resize_K(truth[uids[0]][1], (720, 1280), (72, 128)))
    assert s0.meta["caption"] == "a dog runs on a beach" and s0.meta["source_start_s"] == 1.0
    np.testing.assert_allclose(s0.timestamps, 1.0 + np.arange(6) / 12)
    assert s1.meta["source_url"].endswith("abc123") and s1.meta["source_start_s"] == 7.25
    assert s1.registered.tolist() == [True, True, False, True, True, True]
    np.testing.assert_array_equal(s1.w2c[2], np.eye(4))
    assert s0.rgb(0).shape == (72, 128, 3)
    # imported clips carry no confidence: the card's example selects by registration alone (the confidence
    # rule it showed kept none of them)
    assert 'QualityRule(min_registered=0.8), input_columns="meta.json")  # no video here has a confidence' in (
        out / "README.md").read_text()
    # appending again imports nothing new
    assert main(["import-release", str(tmp_path / "rel"), "--out", str(out)]) == 0
    assert len(read_manifest(out)) == 1


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_refused_and_not_executed(tmp_path, capsys):
    uids, _ = _release(tmp_path / "rel")
    marker = tmp_path / "pwned"
    evil = tmp_path / "rel" / "cameras" / f"{uids[1]}.pkl"
    evil.write_bytes(pickle.dumps({"poses": np.zeros((2, 3, 4)), "K": _Payload(marker)}))
    with pytest.raises(UnsafePickleError, match=rf"{uids[1]}\.pkl.*(posix|os)\.system"):
        safe_load_pickle(evil)
    assert not marker.exists()
    # the importer records the clip as failed, goes on with the others, executes nothing
    assert main(["import-release", str(tmp_path / "rel"), "--out", str(tmp_path / "ds")]) == 0
    out = capsys.readouterr().out
    assert "1 failed" in out and "refused pickle global" in out and not marker.exists()
    assert [s.key for s in iter_samples(tmp_path / "ds")] == [uids[0]]


def test_camera_pickle_variants(tmp_path):
    p = tmp_path / "c.pkl"
    poses = np.tile(np.eye(4)[:3], (3, 1, 1))
    p.write_bytes(pickle.dumps({"poses": poses, "intrinsics": np.array([0.8, 1.4, 0.5, 0.5])}))
    cam = load_release_camera(p)
    np.testing.assert_allclose(cam.K[0], make_K(0.8 * 1280, 1.4 * 720, 640, 360))  # normalised intrinsics
    p.write_bytes(pickle.dumps({"poses": np.zeros((3, 2, 2)), "K": np.eye(3)}))
    with pytest.raises(ShardError, match="c.pkl.*poses must be"):
        load_release_camera(p)
    p.write_bytes(b"\x80\x04garbage")
    with pytest.raises(ShardError, match="c.pkl.*unreadable pickle"):
        load_release_camera(p)
    with pytest.raises(ShardError, match="nope.pkl: missing"):
        load_release_camera(tmp_path / "nope.pkl")
