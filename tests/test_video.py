import dataclasses
import os
import pickle
import tracemalloc
import types

import av
import cv2
import numpy as np
import pytest

from dynpose100k import video
from dynpose100k.errors import VideoError
from dynpose100k.video import iter_frames, load_clip, parse_timestamp, probe, write_video

H, W = 96, 160


def frames(n, h=H, w=W):
    """Smooth moving texture with the frame index written as the brightness of a 16x16 corner block."""
    rng = np.random.default_rng(0)
    tex = cv2.resize(rng.integers(0, 255, (8, 16, 3), dtype=np.uint8), (w + n, h), interpolation=cv2.INTER_CUBIC)
    for i in range(n):
        f = np.ascontiguousarray(tex[:, i : i + w])
        f[:16, :16] = (i * 2) % 250
        yield f


def index_of(rgb):
    b = 16 * rgb.shape[0] // H  # the marker block, resized with the frame
    return rgb[:b, :b].mean() / 2


@pytest.fixture(scope="module")
def mp4_30fps(tmp_path_factory):
    """2 s at 30 fps (60 frames)."""
    return write_video(tmp_path_factory.mktemp("v") / "src.mp4", frames(60), fps=30)


def test_probe_and_roundtrip(mp4_30fps):
    info = probe(mp4_30fps)
    assert (info.fps, info.num_frames, info.width, info.height) == (30.0, 60, W, H)
    assert info.duration == pytest.approx(2.0) and not info.is_frames_dir
    clip = load_clip(mp4_30fps, fps=None)
    assert clip.frames.shape == (60, H, W, 3) and clip.frames.dtype == np.uint8
    np.testing.assert_allclose(clip.timestamps, np.arange(60) / 30, atol=1e-6)
    assert np.abs([index_of(f) - i for i, f in enumerate(clip.frames)]).max() < 2
    assert clip.source_fps == 30.0 and clip.image_size == (H, W)


def test_resample_12fps(mp4_30fps):
    clip = load_clip(mp4_30fps, fps=12)
    assert len(clip) == 24  # targets 0, 1/12, ..., 23/12 within 2 s
    targets = np.arange(24) / 12
    assert np.abs(clip.timestamps - targets).max() <= 1 / 60 + 1e-6  # nearest source frame
    assert np.all(np.diff(clip.timestamps) > 0)
    # the decoded content is the frame at the reported timestamp
    assert np.abs([index_of(f) - t * 30 for t, f in zip(clip.timestamps, clip.frames)]).max() < 2
    assert len(load_clip(mp4_30fps, fps=60)) == 60  # never upsample
    for short_side in (None, 48):  # frames kept by the caller stay valid (no shared decode buffer)
        kept = list(iter_frames(mp4_30fps, fps=12, short_side=short_side))
        assert np.abs([index_of(f) - t * 30 for t, f in kept]).max() < 2
    assert len(load_clip(mp4_30fps, fps=12, max_frames=5)) == 5


def test_load_clip_when_container_underreports(mp4_30fps, monkeypatch):
    real = video.probe
    monkeypatch.setattr(video, "probe", lambda p, fps=12.0: dataclasses.replace(real(p), num_frames=3, duration=0.1))
    clip = load_clip(mp4_30fps, fps=None)
    assert len(clip) == 60 and clip.frames.flags.c_contiguous
    np.testing.assert_allclose(clip.timestamps, np.arange(60) / 30, atol=1e-6)


def test_resize_and_window(mp4_30fps):
    clip = load_clip(mp4_30fps, fps=12, short_side=48)
    assert clip.image_size == (48, 80)
    win = load_clip(mp4_30fps, fps=12, start="0:00:00.5", end=1.5)
    assert len(win) == 13 and win.timestamps[0] == pytest.approx(0.5) and win.timestamps[-1] == pytest.approx(1.5)
    assert np.abs(win.timestamps - (0.5 + np.arange(13) / 12)).max() <= 1 / 60 + 1e-6
    every = load_clip(mp4_30fps, fps=None, start=0.5, end=1.0)
    np.testing.assert_allclose(every.timestamps, np.arange(15, 31) / 30, atol=1e-6)
    assert parse_timestamp("0:00:05.005") == pytest.approx(5.005)
    assert parse_timestamp("1:02:03") == 3723 and parse_timestamp("7.5") == 7.5 and parse_timestamp(None) is None
    with pytest.raises(ValueError):
        parse_timestamp("5 seconds")


