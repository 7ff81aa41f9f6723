"""The dataset card ``README.md`` of a dataset directory, and its settings ``card.json``.

The card is a YAML header -- ``configs`` (``data_files`` -> ``data/train-*.tar``), ``dataset_info``
(the declared :func:`builder.features`, split size, byte counts), licence and pretty name -- over a
Markdown body made from the packaged template ``builder/dataset_card.md``. With it, the packaged
``webdataset`` builder of ``datasets`` loads the directory -- also with ``streaming=True`` -- and returns
typed columns: frames as images, poses as float arrays.

Writing again (an append, a new licence) regenerates the YAML keys that follow the data and the
settings (``GENERATED_KEYS``) and the body's generated blocks (between ``<!-- BEGIN generated:NAME ... -->``
and ``<!-- END generated:NAME -->``: title and description, statistics, field tables, licence); other
YAML keys and the rest of the body are left as the user edited them. The settings
(licence, pretty name, description, the rule of a quality subset) live in ``<dir>/card.json``: a
setting given once is kept by every later write of the card.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from dynpose100k.errors import ShardError
from dynpose100k.shards.reader import read_manifest
from dynpose100k.shards.schema import FIELDS, META_FIELDS
from dynpose100k.shards.subset import QualityRule

logger = logging.getLogger(__name__)

DATA_FILES = "data/train-*.tar"
SETTINGS_FILE = "card.json"
BLOCK_RE = re.compile(r"(<!-- BEGIN generated:(\w+)[^>]*-->\n)(.*?)(<!-- END generated:\2 -->)", re.S)
ID_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


def template_path() -> Path:
    """The card template shipped inside the package (``builder/dataset_card.md``)."""
    return Path(str(resources.files("builder").joinpath("dataset_card.md")))


@dataclass(frozen=True)
class CardSettings:
    """What the card says beyond the data itself; stored in ``<dir>/card.json`` and kept on appends."""

    pretty_name: str = "DynPose-100K (dynpose100k build)"
    """Title of the card and ``pretty_name`` of the YAML header."""
    license: str = "unknown"
    """Hub licence id (``cc-by-4.0``, ``apache-2.0``, ``unknown``, ``other``...); ``other`` needs
    ``license_name`` and ``license_link``."""
    license_name: str | None = None
    """Id of a licence that is not in the Hub's list (with ``license: other``), e.g. ``my-license-1.0``."""
    license_link: str | None = None
    """URL (or path in the repository) of that licence's text."""
    description: str | None = None
    """Markdown shown under the title (from ``--description-file``)."""
    subset: dict | None = None
    """For a quality subset: ``source`` (folder name), ``max_reproj_px``, ``min_registered``, ``kept``, ``total``."""

    def check(self) -> None:
        if not ID_RE.match(self.license):
            raise ShardError(f"licence {self.license!r}: use a Hub licence id such as cc-by-4.0, apache-2.0, other")
        if self.license == "other":
            if not self.license_name or not self.license_link:
                raise ShardError("--license other needs --license-name and --license-link")
            if not ID_RE.match(self.license_name):
                raise ShardError(f"licence name {self.license_name!r}: lowercase letters, digits, '.', '-' only")
        elif self.license_name or self.license_link:
            raise ShardError("--license-name and --license-link go with --license other")
        if not self.pretty_name.strip() or "\n" in self.pretty_name:
            raise ShardError("--pretty-name must be one non-empty line")


def read_settings(dataset_dir) -> CardSettings:
    """The stored settings of ``dataset_dir`` (defaults when it has none)."""
    path = Path(dataset_dir) / SETTINGS_FILE
    if not path.is_file():
        return CardSettings()
    try:
        data = json.loads(path.read_text())
        return CardSettings(**data)
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise ShardError(f"{path}: unreadable card settings ({e})") from None


def update_settings(dataset_dir, **changes) -> CardSettings:
    """Stored settings with ``changes`` applied (``None`` values keep the stored one), checked and saved.
    A licence other than ``other`` clears a stored ``license_name`` / ``license_link``."""
    unknown = set(changes) - {f.name for f in dataclasses.fields(CardSettings)}
    if unknown:
        raise TypeError(f"unknown card setting(s) {sorted(unknown)}")
    old = read_settings(dataset_dir)
    new = _apply(old, changes)
    if new != old or not (Path(dataset_dir) / SETTINGS_FILE).is_file():
        _atomic_write(Path(dataset_dir) / SETTINGS_FILE, json.dumps(dataclasses.asdict(new), indent=2) + "\n")
    return new


def _apply(old: CardSettings, changes: dict) -> CardSettings:
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes.get("license", "other") != "other":
        changes = {"license_name": None, "license_link": None, **changes}
    new = dataclasses.replace(old, **changes)
    new.check()
    return new


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


# -- statistics ---------------------------------------------------------------------------------------


