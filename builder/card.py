"""Generate the dataset card ``README.md`` of a dataset directory.

The card is the template ``dataset_card.md`` (``{{ name }}`` placeholders filled from the manifest) under
a YAML header holding ``configs`` (``data_files`` -> ``data/train-*.tar``) and ``dataset_info.features``
(the declared types from :func:`dynpose100k.shards.schema.hf_features`). With it, the packaged
``webdataset`` builder of ``datasets`` loads the directory -- also with ``streaming=True`` -- and returns
typed columns: frames as images, poses as float arrays.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from dynpose100k.errors import ShardError
from dynpose100k.shards.reader import read_manifest
from dynpose100k.shards.schema import FIELDS, META_FIELDS, hf_features

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).resolve().parent.parent / "dataset_card.md"
DATA_FILES = "data/train-*.tar"


def quality_filter_expression(max_reproj_px: float | None = None, min_registered: float | None = None,
                              min_confidence: float | None = None) -> str:
    """A ``datasets`` filter call equivalent to ``dynpose100k subset`` with the same thresholds."""
    conds = []
    if min_confidence is not None:
        conds.append(f'm["confidence"] is not None and m["confidence"] >= {min_confidence:g}')
    if max_reproj_px is not None:
        conds.append(f'm["reproj_error_px_720p"] is not None and m["reproj_error_px_720p"] < {max_reproj_px:g}')
    if min_registered is not None:
        conds.append(f'm["registered_fraction"] >= {min_registered:g}')
    return f'ds.filter(lambda m: {" and ".join(conds) or "True"}, input_columns="meta.json")'


def dataset_stats(dataset_dir) -> dict:
    """Counts and quality statistics from the manifest of ``dataset_dir``."""
    entries = read_manifest(dataset_dir)
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
        "total_mb": f"{sum(e['bytes'] for e in entries) / 1e6:.1f}",
        "reproj_p25": q(reproj, 0.25),
        "reproj_p50": q(reproj, 0.5),
        "reproj_p75": q(reproj, 0.75),
        "registered_p50": q(reg, 0.5),
        "registered_min": f"{reg.min():.2f}" if len(reg) else "n/a",
    }


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


def render_card(dataset_dir, *, pretty_name: str = "DynPose-100K (dynpose100k build)", license: str = "other",
                template: Path | None = None, extra: dict | None = None) -> str:
    """The card text (YAML header + filled template) for ``dataset_dir``."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    template = Path(template or TEMPLATE)
    if not template.is_file():
        raise ShardError(f"{template}: dataset card template not found")
    stats = dataset_stats(dataset_dir)
    values = {**stats, **_tables(), "pretty_name": pretty_name, "filter_example":
              quality_filter_expression(1.2, 0.8), **(extra or {})}

    def fill(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ShardError(f"{template}: unknown placeholder {{{{ {m.group(1)} }}}}")
        return str(values[m.group(1)])

    body = re.sub(r"\{\{\s*(\w+)\s*\}\}", fill, template.read_text())
    data = DatasetCardData(
        pretty_name=pretty_name,
        license=license,
        task_categories=["image-to-3d"],
        tags=["camera-pose", "video", "dynamic-scenes", "webdataset", "structure-from-motion"],
        size_categories=[_size_category(stats["num_videos"])],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILES}]}],
    )
    # The split size and shard bytes make the card differ between datasets: `datasets` keys its cache on the
    # card, so two folders with the same name and identical cards would share (and return) one cache entry.
    # `datasets` also checks the declared number of examples when it builds.
    splits = SplitDict({"train": SplitInfo("train", num_bytes=0, num_examples=stats["num_videos"])})
    info = DatasetInfo(features=hf_features(), splits=splits, download_size=stats["total_bytes"])
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def write_card(dataset_dir, **kwargs) -> Path:
    """Write ``<dataset_dir>/README.md`` (see :func:`render_card`); returns its path."""
    path = Path(dataset_dir) / "README.md"
    tmp = path.with_name(".README.md.tmp")
    tmp.write_text(render_card(dataset_dir, **kwargs))
    tmp.replace(path)
    logger.info("wrote %s", path)
    return path