def test_pyav_fallback_and_seek(mp4_30fps, tmp_path, monkeypatch):
    ref = load_clip(mp4_30fps, fps=12)
    monkeypatch.setattr(video, "_cv2_source", lambda *a, **k: iter(()))  # OpenCV opens but yields nothing
    alt = load_clip(mp4_30fps, fps=12)
    np.testing.assert_allclose(alt.timestamps, ref.timestamps, atol=1e-6)
    assert np.abs(alt.frames.astype(int) - ref.frames).mean() < 1.0
    # late windows are decoded by PyAV after a seek; content must match the timestamps
    monkeypatch.setattr(video, "SEEK_AFTER_S", 0.5)
    win = load_clip(mp4_30fps, fps=12, start=1.0, end=1.5)
    assert win.timestamps[0] == pytest.approx(1.0) and len(win) == 7
    assert np.abs([index_of(f) - t * 30 for t, f in zip(win.timestamps, win.frames)]).max() < 2


def test_frames_folder(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames(10)):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("ignored")
    info = probe(folder)
    assert info.is_frames_dir and (info.num_frames, info.fps, info.width, info.height) == (10, 12.0, W, H)
    clip = load_clip(folder, fps=6, short_side=48)
    assert len(clip) == 5 and clip.image_size == (48, 80)
    np.testing.assert_allclose(clip.timestamps, np.arange(0, 10, 2) / 12)
    assert len(load_clip(folder, fps=12, source_fps=24)) == 5
    exact = load_clip(folder, fps=None)
    assert [round(index_of(f)) for f in exact.frames] == list(range(10))  # png is lossless, order by name


