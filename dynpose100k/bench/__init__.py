"""Benchmarks: each module defines ``run(out: Path, quick: bool) -> dict`` that measures the project and a
baseline in the same run, prints a table with ratios and saves ``<out>/<name>.json``. Not part of the tests."""

BENCHES = {
    "decode": "dynpose100k.bench.decode",
    "pose": "dynpose100k.bench.pose",
    "pose-speed": "dynpose100k.bench.pose_speed",
    "pose-robustness": "dynpose100k.bench.pose_robustness",
    "pose-dense": "dynpose100k.bench.pose_dense",
    "tracks": "dynpose100k.bench.tracks",
    "filter": "dynpose100k.bench.filter",
    "shots": "dynpose100k.bench.shots",
    "curate": "dynpose100k.bench.curate",
    "train": "dynpose100k.bench.train",
    "vlm": "dynpose100k.bench.vlm",
}
