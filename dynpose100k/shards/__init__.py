"""WebDataset shards: one video per sample (see :mod:`.schema`), atomic writer with a manifest, readers.

Writing: ``build_sample(pose_dir, video_or_frames, meta)`` (the pose result folder read by
:func:`dynpose100k.pose.load_pose_result`) -> ``write_shards(samples, out_dir)`` (or a
``DatasetWriter`` for incremental appends; ``existing_keys(out_dir)`` lists what is published).
Reading: ``iter_samples(dir_or_tar)`` (checked, decoded), ``make_pipeline(dir)`` (training),
``open_sample(path, key=...)``. Selection: ``QualityRule`` (``make_subset`` and ``ds.filter`` both use it).
Nothing here imports the Hugging Face side (the top-level ``builder`` package: card, features, Hub
upload); the orchestrators (``dynpose100k`` verbs, the curation runner) call it after writing shards.
"""

from .build import build_sample, open_sample, resize_frames
from .reader import existing_keys, iter_raw, iter_samples, make_pipeline, read_manifest, shard_paths
from .schema import FIELDS, META_FIELDS, VideoSample, decode_sample, encode_sample, validate_sample
from .subset import QualityRule, copy_samples, make_subset
from .writer import DatasetWriter, ShardConfig, WriteResult, write_sample_tar, write_shards

__all__ = [
    "FIELDS", "META_FIELDS", "VideoSample", "ShardConfig", "WriteResult", "DatasetWriter",
    "build_sample", "open_sample", "resize_frames", "write_shards", "write_sample_tar",
    "existing_keys",
    "read_manifest", "iter_samples", "iter_raw", "make_pipeline", "shard_paths", "decode_sample",
    "encode_sample", "validate_sample", "QualityRule", "make_subset", "copy_samples",
]