def test_a_frame_of_another_size_is_resized_to_the_first(tmp_path, caplog):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames(6)):
        f = cv2.resize(f, (W // 2, H // 2), interpolation=cv2.INTER_AREA) if i == 3 else f
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    with caplog.at_level("WARNING"):
        clip = load_clip(folder, fps=None)
    assert clip.frames.shape == (6, H, W, 3)
    assert [round(index_of(f)) for f in clip.frames] == list(range(6))
    assert f"frame 3 is {W // 2}x{H // 2}, not {W}x{H}" in caplog.text


def test_odd_size_is_cropped(tmp_path):
    p = write_video(tmp_path / "odd.mp4", list(frames(4, 95, 151)), fps=10)
    assert (probe(p).height, probe(p).width) == (94, 150)


def test_opencv_encoder_fallback(tmp_path, monkeypatch):
    def no_libx264(*args, **kwargs):
        raise av.FFmpegError(1, "no libx264 here")

    with monkeypatch.context() as m:
        m.setattr(av, "open", no_libx264)
        p = write_video(tmp_path / "mp4v.mp4", frames(12), fps=12)
    clip = load_clip(p, fps=None)
    assert clip.frames.shape == (12, H, W, 3) and clip.source_fps == 12.0
    assert np.abs([index_of(f) - i for i, f in enumerate(clip.frames)]).max() < 3


def test_streaming_memory(tmp_path):
    p = write_video(tmp_path / "long.mp4", frames(300), fps=30)
    it = iter_frames(p, fps=None)
    assert isinstance(it, types.GeneratorType)
    tracemalloc.start()
    n = 0
    for _ in it:
        n += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 300
    assert peak < 20 * H * W * 3  # a few frames at a time, not 300 (~13.8 MB)


def bad_inputs(tmp_path, good):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    zero = tmp_path / "zero.mp4"
    writer = cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*"mp4v"), 30, (W, H))
    writer.release()
    # moov atom first: the container opens and reports 60 frames, but the data is cut off
    faststart = tmp_path / "faststart.mp4"
    with av.open(str(faststart), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for f in frames(60):
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    cut_early = tmp_path / "cut_early.mp4"
    cut_early.write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 3])
    empty_dir = tmp_path / "empty_frames"
    empty_dir.mkdir()
    corrupt_dir = tmp_path / "corrupt_frames"
    corrupt_dir.mkdir()
    (corrupt_dir / "00000.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return [tmp_path / "missing.mp4", text, truncated, cut_early, zero, empty_dir, corrupt_dir]


def test_bad_inputs_raise_one_line(mp4_30fps, tmp_path):
    one = write_video(tmp_path / "one.mp4", frames(1), fps=30)
    cases = [(p, {}) for p in bad_inputs(tmp_path, mp4_30fps)]
    cases += [(one, {}), (mp4_30fps, {"start": 5.0}), (mp4_30fps, {"start": 1.0, "end": 0.5})]
    for path, kw in cases:
        with pytest.raises(VideoError) as e:
            load_clip(path, **kw)
        msg = str(e.value)
        assert "\n" not in msg and msg.count(os.fspath(path)) == 1, msg  # one line, the file named once
        assert str(pickle.loads(pickle.dumps(e.value))) == msg  # crosses worker processes intact
        if path.is_file() and not kw and path != one:  # iter_frames has no minimum
            with pytest.raises(VideoError):
                list(iter_frames(path))
    assert len(load_clip(one, min_frames=1)) == 1
    assert probe(tmp_path / "cut_early.mp4").num_frames == 60  # opens fine, fails only when decoding


def test_expand_inputs_frames_folders_video_folders_and_missing(tmp_path):
    from dynpose100k.video import expand_inputs

    vids = tmp_path / "vids"
    vids.mkdir()
    for name in ("b.mp4", "a.MOV", "notes.txt"):
        (vids / name).write_bytes(b"x")
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "000.png").write_bytes(b"x")
    missing = tmp_path / "missing.mp4"
    assert expand_inputs([vids, frames, missing]) == [vids / "a.MOV", vids / "b.mp4", frames, missing]
    # subfolders (a downloaded pool's shard folders) expand in turn; one holding images is a frames clip
    for shard in ("00001", "00000"):
        (vids / shard).mkdir()
        (vids / shard / "c.mp4").write_bytes(b"x")
    (vids / "00000" / "shot").mkdir()
    (vids / "00000" / "shot" / "000.jpg").write_bytes(b"x")
    assert expand_inputs([vids]) == [vids / "00000" / "c.mp4", vids / "00000" / "shot", vids / "00001" / "c.mp4",
                                     vids / "a.MOV", vids / "b.mp4"]
    (vids / "00001" / "loop").symlink_to(vids, target_is_directory=True)  # a link back up is not followed again
    assert expand_inputs([vids])[-2:] == [vids / "a.MOV", vids / "b.mp4"] and len(expand_inputs([vids])) == 5
    assert expand_inputs([vids / "b.mp4", vids, vids / "b.mp4"]) == [vids / "b.mp4", *expand_inputs([vids])[:-1]]


@pytest.mark.parametrize("ext, fmt", [(".MTS", "mpegts"), (".m2ts", "mpegts"), (".ts", "mpegts"), (".3gp", "3gp"),
                                      (".flv", "flv"), (".wmv", "asf")])
def test_a_folder_of_camcorder_or_broadcast_clips_is_found_and_decoded_at_its_times(tmp_path, ext, fmt):
    """AVCHD (.MTS), transport streams, old phones' 3GP, Flash and Windows Media files are videos a pool holds:
    a folder of them is searched (it used to say "no videos found") and each decodes at its own frame times."""
    folder = tmp_path / "pool"
    folder.mkdir()
    clip = folder / f"cam{ext}"
    codec = {"flv": "flv", "asf": "wmv2"}.get(fmt, "libx264")
    with av.open(str(clip), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=12)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for f in frames(24):
            for pk in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    (folder / "cam.h264").write_bytes(b"x")  # a raw stream has no frame times: not taken
    assert video.expand_inputs([folder]) == [clip]
    got = load_clip(clip, fps=6)
    assert len(got) == 12 and np.allclose(got.timestamps, np.arange(12) / 6, atol=1e-3)
    assert [round(index_of(f)) for f in got.frames[:3]] == [0, 2, 4]


