import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pose_fixtures import write_pose_dir

from dynpose100k.camera import K_from_colmap
from dynpose100k.cli import main
from dynpose100k.errors import ShardError
from dynpose100k.shards import build_sample, write_shards
from dynpose100k.shards.build import open_sample


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
    # the same export again is fine; into a folder holding other images it is refused, not mixed in
    assert main(["export", str(ds), "--key", "vid_0", "--format", "colmap", "--out", str(tmp_path / "colmap")]) == 0
    (tmp_path / "colmap" / "images" / "000099.jpg").write_bytes(b"x")
    assert main(["export", str(ds), "--key", "vid_0", "--format", "colmap", "--out", str(tmp_path / "colmap")]) == 1


def test_colmap_export_shared_camera_real_errors_and_colours(dataset, tmp_path):
    import dataclasses

    import pycolmap

    from dynpose100k.camera import project
    from dynpose100k.shards.export import export_colmap

    _, ds = dataset
    s = open_sample(ds, key="vid_0")
    obs = s.track_obs.copy()
    obs[:, 2:] += np.random.default_rng(0).normal(0, 0.7, (len(obs), 2))  # observation noise: errors > 0
    noisy = dataclasses.replace(s, track_obs=obs)
    rec = pycolmap.Reconstruction(str(export_colmap(noisy, tmp_path / "shared")))
    assert rec.num_cameras() == 1 and {im.camera_id for im in rec.images.values()} == {1}
    # each point's ERROR is its mean reprojection error over the registered views, computed here independently
    reg = s.registered
    for p in rec.points3D.values():
        t = int(np.argmin(np.linalg.norm(s.track_points - p.xyz, axis=1)))
        mine = obs[(obs[:, 0] == t) & reg[obs[:, 1].astype(int)]]
        errs = [np.linalg.norm(project(s.K[int(f)], s.w2c[int(f)], s.track_points[t:t + 1])[0][0] - uv)
                for _, f, *uv in mine]
        assert p.error == pytest.approx(np.mean(errs), rel=1e-3, abs=1e-4)
    assert 0.3 < rec.compute_mean_reprojection_error() < 2.0
    colours = np.array([p.color for p in rec.points3D.values()])
    assert len(np.unique(colours, axis=0)) > 5  # sampled from the frames, not one grey

    K = s.K.copy()
    K[:, 0, 0] *= np.linspace(1.0, 1.2, len(K))  # zooming: intrinsics differ per frame
    rec = pycolmap.Reconstruction(str(export_colmap(dataclasses.replace(s, K=K), tmp_path / "zoom")))
    assert rec.num_cameras() == reg.sum()
    for image_id, im in rec.images.items():
        cam = rec.cameras[im.camera_id]
        np.testing.assert_allclose(K_from_colmap(cam.model.name, cam.params), K[image_id - 1], atol=1e-6)


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


def test_view_fits_the_cameras_not_far_points(dataset, tmp_path, monkeypatch):
    """Far scene points must not shrink the trajectory to a dot: the 3D view is fitted to the cameras."""
    import dataclasses

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from dynpose100k.camera import camera_centers
    from dynpose100k.shards.view import plot_sample

    _, ds = dataset
    s = open_sample(ds, key="vid_0")
    far = np.random.default_rng(0).uniform(-40, 40, (200, 3)).astype(np.float32)
    s = dataclasses.replace(s, track_points=np.r_[s.track_points, far])
    seen = {}
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (seen.setdefault("fig", fig), save(fig, *a, **k)))
    plot_sample(s, tmp_path / "v.png")
    ax = next(a for a in seen["fig"].axes if a.name == "3d")
    side = ax.get_xlim()[1] - ax.get_xlim()[0]
    c = camera_centers(s.w2c[s.registered])
    spread = np.ptp(c, axis=0).max()
    assert spread / side > 0.4, (spread, side)  # the trajectory fills much of the view (was 4%)
    for lim, coord in zip((ax.get_xlim(), ax.get_ylim(), ax.get_zlim()), (c[:, 0], c[:, 2], -c[:, 1])):
        assert lim[0] <= coord.min() and coord.max() <= lim[1]
    pts = ax.collections[0]._offsets3d  # scene points shown as context: those inside the view only
    assert 0 < len(pts[0]) < len(s.track_points)
    conf = s.meta.get("confidence")  # the title names the quality flag users filter on
    assert f"confidence {'n/a' if conf is None else f'{conf:.2f}'}, reproj" in ax.get_title()


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