def _payload_bytes(dataset_dir: Path, entry: dict) -> int:
    """Bytes of the sample payloads of one shard (the manifest's per-sample ``bytes``; older manifests
    without them: the member sizes read from the tar headers)."""
    if all("bytes" in s for s in entry["samples"]):
        return int(sum(s["bytes"] for s in entry["samples"]))
    with tarfile.open(dataset_dir / entry["shard"], "r:") as tf:
        return int(sum(m.size for m in tf))


def dataset_stats(dataset_dir) -> dict:
    """Counts, sizes and quality statistics from the manifest of ``dataset_dir``."""
    d = Path(dataset_dir)
    entries = read_manifest(d)
    samples = [s for e in entries for s in e["samples"]]
    reproj = np.array([s["reproj_error_px_720p"] for s in samples if s.get("reproj_error_px_720p") is not None])
    reg = np.array([s["registered_fraction"] for s in samples if s.get("registered_fraction") is not None])

    def q(a, p):
        return f"{np.quantile(a, p):.2f}" if len(a) else "n/a"

    return {
        "num_videos": len(samples),
        "num_frames": int(sum(s["num_frames"] for s in samples)),
        "num_shards": len(entries),
        "total_bytes": int(sum(e["bytes"] for e in entries)),
        "payload_bytes": int(sum(_payload_bytes(d, e) for e in entries)),
        "total_mb": f"{sum(e['bytes'] for e in entries) / 1e6:.1f}",
        "reproj_p25": q(reproj, 0.25),
        "reproj_p50": q(reproj, 0.5),
        "reproj_p75": q(reproj, 0.75),
        "reproj_missing": sum(s.get("reproj_error_px_720p") is None for s in samples),
        "registered_p50": q(reg, 0.5),
        "registered_min": f"{reg.min():.2f}" if len(reg) else "n/a",
    }


def _filter_example(dataset_dir) -> str:
    """The card's selection example: the confidence rule, or the registration rule alone for a dataset none of
    whose videos has a confidence (clips imported from the official release), which the first would empty."""
    samples = [s for e in read_manifest(Path(dataset_dir)) for s in e["samples"]]
    if samples and all(s.get("confidence") is None for s in samples):
        return QualityRule(min_registered=0.8).snippet() + "  # no video here has a confidence"
    return QualityRule(min_confidence=0.5, min_registered=0.8).snippet()


def _size_category(n: int) -> str:
    for limit, name in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]:
        if n < limit:
            return name
    return "1M<n<10M"


def _tables() -> dict:
    fields = "\n".join(["| field | content |", "|---|---|"] + [f"| `{k}` | {d} |" for k, (_, d) in FIELDS.items()])
    meta = "\n".join(["| key | type | content |", "|---|---|---|"]
                     + [f"| `{k}` | {t} | {d} |" for k, (t, _, d) in META_FIELDS.items()])
    return {"fields_table": fields, "meta_table": meta}


def _license_text(s: CardSettings) -> str:
    if s.license == "unknown":
        return ("Not set (`license: unknown`). Set it with `--license` (and for `other`, `--license-name` and "
                "`--license-link`) on `dynpose100k shard`, `curate`, `subset` or `import-release`.")
    if s.license == "other":
        return f"`{s.license_name}`: {s.license_link}"
    return f"`{s.license}`"


def _subset_note(subset: dict | None) -> str:
    if not subset:
        return ""
    rule = QualityRule.from_thresholds(subset)
    flags = " ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in rule.thresholds().items() if v is not None)
    return (f"\nQuality subset of `{subset.get('source')}`: videos with {rule.describe()} (a missing value fails "
            f"a set threshold), {subset.get('kept')} of {subset.get('total')} kept "
            f"(`dynpose100k subset {flags}`).\n")


# -- rendering ----------------------------------------------------------------------------------------


# YAML keys that follow the data and the settings; other keys (tags, task_categories, language, ...) keep
# what the previous card says, so a hand edit of them survives.
GENERATED_KEYS = {"pretty_name", "license", "license_name", "license_link", "size_categories", "configs",
                  "dataset_info"}


def _header(stats: dict, s: CardSettings, previous: dict | None = None) -> str:
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    from .load import features

    kept = {k: v for k, v in (previous or {}).items() if k not in GENERATED_KEYS}
    defaults = {"task_categories": ["image-to-3d"],
                "tags": ["camera-pose", "video", "dynamic-scenes", "webdataset", "structure-from-motion"]}
    extra = {"license_name": s.license_name, "license_link": s.license_link} if s.license == "other" else {}
    data = DatasetCardData(
        pretty_name=s.pretty_name,
        license=s.license,
        size_categories=[_size_category(stats["num_videos"])],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILES}]}],
        **{**defaults, **kept}, **extra,
    )
    # The split size and byte counts make the card differ between datasets: `datasets` keys its cache on
    # the card, so two folders with the same name and identical cards would share (and return) one cache
    # entry. `datasets` also checks the declared number of examples when it builds. num_bytes /
    # dataset_size: bytes of the sample payloads (tar members without tar headers); download_size: the shards.
    splits = SplitDict({"train": SplitInfo("train", num_bytes=stats["payload_bytes"],
                                           num_examples=stats["num_videos"])})
    info = DatasetInfo(features=features(), splits=splits, download_size=stats["total_bytes"],
                       dataset_size=stats["payload_bytes"])
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    return f"---\n{data.to_yaml()}\n---\n"