@pytest.mark.parametrize("name, codec, pix_fmt", [
    ("phone.mov", "libx265", "yuv420p10le"),  # phones record 10-bit HEVC
    ("download.webm", "libvpx-vp9", "yuv420p"),  # what video sites serve, VP9 or AV1
    ("download.mp4", "libsvtav1", "yuv420p"),
    ("edit.mov", "prores_ks", "yuv422p10le"),  # an editor's export
    ("dashcam.avi", "mjpeg", "yuvj420p"),  # full-range JPEG frames
])
def test_codecs_of_real_pools_decode_to_the_same_pixels_by_both_decoders(tmp_path, name, codec, pix_fmt):
    """Deeper pixels (10-bit), full-range colour and other codecs than H.264 reach the engine as 8-bit RGB
    frames at their own times, whichever decoder reads them (OpenCV first; PyAV where non-reference frames
    are skipped)."""
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    src = list(frames(24))
    path = tmp_path / name
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=12)
        s.width, s.height, s.pix_fmt = W, H, pix_fmt
        for f in src:
            for pk in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    for kwargs, n in (({"fps": None}, 24), ({"fps": 3, "skip_nonref": True}, 6)):
        got = load_clip(path, **kwargs)
        idx = np.round(got.timestamps * 12).astype(int)
        assert got.frames.dtype == np.uint8 and got.frames.shape == (n, H, W, 3)
        assert np.allclose(got.timestamps * 12, idx, atol=0.02) and np.all(np.diff(idx) > 0)  # WebM: whole ms
        err = [np.abs(f.astype(int) - np.asarray(src[i], int)).mean() for i, f in zip(idx, got.frames)]
        assert max(err) < 12, f"{name} {kwargs}: frames differ from the source by {max(err):.1f} grey levels"


def test_images_beside_videos_are_thumbnails_not_a_frames_folder(tmp_path, caplog):
    """A downloaded pool often keeps a thumbnail beside each video: the folder's videos are its clips (the
    images are left out, with a warning), not one clip made of the thumbnails."""
    from dynpose100k.video import expand_inputs

    for name in ("a.mp4", "a.jpg", "b.webm", "b.png"):
        (tmp_path / name).write_bytes(b"x")
    with caplog.at_level("WARNING"):
        assert expand_inputs([tmp_path]) == [tmp_path / "a.mp4", tmp_path / "b.webm"]
    assert "2 image(s) beside its videos left out" in caplog.text
    for name in ("a.mp4", "b.webm"):
        (tmp_path / name).unlink()
    assert expand_inputs([tmp_path]) == [tmp_path]  # images alone: a frames folder again


def test_skip_nonref_decodes_fewer_frames_with_true_timestamps(tmp_path):
    from dynpose100k.video import load_clip, write_video
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    frames = np.stack([np.roll(base, 2 * i, axis=1) for i in range(96)])  # 4 s at 24 fps, a steady pan
    path = write_video(tmp_path / "pan.mp4", frames, 24.0)
    full = load_clip(path, fps=5, short_side=72)
    fast = load_clip(path, fps=5, short_side=72, skip_nonref=True)
    assert len(fast.timestamps) == len(full.timestamps)
    assert np.abs(fast.timestamps - full.timestamps).max() <= 1.5 / 24  # nearest decoded frame
    assert np.all(np.diff(fast.timestamps) > 0)
    # each frame is the source frame of its timestamp (the pan moves 2 px per source frame)
    for ts, f in zip(fast.timestamps, fast.frames):
        i = int(round(ts * 24))
        ref = load_clip(path, fps=None, short_side=72, start=i / 24, end=i / 24, min_frames=1).frames[0]
        assert np.abs(f.astype(int) - ref.astype(int)).mean() < 3
    decoded = sum(1 for _ in video._av_source(path, 24.0, 0.0, skip_nonref=True))
    assert decoded < 0.75 * len(frames) and sum(1 for _ in video._av_source(path, 24.0, 0.0)) == len(frames)
    slow = load_clip(path, fps=12, short_side=72, skip_nonref=True)  # 24 < 3 x 12: every frame decoded
    assert np.allclose(slow.timestamps, load_clip(path, fps=12, short_side=72).timestamps)


