"""Semantic backend: a tiny randomly initialised Mask2Former built, saved and reloaded from a local folder."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("torch")

from dynpose100k.models.segmentation import MovableSegmenter, SegmentationError, movable_ids  # noqa: E402


def test_movable_ids_match_label_words():
    labels = {0: "person", 1: "wall", 2: "car", 3: "pavement", 4: "traffic light", 5: "dog-other", 6: "carpet"}
    assert movable_ids(labels) == [0, 2, 5]


def test_tiny_mask2former_roundtrip(tmp_path):
    import torch
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    torch.manual_seed(0)
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                          window_size=4, out_features=["stage1", "stage2", "stage3", "stage4"])
    config = Mask2FormerConfig(
        backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32, encoder_feedforward_dim=32,
        encoder_layers=1, decoder_layers=2, num_attention_heads=2, dim_feedforward=32, num_queries=4,
        id2label={0: "person", 1: "wall", 2: "car"}, label2id={"person": 0, "wall": 1, "car": 2},
    )
    Mask2FormerForUniversalSegmentation(config).save_pretrained(tmp_path)
    Mask2FormerImageProcessor(size={"height": 64, "width": 64}, do_resize=True).save_pretrained(tmp_path)

    seg = MovableSegmenter(tmp_path, batch_size=2)
    assert seg.ids == [0, 2]
    frames = np.random.default_rng(0).integers(0, 255, (3, 48, 80, 3), dtype=np.uint8)
    masks = seg(frames)
    assert masks.shape == (3, 48, 80) and masks.dtype == bool
    # the masks are exactly the movable classes of the model's own semantic prediction
    inputs = seg.processor(images=list(frames[:1]), return_tensors="pt")
    with torch.inference_mode():
        ref = seg.processor.post_process_semantic_segmentation(seg.model(**inputs), target_sizes=[(48, 80)])[0].numpy()
    assert np.array_equal(masks[0], np.isin(ref, [0, 2]))


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SegmentationError, match="config.json"):
        MovableSegmenter(tmp_path / "nope")
