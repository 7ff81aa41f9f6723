"""Hugging Face side of dynpose100k: the dataset card, the declared features, loading helpers, Hub upload.

The flow runs one way: stages write shards (``dynpose100k.shards``), then the caller writes the card.

- ``builder.write_dataset(samples, dir, ...)``: shards + card in one call;
  ``builder.card.write_card(dir, license=..., pretty_name=...)``: (re)write the card of a folder;
- ``builder.features()``: the ``datasets.Features`` to pass when loading shard files directly
  (``load_dataset("webdataset", data_files=[...], features=features())``);
- ``builder.load.load(dir)``: ``load_dataset`` with bare column names (``w2c``, ``K``, ``frames``);
- ``builder.hub.push(dir, "org/name")``: upload to the Hub.
"""

from .card import write_card
from .load import features

__all__ = ["features", "write_card", "write_dataset"]


def write_dataset(samples, out_dir, config=None, **card):
    """Append ``samples`` to the dataset folder ``out_dir`` (``dynpose100k.shards.write_shards``), then write
    its card (``card``: settings for :func:`builder.card.write_card`). Returns the ``WriteResult``."""
    from dynpose100k.shards import ShardConfig, write_shards

    result = write_shards(samples, out_dir, config or ShardConfig())
    write_card(out_dir, **card)
    return result