def test_pyav_frames_are_the_bgr_decode_resized_and_swapped(tmp_path):
    """The PyAV source converts straight to RGB: the same pixels and timestamps as converting to BGR, resizing
    and swapping the channels (what the OpenCV path does), on a colourful clip."""
    rng = np.random.default_rng(3)
    base = cv2.resize(rng.integers(0, 255, (12, 20, 3), dtype=np.uint8), (320, 180), interpolation=cv2.INTER_CUBIC)
    path = write_video(tmp_path / "colour.mp4", np.stack([np.roll(base, 3 * i, axis=1) for i in range(48)]), 24.0)
    clip = load_clip(path, fps=5, short_side=72, skip_nonref=True)
    want = {}
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        for f in c.decode(s):
            small = cv2.resize(f.to_ndarray(format="bgr24"), (128, 72), interpolation=cv2.INTER_AREA)
            want[float((f.pts - (s.start_time or 0)) * s.time_base)] = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    assert len(clip.frames) >= 8
    for ts, f in zip(clip.timestamps, clip.frames):
        assert ts in want  # the exact timestamp of a source frame
        np.testing.assert_array_equal(f, want[ts])


def test_skip_nonref_opens_the_file_once_and_probes_like_opencv(tmp_path, monkeypatch):
    path = write_video(tmp_path / "c.mp4", frames(72), 24.0)
    assert video._probe_av(path) == probe(path)  # what the PyAV-decoded path reads is what probe reads
    want = load_clip(path, fps=5, short_side=48, skip_nonref=True)
    opened = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    monkeypatch.setattr(cv2, "VideoCapture", None)  # no OpenCV probe or decode
    got = load_clip(path, fps=5, short_side=48, skip_nonref=True)
    assert opened == [str(path)]
    np.testing.assert_array_equal(got.frames, want.frames)
    np.testing.assert_array_equal(got.timestamps, want.timestamps)


def test_pyav_decodes_single_threaded_where_opencv_is(tmp_path, monkeypatch):
    """Worker processes limit OpenCV to one thread; the decoder then adds no frame threads of its own."""
    path = write_video(tmp_path / "t.mp4", frames(48), 24.0)
    seen = []
    real_open = av.open

    def spy(*a, **k):
        container = real_open(*a, **k)
        seen.append(container.streams.video[0].codec_context)
        return container

    monkeypatch.setattr(av, "open", spy)
    before = cv2.getNumThreads()
    try:
        clips = []
        for n in (1, 2):
            cv2.setNumThreads(n)
            clips.append(load_clip(path, fps=5, short_side=48, skip_nonref=True))
    finally:
        cv2.setNumThreads(before)
    assert (seen[0].thread_count, seen[1].thread_type.name) == (1, "AUTO")
    np.testing.assert_array_equal(clips[0].frames, clips[1].frames)  # the same pixels either way


def test_evenly_spaced_indices():
    assert video.evenly_spaced(10, 4).tolist() == [0, 3, 6, 9]
    assert video.evenly_spaced(3, 8).tolist() == [0, 1, 2]  # never more than there are, never repeated
    assert video.evenly_spaced(0, 4).size == 0 and video.evenly_spaced(5, 0).size == 0
    assert video.evenly_spaced(1, 4).tolist() == [0]


def test_source_of_tells_same_sized_clips_apart_and_keeps_copies_equal(tmp_path):
    """Size and digest identify the content: a copy is the same source, the same size with other bytes (at
    either end) is another, a record without a digest (an older result) compares by size, and a frames
    folder is identified by its images' names and sizes."""
    a = tmp_path / "a.mp4"
    a.write_bytes(bytes(range(256)) * 1024)  # 256 KiB: the digest reads both ends
    (tmp_path / "copy").mkdir()
    b = tmp_path / "copy" / "a.mp4"
    b.write_bytes(a.read_bytes())
    sa, sb = video.source_of(a), video.source_of(b)
    assert sa["bytes"] == 262144 and sa["path"] != sb["path"] and not video.other_source(sa, sb)
    for where in (0, -1):
        data = bytearray(a.read_bytes())
        data[where] ^= 1
        b.write_bytes(bytes(data))
        sb = video.source_of(b)
        assert sb["bytes"] == sa["bytes"] and video.other_source(sa, sb)
    assert not video.other_source({"bytes": sa["bytes"]}, sb)  # no digest recorded: the sizes agree
    assert video.other_source({"bytes": 5}, sb)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:03d}.png"), np.full((8, 8), i * 40, np.uint8))
    first = video.source_of(frames)
    (frames / "002.png").rename(frames / "003.png")
    assert video.other_source(first, video.source_of(frames))
    missing = video.source_of(tmp_path / "gone.mp4")
    assert missing["bytes"] is None and missing["digest"] is None and not video.other_source(sa, missing)


