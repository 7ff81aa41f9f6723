"""Fine-tune DUSt3R on DynPose-100K shards (or rendered videos) with Hugging Face Accelerate.

  accelerate launch train/finetune.py --config train/configs/finetune_dynpose_512_dpt.yaml
  python train/finetune.py --config train/configs/tiny_cpu.yaml --max-steps 20

Settings are the fields of ``dynpose100k.dust3r.training.TrainConfig``; ``--set key=value`` overrides any
(YAML syntax for the value). Re-running the same command resumes from ``<output_dir>/state``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML file of TrainConfig fields")
    p.add_argument("--output-dir", help="override output_dir")
    p.add_argument("--init", help="override init (official checkpoint path)")
    p.add_argument("--max-steps", type=int, help="override max_steps")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any field")
    a = p.parse_args(argv)

    import yaml

    from dynpose100k.dust3r.training import load_config, train
    from dynpose100k.errors import DynPoseError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        extra = {}
        for kv in a.set:
            k, sep, v = kv.partition("=")
            if not sep:
                raise DynPoseError(f"--set expects KEY=VALUE, got {kv!r}")
            extra[k.strip()] = yaml.safe_load(v)
        cfg = load_config(a.config, extra, output_dir=a.output_dir, init=a.init, max_steps=a.max_steps)
        summary = train(cfg)
    except DynPoseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
