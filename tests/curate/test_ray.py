
import curate_fakes
import pytest
from curate_fakes import fake_stages
from test_runner import _shard_keys, _status

from dynpose100k.curate import CurateConfig, RayEngine, curate

ray = pytest.importorskip("ray")
from ray import cloudpickle  # noqa: E402


def test_ray_engine_matches_local_engine(make_pool, tmp_path):
    pool = make_pool(["good_a", "static_b", "lowreg_c", "good_d", "walk_e", "zoom_f"])
    local, rayed = tmp_path / "local", tmp_path / "ray"
    check = ("slowzoom",)  # the pose check's route runs in Ray's workers too
    curate(pool, CurateConfig(out=local, workers=2), stages=fake_stages(local, pose_check=check), progress=False)
    cloudpickle.register_pickle_by_value(curate_fakes)  # Ray workers do not see the tests folder
    try:
        curate(pool, CurateConfig(out=rayed, engine="ray"), stages=fake_stages(rayed, pose_check=check),
               engine=RayEngine(num_cpus=2), progress=False)
    finally:
        ray.shutdown()
        cloudpickle.unregister_pickle_by_value(curate_fakes)
    assert _status(local) == _status(rayed)
    keys = sorted(_shard_keys(rayed / "dynpose-100k"))
    assert keys == sorted(_shard_keys(local / "dynpose-100k")) == ["good_a", "good_d", "walk_e"]