def tagged_mp4(path, rgb_frames, fps, degrees=0, sar=None):
    """An H.264 mp4 of ``rgb_frames`` whose display matrix rotates them ``degrees`` counter-clockwise (a phone's
    portrait clip is stored as landscape frames and such a matrix) and whose pixels are ``sar`` (a Fraction,
    width over height) wide."""
    from fractions import Fraction

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)  # an int or Fraction
        s.height, s.width = rgb_frames[0].shape[:2]
        s.pix_fmt, s.options = "yuv420p", {"crf": "12"}
        if degrees:
            s.set_display_rotation(degrees)
        if sar is not None:
            s.codec_context.sample_aspect_ratio = Fraction(sar)
        for f in rgb_frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path


@pytest.mark.parametrize("degrees", [-90, 90, 180])
def test_rotated_video_decodes_upright_with_either_decoder(tmp_path, degrees):
    """A clip with a rotation in its display matrix comes out as displayed, whichever decoder reads it
    (OpenCV applies the rotation; PyAV, which serves late windows and skip_nonref, must apply it too), and
    probe reports the displayed size."""
    src = list(frames(24))
    path = tagged_mp4(tmp_path / "r.mp4", src, 24, degrees)
    turn = {-90: cv2.ROTATE_90_CLOCKWISE, 90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180}[degrees]
    want = np.stack([cv2.rotate(f, turn) for f in src]).astype(float)
    info = probe(path)
    assert (info.height, info.width) == want.shape[1:3] and video._probe_av(path) == info
    via_cv2 = load_clip(path, fps=None).frames
    via_av = np.stack([f for _, f in video._sample(video._av_source(path, 24.0), 24.0, None, 0.0, None, None, False)])
    for got in (via_cv2, via_av):
        assert got.shape == want.shape
        # upright, not turned the other way (compression leaves a few grey levels)
        assert 4 * np.abs(got - want).mean() < np.abs(got - want[:, ::-1, ::-1]).mean()
    assert np.abs(via_cv2.astype(float) - via_av).mean() < 1.0  # the two decoders agree
    nonref = load_clip(path, fps=4, skip_nonref=True)  # the filter's decode
    assert nonref.frames.shape[1:3] == want.shape[1:3]


def test_frames_folder_jpegs_follow_their_exif_orientation(tmp_path):
    """A photo folder from a phone: each JPEG is read as displayed (EXIF orientation 6: turn clockwise)."""
    from PIL import Image  # (matplotlib's dependency)

    img = np.zeros((40, 80, 3), np.uint8)
    img[:10, :10] = 255  # a white corner, top left as stored
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = 6
    for i in range(3):
        Image.fromarray(img).save(tmp_path / f"{i:03d}.jpg", exif=exif.tobytes(), quality=95)
    clip = load_clip(tmp_path)
    assert clip.frames.shape == (3, 80, 40, 3)
    assert clip.frames[0, :10, -10:].mean() > 200 and clip.frames[0, :10, :10].mean() < 50  # now top right


def test_picture_box_finds_letterbox_and_pillarbox_bars_only():
    """Bars are flat, dark, static bands in pairs at opposite edges; a dark sky at one edge, a dark vignette
    that is not flat, or a plain clip give none."""
    clip = np.stack(list(frames(12, 120, 200)))
    assert video.picture_box(clip) == (0, 0, 0, 0)
    letter = clip.copy()
    letter[:, :20], letter[:, -20:] = 0, 0
    assert video.picture_box(letter) == (21, 21, 0, 0)
    pillar = clip.copy()
    pillar[:, :, :66], pillar[:, :, -66:] = 16, 16  # a portrait picture 68 px wide in a 200 px frame
    noisy = np.clip(pillar.astype(int) + np.random.default_rng(0).integers(-2, 3, pillar.shape), 0, 255)
    assert video.picture_box(noisy.astype(np.uint8)) == (0, 0, 67, 67)  # encoder noise on the bars
    assert video.picture_box(pillar[..., 0]) == (0, 0, 67, 67)  # grey frames too
    ringing = noisy.astype(np.uint8)  # the codec rings in the bar's last columns before the picture: busy, but dark
    rng = np.random.default_rng(1)
    for cols in (slice(64, 66), slice(-66, -64)):
        ringing[:, :, cols] = 16 + rng.integers(-9, 10, ringing[:, :, cols].shape)
    assert video.picture_box(ringing) == (0, 0, 67, 67)  # left in, they would be a static stroke at its edge
    sky = clip.copy()
    sky[:, :30] = 10  # one dark band at the top only
    assert video.picture_box(sky) == (0, 0, 0, 0)
    lopsided = letter.copy()
    lopsided[:, -40:] = 0  # 20 rows at the top, 40 at the bottom: not a letterbox
    assert video.picture_box(lopsided) == (0, 0, 0, 0)
    grey = clip.copy()
    grey[:, :20], grey[:, -20:] = 128, 128  # flat but bright: left alone
    assert video.picture_box(grey) == (0, 0, 0, 0)
    moving = letter.copy()
    moving[1::2, :20] = 35  # the "bars" change over time: not bars
    assert video.picture_box(moving) == (0, 0, 0, 0)


