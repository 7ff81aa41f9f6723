"""CLI verbs, one module each (see :mod:`dynpose100k.cli`), and the checks they share.

Verbs check their outputs and numbers before any work (:func:`check_out_file`, :func:`check_out_dir`,
:func:`dynpose100k.errors.check_range`) and expand their inputs with :func:`collect_videos`, so that a wrong
path or value fails at once with one line."""

from __future__ import annotations

from pathlib import Path

from ..errors import DynPoseError


def add_hfov_argument(p) -> None:
    """``--hfov DEG`` (as ``args.hfov``): the lens's known field of view, ``PoseConfig.hfov_deg``."""
    p.add_argument("--hfov", type=float, default=None, metavar="DEG",
                   help="the lens's known horizontal field of view in degrees (2*atan(W/(2*fx)), W and fx in the "
                        "same pixels): the focal is held, not estimated; for footage neither cropped nor zoomed")


def add_dense_fps_argument(p) -> None:
    """``--dense-fps FPS`` (as ``args.dense_fps``): the rate of the second look at doubted clips,
    ``PoseConfig.dense_fps``."""
    p.add_argument("--dense-fps", type=float, default=None, metavar="FPS",
                   help="pose a clip doubted at --fps again at this rate when its source has the frames, and keep "
                        "that map if it is trusted (fast turns; about three times the time of a doubted clip "
                        "again; default: off)")


def _check_parents(path: Path, option: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DynPoseError(f"{option} {path}: {parent} is a file, not a folder")
            return


def check_out_file(path: Path, example: str = "out.parquet", option: str = "--out") -> Path:
    """``option`` (``--out``) naming a file to write: must not be an existing folder nor lie under a file."""
    path = Path(path)
    if path.is_dir():
        raise DynPoseError(f"{option} {path}: is a folder; give a file name, e.g. {path / example}")
    _check_parents(path, option)
    return path


def check_out_not_input(path: Path, inputs) -> Path:
    """``--out`` naming a file to write must not be one of the inputs: writing it would destroy that input."""
    path = Path(path)
    target = path.resolve()
    for p in inputs:
        if Path(p).resolve() == target:
            raise DynPoseError(f"--out {path}: is one of the inputs; writing it would overwrite that video")
    return path


def check_out_dir(path: Path, option: str = "--out") -> Path:
    """``option`` (``--out``) naming a folder to write into: must not be an existing file nor lie under a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DynPoseError(f"{option} {path}: is a file; give a folder (existing or new)")
    _check_parents(path, option)
    return path


def collect_videos(inputs) -> list[Path]:
    """Clips named on a command line (:func:`dynpose100k.video.expand_inputs`); a folder holding no
    video and no frames is an error (``no videos found in ...``). A missing path is kept: it fails later
    with its own reason while the rest of the batch goes on."""
    from ..video import expand_inputs, searched_for

    out: dict[Path, Path] = {}  # each clip once, also when named in two inputs (a file and its folder)
    for p in map(Path, inputs):
        got = expand_inputs([p])
        if not got:
            raise DynPoseError(f"no videos found in {p}: looked for {searched_for()}")
        for clip in got:
            out.setdefault(clip.resolve(), clip)
    return list(out.values())
