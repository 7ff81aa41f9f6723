"""One id rule for pose result folders, curation item ids and shard sample keys."""

import pytest

from dynpose100k.errors import DynPoseError
from dynpose100k.ids import ID_RE, safe_id, video_id_of


@pytest.mark.parametrize("text, expected", [
    ("good_0004_s4", "good_0004_s4"),          # already an id: unchanged
    ("_dQw4w9WgXc-", "_dQw4w9WgXc-"),           # a YouTube id keeps its leading/trailing '_' and '-'
    ("clip.v2", "clip_v2"),                     # no dots: '<key>.<field>' splits at the first dot
    ("my clip (1)", "my_clip_1"),               # a run of other characters is one '_', none at the ends
    ("a..b", "a_b"),
    ("  été/2024 ", "t_2024"),
    ("../../etc", "etc"),
])
def test_safe_id_rules(text, expected):
    assert safe_id(text) == expected
    assert ID_RE.match(expected) and "." not in expected
    assert safe_id(expected) == expected  # idempotent


def test_safe_id_with_nothing_left():
    assert safe_id("???", fallback="item") == "item"
    with pytest.raises(DynPoseError, match="cannot make an id"):
        safe_id("...")


def test_synthetic_clip_names_keep_their_ids(tmp_path):
    from dynpose100k.synth import pool_plan

    for vid, _, _ in pool_plan(40, "mixed", 3) + pool_plan(5, "good", 1):
        assert video_id_of(tmp_path / f"{vid}.mp4") == vid == safe_id(vid)


def test_one_id_for_pose_folder_curation_item_and_shard_key(tmp_path):
    from dynpose100k.curate import resolve_inputs

    path = tmp_path / "My Clip.v2.mp4"
    path.write_bytes(b"")
    frames = tmp_path / "frames.dir"
    frames.mkdir()
    (item,) = resolve_inputs(path)
    assert video_id_of(path) == item.item_id == safe_id(item.item_id) == "My_Clip_v2"
    assert video_id_of(frames) == "frames_dir"
