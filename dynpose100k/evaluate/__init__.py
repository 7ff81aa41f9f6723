"""Evaluation against ground truth: one protocol, one loop.

* :mod:`.video`: :func:`score_video` / :func:`score_result` score one video (ATE Sim(3), RPE, the paper's
  Sampson protocol, registered share); the protocol for failed frames is stated there and used by every caller.
* :mod:`.summary`: :func:`summarise` over videos (the benchmark, ``dynpose100k eval``, the scripts in ``eval/``).
* :mod:`.masks`: dynamic-mask IoU and static-track precision of the pose engine.
* :mod:`.tracks`: a tracker's point tracks against the true positions of the points they follow.
* :mod:`.quality`: the paper's last table (data kept vs pose error at reprojection-error or confidence
  thresholds).
* :mod:`.report`: the demo's tables and plots of a curated, labelled synthetic pool.

The array metrics themselves (alignment, ATE/RPE, Sampson, precision/recall) are :mod:`dynpose100k.metrics`.
"""

from .masks import mask_iou, static_track_precision
from .summary import summarise
from .tracks import TrackErrors, track_errors
from .video import VideoScore, guess_K, registered_ate, score_result, score_video, truth_of_frames

__all__ = ["VideoScore", "score_video", "score_result", "truth_of_frames", "guess_K", "registered_ate", "summarise",
           "mask_iou", "static_track_precision", "TrackErrors", "track_errors"]
