"""DUSt3R in this project: a checkpoint-compatible model, safe checkpoint loading, the confidence-weighted
pointmap loss, frame-pair training data from our per-video records or shards, the fine-tuning loop and
poses from pairwise predictions. Needs the ``train`` extra (torch, accelerate, safetensors, pyyaml)."""
