import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dynpose100k.camera import K_from_colmap
from dynpose100k.cli import main
from dynpose100k.errors import ShardError
from dynpose100k.shards import build_sample, write_shards
from dynpose100k.shards.build import open_sample
from dynpose100k.shards.testing import write_pose_dir


@pytest.fixture
def dataset(tmp_path):
    d, frames = write_pose_dir(tmp_path / "poses", "vid_0", n=10, registered_fraction=0.8)
    write_shards([build_sample(d, frames, frame_short_side=48)], tmp_path / "ds")
    return d, tmp_path / "ds"


def test_colmap_export_reread_by_pycolmap(dataset, tmp_path):
    import pycolmap

    _, ds = dataset
    assert main(["export", str(ds), "--key", "vid_0", "--format", "colmap", "--out", str(tmp_path / "colmap")]) == 0
    s = open_sample(ds, key="vid_0")
    rec = pycolmap.Reconstruction(str(tmp_path / "colmap"))
    assert rec.num_reg_images() == 8 and rec.num_points3D() == 40
    for image_id, im in rec.images.items():
        i = image_id - 1
        np.testing.assert_allclose(im.cam_from_world().matrix(), s.w2c[i, :3], atol=1e-9)
        cam = rec.cameras[im.camera_id]
        np.testing.assert_allclose(K_from_colmap(cam.model.name, cam.params), s.K[i], atol=1e-6)
    assert rec.compute_mean_reprojection_error() < 1e-3  # observations and cameras agree
    assert (tmp_path / "colmap" / "images" / "000009.jpg").is_file()


def test_tum_export_read_by_evo(dataset, tmp_path):
    from evo.tools import file_interface

    d, _ = dataset
    assert main(["export", str(d), "--format", "tum", "--out", str(tmp_path / "tum")]) == 0
    traj = file_interface.read_tum_trajectory_file(str(tmp_path / "tum" / "vid_0.txt"))
    s = open_sample(d)
    reg = s.registered
    np.testing.assert_allclose(traj.timestamps, s.timestamps[reg])
    c2w = np.linalg.inv(s.w2c[reg])
    np.testing.assert_allclose(np.stack(traj.poses_se3), c2w, atol=1e-6)
    evo_traj = Path(sys.executable).with_name("evo_traj")
    r = subprocess.run([str(evo_traj), "tum", str(tmp_path / "tum" / "vid_0.txt")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "8 poses" in r.stdout


def test_view_writes_png_and_rrd(dataset, tmp_path):
    _, ds = dataset
    png, rrd = tmp_path / "v.png", tmp_path / "v.rrd"
    assert main(["view", str(ds), "--out", str(png), "--rrd", str(rrd)]) == 0
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.shape[0] > 500 and img.shape[1] > 1000 and img[..., :3].std() > 0.05
    assert rrd.stat().st_size > 1000 and rrd.read_bytes()[:4] == b"RRF2"


def test_view_and_export_bad_inputs(tmp_path, capsys):
    assert main(["view", str(tmp_path / "nope"), "--out", str(tmp_path / "v.png")]) == 1
    assert "nope" in capsys.readouterr().err
    video = tmp_path / "x.mp4"
    video.write_bytes(b"")
    assert main(["view", str(video), "--out", str(tmp_path / "v.png")]) == 1
    assert "--poses" in capsys.readouterr().err
    d, _ = write_pose_dir(tmp_path / "p", "v", n=4, registered_fraction=0.0)
    with pytest.raises(ShardError, match="no registered frame"):
        from dynpose100k.shards.export import export_tum

        export_tum(open_sample(d), tmp_path / "t.txt")