def test_picture_box_finds_a_blurred_fill_but_not_a_flat_desktop():
    """Sides filled with a blurred, moving copy of the picture count as bars; flat, static sides of any
    level (a desktop around a player window) do not, nor does a clip blurred all over."""
    tex = cv2.resize(np.random.default_rng(1).integers(0, 255, (60, 120, 3), dtype=np.uint8), (240, 120),
                     interpolation=cv2.INTER_NEAREST)  # sharp detail, moving
    clip = np.stack([np.ascontiguousarray(tex[:, 3 * i:3 * i + 200]) for i in range(12)])
    filled = clip.copy()
    for f in filled:
        f[:, :60] = cv2.GaussianBlur(f[:, :60], (0, 0), 8)
        f[:, -60:] = cv2.GaussianBlur(f[:, -60:], (0, 0), 8)
    top, bottom, left, right = video.picture_box(filled)
    assert (top, bottom) == (0, 0) and 58 <= left <= 64 and 58 <= right <= 64
    desk = clip.copy()
    desk[:, :, :60], desk[:, :, -60:] = 150, 150
    assert video.picture_box(desk) == (0, 0, 0, 0)
    soft = np.stack([cv2.GaussianBlur(f, (0, 0), 8) for f in clip])
    assert video.picture_box(soft) == (0, 0, 0, 0)


def test_anamorphic_video_decodes_to_square_pixels_with_either_decoder(tmp_path):
    """Pixels stored 4:3 wide (anamorphic video) come out square, as a player shows them: a 40x40 stored block
    is 53 px wide, with or without a short side, through OpenCV and through PyAV; probe says so."""
    from fractions import Fraction

    img = np.zeros((96, 128, 3), np.uint8)
    img[28:68, 44:84] = 255
    path = tagged_mp4(tmp_path / "a.mp4", [img] * 24, 24, sar=Fraction(4, 3))
    info = probe(path)
    assert (info.width, info.height, info.sar) == (171, 96, pytest.approx(4 / 3)) and video._probe_av(path) == info
    for clip in (load_clip(path, fps=None), load_clip(path, fps=4, skip_nonref=True)):  # OpenCV, then PyAV
        assert clip.frames.shape[1:3] == (96, 171)
        cols = np.flatnonzero(clip.frames[0, 48, :, 0] > 128)
        assert 52 <= len(cols) <= 55 and abs(cols.mean() - 85) < 2
    assert load_clip(path, short_side=48).frames.shape[1:3] == (48, 85)


