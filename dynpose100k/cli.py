"""The ``dynpose100k`` command line.

Each verb lives in its own module under :mod:`dynpose100k.commands` and is imported only when used, so
``dynpose100k --help`` is instant and heavy dependencies (torch, pycolmap, ray) load on demand. A verb
module defines ``HELP`` (one line), ``EXAMPLES`` (text), ``add_arguments(parser)`` and ``run(args) -> int``.

Exit codes: 0 success; 1 an expected failure (:class:`dynpose100k.errors.DynPoseError`: one line on stderr,
no traceback) or a bad command line (argparse: 2); 130 interrupted (Ctrl-C); 141 (128 + SIGPIPE, what a shell
reports for a process killed by a closed pipe) when standard output was closed early, e.g. piped into
``head``: one line on stderr, the rest of the output is discarded.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from . import __version__
from .errors import DynPoseError

# verb -> (module, one-line help). Order is the order of the data flow.
VERBS: dict[str, tuple[str, str]] = {
    "synth": ("dynpose100k.commands.synth", "render synthetic dynamic videos with exact ground truth"),
    "shots": ("dynpose100k.commands.shots",
              "cut long videos into clip windows at shot boundaries (a Panda-70M style CSV for curate)"),
    "filter": ("dynpose100k.commands.filter", "score clips for pose-estimation suitability (keep/reject + reasons)"),
    "fit-filter": ("dynpose100k.commands.fit_filter",
                   "fit the clip filter's fusion model on a labelled pool (labels.csv + videos)"),
    "pose": ("dynpose100k.commands.pose", "estimate camera poses and intrinsics on dynamic videos"),
    "shard": ("dynpose100k.commands.shard", "pack pose results into WebDataset shards + a loadable dataset card"),
    "subset": ("dynpose100k.commands.subset",
               "write a quality subset of a dataset (confidence by default; reprojection error, registration)"),
    "split": ("dynpose100k.commands.split", "split a dataset into train/ and val/ dataset folders for fine-tuning"),
    "import-release": ("dynpose100k.commands.import_release",
                       "convert the official DynPose-100K release layout to shards"),
    "export": ("dynpose100k.commands.export", "export one video's poses as COLMAP text model or TUM trajectory"),
    "push": ("dynpose100k.commands.push", "upload a generated dataset directory to the Hugging Face Hub"),
    "inspect": ("dynpose100k.commands.inspect", "summarise a dataset directory or shard (counts, fields, quality)"),
    "view": ("dynpose100k.commands.view", "plot a trajectory with frusta and a frame strip to PNG"),
    "curate": ("dynpose100k.commands.curate", "run a video pool end to end: filter -> pose -> shards (resumable)"),
    "eval": ("dynpose100k.commands.eval", "score pose results against ground truth (ATE/RPE, Sampson)"),
    "bench": ("dynpose100k.commands.bench", "benchmarks: decode, pose, filter, curate, train (figures vs baselines)"),
    "demo": ("dynpose100k.commands.demo", "render a synthetic pool, curate it, load it, print the paper-style tables"),
}

EPILOG = """examples:
  dynpose100k demo --out outputs/demo
  dynpose100k synth --out data/synth --num 20 --kind mixed --seed 0
  dynpose100k filter data/synth/*.mp4 --out outputs/scores.parquet
  dynpose100k pose data/synth/good_0004_s4.mp4 --out outputs/poses
  dynpose100k curate data/synth --out outputs/curated --workers 2
  dynpose100k bench pose

conventions: poses are world-to-camera 4x4 (OpenCV axes: x right, y down, z forward), K is 3x3 in pixels of
the stored frames. Run `dynpose100k VERB --help` for a verb's options and examples."""


def _verb_table() -> str:
    width = max(map(len, VERBS))
    return "\n".join(f"  {v.ljust(width)}  {h}" for v, (_, h) in VERBS.items())


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynpose100k",
        description="Curate dynamic videos into a camera-pose dataset.\n\nverbs:\n" + _verb_table(),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dynpose100k {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", help="one of the verbs above")
    for name, (module, help_) in VERBS.items():
        if name != verb:  # listed once, in the description's verb table
            sub.add_parser(name, add_help=False)
            continue
        mod = importlib.import_module(module)
        p = sub.add_parser(
            name,
            description=help_,
            epilog="examples:\n" + mod.EXAMPLES.strip("\n"),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _find_verb(argv: list[str]) -> str | None:
    for a in argv:
        if a in VERBS:
            return a
        if not a.startswith("-"):
            return None
    return None


EXIT_BROKEN_PIPE = 141
"""Exit code when standard output is closed before the verb finished writing (128 + SIGPIPE)."""


def _stdout_closed() -> bool:
    """True when the reader of standard output went away (a pipe whose read end is closed)."""
    import select

    try:
        fd = sys.stdout.fileno()
        if not hasattr(select, "poll"):
            return True
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    """Run one verb; returns the exit code (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = _find_verb(argv)
    try:
        try:
            code = _main(argv, verb)
        except SystemExit as e:  # argparse after --help, --version or a usage error
            if e.code is not None and not isinstance(e.code, int):
                raise
            code = e.code or 0
        sys.stdout.flush()  # a closed pipe shows here for short outputs
        return code
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # some other pipe broke: not ours to hide
        # the reader of stdout went away: discard what is left (also Python's flush at exit), one line, 141
        _discard(sys.stdout)
        try:
            print(f"dynpose100k{' ' + verb if verb else ''}: output closed early (broken pipe)", file=sys.stderr)
        except BrokenPipeError:  # stderr went into the same pipe (``2>&1 | head``): nobody is left to tell
            _discard(sys.stderr)
        return EXIT_BROKEN_PIPE


def _discard(stream) -> None:
    """Send what is still written to ``stream`` (also Python's flush at exit) to the null device."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)


def _main(argv: list[str], verb: str | None) -> int:
    parser = build_parser(verb)
    args = parser.parse_args(argv)
    if verb is None:
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 1
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._run(args) or 0)
    except DynPoseError as e:
        print(f"dynpose100k {verb}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dynpose100k {verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
