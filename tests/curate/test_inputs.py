import json

import pytest
from curate_fakes import tiny_video

from dynpose100k.curate import InputError, resolve_inputs
from dynpose100k.curate.inputs import read_panda_csv

_TWO_WINDOWS = "[['0:00:00.000', '0:00:00.500'], ['0:00:00.500', '0:00:01.000']]"
CSV = f'''videoID,url,timestamp,caption
vidA,https://www.youtube.com/watch?v=vidA,"{_TWO_WINDOWS}","['a', 'b']"
vidB,https://www.youtube.com/watch?v=vidB,"[['0:00:00.000', '0:00:00.800']]","['cut clip']"
vidC,https://www.youtube.com/watch?v=vidC,"[['0:00:00.000', '0:00:02.000']]","['not downloaded']"
vidD,https://www.youtube.com/watch?v=vidD,"[['0:00:00.000', oops",x
vidE,https://www.youtube.com/watch?v=vidE,"[['0:00:03.000', '0:00:01.000']]","['backwards']"
,,"[['0:00:00.000', '0:00:01.000']]",
'''


@pytest.fixture
def panda(tmp_path):
    """A Panda-70M style CSV and a video2dataset 'files' folder: vidA whole, vidB as an already cut clip."""
    root = tmp_path / "downloads"
    (root / "00000").mkdir(parents=True)
    (root / "00001").mkdir()
    tiny_video(root / "00000" / "000000000.mp4", n=14)
    (root / "00000" / "000000000.json").write_text(json.dumps(
        {"url": "https://www.youtube.com/watch?v=vidA", "key": "000000000", "status": "success"}))
    tiny_video(root / "00001" / "000010000_0.mp4", n=10)
    (root / "00001" / "000010000_0.json").write_text(json.dumps(
        {"url": "https://www.youtube.com/watch?v=vidB", "key": "000010000_0",
         "clips": [["0:00:00.000", "0:00:00.800"]]}))
    (root / "00001" / "000010001.json").write_text(json.dumps({"url": "x", "status": "failed_to_download"}))
    csv = tmp_path / "panda.csv"
    csv.write_text(CSV)
    return csv, root


def test_panda_csv_resolves_windows_and_records_bad_rows(panda):
    csv, root = panda
    items = {it.item_id: it for it in read_panda_csv(csv, root)}
    a0, a1, b0 = items["vidA_0"], items["vidA_1"], items["vidB_0"]
    assert a0.path.endswith("000000000.mp4") and (a0.start, a0.end) == (0.0, 0.5) and a0.error is None
    assert (a1.start, a1.end) == (0.5, 1.0) and a1.meta["caption"] == "b"
    assert b0.path.endswith("000010000_0.mp4") and b0.start is None and b0.error is None  # cut clip: whole file
    assert "not found" in items["vidC_0"].error
    assert "malformed CSV row 5" in items["vidD_row5"].error
    assert "ends before it starts" in items["vidE_row6"].error
    assert "neither videoID nor url" in items["row7"].error
    assert all("." not in i for i in items)


def test_folder_glob_and_list(make_pool, tmp_path):
    pool = make_pool(["good_a", "static.b"], broken=False)
    (pool / "good_a.gt.npz").write_bytes(b"")
    ids = [it.item_id for it in resolve_inputs(pool)]
    assert ids == ["good_a", "static_b"]  # labels.csv and .npz ignored, dots removed from ids
    assert [it.item_id for it in resolve_inputs(str(pool / "good*.mp4"))] == ["good_a"]
    lst = tmp_path / "list.txt"
    lst.write_text("# pool\npool/good_a.mp4\n\npool/missing.mp4\n")
    assert [it.item_id for it in resolve_inputs(lst)] == ["good_a", "missing"]
    assert [it.item_id for it in resolve_inputs(str(pool / "*"))] == ["good_a", "static_b"]  # not labels, .npz
    with pytest.raises(InputError, match="no videos found"):
        resolve_inputs(tmp_path / "nothing_here")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("pool/caf\xe9.mp4\n".encode("latin-1"))
    with pytest.raises(InputError, match="latin.txt: not UTF-8 text"):
        resolve_inputs(latin)
    bad_csv = tmp_path / "other.csv"
    bad_csv.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="missing columns"):
        resolve_inputs(bad_csv)


def test_csv_curation_records_missing_and_malformed(panda, tmp_path):
    from curate_fakes import fake_stages
    from test_runner import _status

    from dynpose100k.curate import CurateConfig, curate

    csv, root = panda
    out = tmp_path / "out"
    s = curate(csv, CurateConfig(out=out, workers=1, csv_video_root=root), stages=fake_stages(out), progress=False)
    st = _status(out)
    assert st["vidA_0"] == st["vidA_1"] == st["vidB_0"] == "filtered_out"  # decoded windows, filtered by the fake
    assert st["vidC_0"] == st["vidD_row5"] == st["vidE_row6"] == "error"
    assert s["rejections"]["error: input"] == 4


def test_panda_csv_takes_a_plain_caption_and_refuses_other_encodings(panda):
    csv, root = panda
    plain = csv.with_name("plain.csv")
    plain.write_text(f'videoID,url,timestamp,caption\nvidA,,"{_TWO_WINDOWS}",a walk in the park\n')
    items = read_panda_csv(plain, root)
    assert [(it.item_id, it.error, it.meta["caption"]) for it in items] == [
        ("vidA_0", None, "a walk in the park"), ("vidA_1", None, "a walk in the park")]
    latin = csv.with_name("latin.csv")
    latin.write_bytes(f'videoID,url,timestamp,caption\nvidA,,"{_TWO_WINDOWS}",caf\xe9\n'.encode("latin-1"))
    with pytest.raises(InputError, match="latin.csv: not UTF-8 text"):
        read_panda_csv(latin, root)