def _fill(template: Path, values: dict) -> str:
    def fill(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ShardError(f"{template}: unknown placeholder {{{{ {m.group(1)} }}}}")
        return str(values[m.group(1)])

    return re.sub(r"\{\{\s*(\w+)\s*\}\}", fill, template.read_text())


def _split_header(text: str) -> tuple[dict, str]:
    """The YAML header (as a dict; empty if absent or unreadable) and the body of a card."""
    import yaml

    m = re.match(r"---\n(.*?)\n---\n\n?", text, re.S)
    if not m:
        return {}, text
    try:
        head = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        logger.warning("the card's YAML header is unreadable; it is written anew")
        head = None
    return (head if isinstance(head, dict) else {}), text[m.end():]


def _merge(old_body: str, new_body: str) -> str:
    """``old_body`` with each generated block replaced by the block of the same name in ``new_body``."""
    fresh = {m.group(2): m.group(3) for m in BLOCK_RE.finditer(new_body)}
    return BLOCK_RE.sub(lambda m: m.group(1) + fresh.get(m.group(2), m.group(3)) + m.group(4), old_body)


def render_card(dataset_dir, settings: CardSettings | None = None, *, template: Path | None = None,
                previous: str | None = None) -> str:
    """The card text for ``dataset_dir`` (``settings``: default the stored ones). With ``previous`` (the
    current card), only the generated YAML keys (``GENERATED_KEYS``) and body blocks are replaced; a
    previous card without generated blocks keeps its body as it is."""
    template = Path(template or template_path())
    if not template.is_file():
        raise ShardError(f"{template}: dataset card template not found")
    s = settings or read_settings(dataset_dir)
    stats = dataset_stats(dataset_dir)
    reproj_note = (f" ({stats['reproj_missing']} without a value)" if stats["reproj_missing"] else "")
    description = f"\n{s.description.strip()}\n" if (s.description or "").strip() else ""
    values = {**stats, **_tables(), "pretty_name": s.pretty_name, "description": description,
              "reproj_note": reproj_note, "license_text": _license_text(s), "subset_note": _subset_note(s.subset),
              "filter_example": _filter_example(dataset_dir)}
    body = _fill(template, values)
    old_head = {}
    if previous is not None:
        old_head, old = _split_header(previous)
        if BLOCK_RE.search(old):
            body = _merge(old, body)
        else:
            logger.warning("%s: the card has no generated blocks; its body is kept and only the YAML header "
                           "is rewritten", dataset_dir)
            body = old
    return f"{_header(stats, s, old_head)}\n{body}"


def write_card(dataset_dir, *, template: Path | None = None, **settings) -> Path:
    """Write ``<dataset_dir>/README.md``; ``settings`` (fields of :class:`CardSettings`, ``None`` = keep)
    update ``card.json`` first. A hand edit of the body outside the generated blocks is kept."""
    d = Path(dataset_dir)
    s = update_settings(d, **settings)
    path = d / "README.md"
    previous = path.read_text() if path.is_file() else None
    _atomic_write(path, render_card(d, s, template=template, previous=previous))
    logger.info("wrote %s", path)
    return path


# -- command-line options -----------------------------------------------------------------------------


def add_card_arguments(parser) -> None:
    """The card options of the verbs that write a dataset (stored in ``card.json``, kept on appends)."""
    g = parser.add_argument_group("dataset card (stored in <dataset>/card.json and kept by later runs)")
    g.add_argument("--license", help="Hub licence id: cc-by-4.0, cc-by-nc-4.0, apache-2.0, ..., other "
                   "(default: unknown)")
    g.add_argument("--license-name", help="with --license other: an id for the licence, e.g. my-license-1.0")
    g.add_argument("--license-link", help="with --license other: URL of the licence text")
    g.add_argument("--pretty-name", help="title of the card")
    g.add_argument("--description-file", type=Path, help="Markdown file shown under the card's title")


def card_options(args) -> dict:
    """The card settings given on the command line (``None`` = not given) for :func:`write_card`."""
    description = None
    if getattr(args, "description_file", None) is not None:
        try:
            description = Path(args.description_file).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ShardError(f"{args.description_file}: unreadable description file ({e})") from None
    return {"license": args.license, "license_name": args.license_name, "license_link": args.license_link,
            "pretty_name": args.pretty_name, "description": description}


def check_card_options(dataset_dir, options: dict) -> None:
    """Fail before any work when the card could not be written: options refused (with the stored
    settings), or no template in the installed package."""
    if not template_path().is_file():
        raise ShardError(f"{template_path()}: dataset card template not found (a broken install?)")
    _apply(read_settings(dataset_dir), options)
