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


def test_clips_of_one_folder_get_distinct_ids_everywhere(tmp_path):
    """``a.mp4`` beside ``a.mov`` and ``clip.mp4`` in two shard folders: distinct ids (no result overwrites
    another's), and the same ones whichever command lists the folder."""
    from dynpose100k.curate import resolve_inputs
    from dynpose100k.ids import unique_ids
    from dynpose100k.video import expand_inputs

    for rel in ("a.mp4", "a.mov", "00000/clip.mp4", "00001/clip.mp4", "00001/x y.mp4"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "00001" / "x_y").mkdir()  # a frames folder whose id the file above also takes
    (tmp_path / "00001" / "x_y" / "0.png").write_bytes(b"")
    ids = unique_ids(expand_inputs([tmp_path]))
    assert ids == ["clip", "clip_1", "x_y", "x_y_1", "a", "a_1"]
    assert [i.item_id for i in resolve_inputs(tmp_path)] == ids
    assert unique_ids(["???.mp4"]) == ["video"]


def test_suffixes_follow_the_paths_not_the_order_they_are_given_in(tmp_path):
    from dynpose100k.ids import unique_ids

    a, b = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"
    assert unique_ids([a, b]) == ["clip", "clip_1"]
    assert unique_ids([b, a]) == ["clip_1", "clip"]
    # an id a clip already has by name is not handed out as a suffix
    c = tmp_path / "c" / "clip_1.mp4"
    assert unique_ids([c, b, a]) == ["clip_1", "clip_2", "clip"]