@pytest.mark.parametrize("degrees,sar", [(90, (4, 3)), (-90, (4, 3)), (0, (8, 9)), (90, (8, 9))])
def test_turned_anamorphic_video_stretches_the_stored_width(tmp_path, degrees, sar):
    """The pixel ratio belongs to the stored frames: once a quarter turn shows them upright, the stretch runs
    along the height. A 40x40 stored block of 4:3 pixels turned a quarter is 40 wide and 53 tall. The short
    pixel side is the one stretched, so no detail is dropped (8:9 pixels upright: the height grows)."""
    from fractions import Fraction

    img = np.zeros((96, 128, 3), np.uint8)
    img[28:68, 44:84] = 255
    path = tagged_mp4(tmp_path / "a.mp4", [img] * 24, 24, degrees, sar=Fraction(*sar))
    upright = sar[0] / sar[1] if degrees == 0 else sar[1] / sar[0]  # pixel width over height as shown
    grow = (upright, 1.0) if upright >= 1 else (1.0, 1 / upright)  # (width, height) factors
    w0, h0 = (128, 96) if degrees == 0 else (96, 128)
    frame = (round(w0 * grow[0]), round(h0 * grow[1]))
    info = probe(path)
    assert (info.width, info.height) == frame and info.sar == pytest.approx(upright) and video._probe_av(path) == info
    for clip in (load_clip(path, fps=None), load_clip(path, fps=4, skip_nonref=True)):  # OpenCV, then PyAV
        assert clip.frames.shape[1:3] == frame[::-1]
        ys, xs = np.nonzero(clip.frames[0, ..., 0] > 128)
        assert abs(np.ptp(xs) + 1 - 40 * grow[0]) <= 2 and abs(np.ptp(ys) + 1 - 40 * grow[1]) <= 2


def test_truncated_matroska_warns_on_the_pyav_path_too(tmp_path, caplog):
    """Matroska keeps the duration in the container, not the stream: PyAV's probe reads it there, so a cut
    .mkv decoded without its non-reference frames still says it stopped early."""
    with av.open(str(tmp_path / "full.mkv"), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for f in frames(240):  # 10 s
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    container, info = video._open_av(tmp_path / "full.mkv")
    container.close()
    assert info.num_frames == 240 and info.duration == pytest.approx(10.0)
    data = (tmp_path / "full.mkv").read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: int(0.6 * len(data))])
    with caplog.at_level("WARNING", logger="dynpose100k.video"):
        clip = load_clip(tmp_path / "cut.mkv", fps=4, skip_nonref=True)
    assert clip.timestamps[-1] < 8.0 and "truncated video?" in caplog.text


def test_matroska_stream_starting_late_is_not_called_truncated(tmp_path, caplog):
    """A Matroska stream whose first frame is at 1 s (cut from a longer recording, or audio first): its
    container duration counts from 0, so both probes read 4 s where the stream lasts 3 s; decoding it whole
    must not warn that it stopped early."""
    import fractions

    with av.open(str(tmp_path / "late.mkv"), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.time_base = fractions.Fraction(1, 1000)
        for i, f in enumerate(frames(72)):  # 3 s, timestamps 1.0 ... 3.96 s
            fr = av.VideoFrame.from_ndarray(f, format="rgb24")
            fr.pts, fr.time_base = 1000 + round(i * 1000 / 24), fractions.Fraction(1, 1000)
            c.mux(s.encode(fr))
        c.mux(s.encode())
    info = probe(tmp_path / "late.mkv")
    assert info.duration == pytest.approx(3.0, abs=0.05) and abs(info.num_frames - 72) <= 1
    with caplog.at_level("WARNING", logger="dynpose100k.video"):
        for skip in (False, True):  # OpenCV, then PyAV without non-reference frames
            clip = load_clip(tmp_path / "late.mkv", fps=4, skip_nonref=skip)
            assert clip.timestamps[-1] == pytest.approx(2.75, abs=0.1)
    assert "truncated" not in caplog.text


def _encode(path, frames, codec="libx264", options=None):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=12)
        s.height, s.width = H, W
        s.pix_fmt = "yuv420p"
        s.options = options or {}
        for f in frames:
            for pk in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    return path


def test_interlaced_video_is_decoded_not_black(tmp_path):
    clip = _encode(tmp_path / "interlaced.mp4", frames(12), options={"x264-params": "interlaced=1:tff=1"})
    for kw in ({"fps": None}, {"fps": 5, "short_side": 48, "skip_nonref": True}):
        got = load_clip(clip, **kw)
        assert got.frames.mean() > 20, kw  # OpenCV returned all-black frames for it and said nothing


def test_avi_with_b_frames_has_rising_timestamps(tmp_path):
    clip = _encode(tmp_path / "bframes.avi", frames(12), codec="mpeg4", options={"bf": "2", "qscale": "3"})
    got = load_clip(clip, fps=None)
    assert len(got) == 12 and (np.diff(got.timestamps) > 0).all()  # the last two shared a time
