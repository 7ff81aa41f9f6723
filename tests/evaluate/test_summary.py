import math

import numpy as np
import pytest

from dynpose100k.evaluate import VideoScore, summarise


def _score(rate, ate, mean=None, ate_reg=None):
    samp = None if mean is None else {"pct_lt_5": 0.0, "pct_lt_10": 0.0, "pct_lt_30": 0.0, "mean": mean, "count": 1}
    return VideoScore(registration_rate=rate, success=rate > 0, ate=ate, rpe_trans=2 * ate, rpe_rot_deg=3 * ate,
                      focal_rel_error=math.nan, sampson=samp, ate_registered=ate_reg)


def test_means_over_videos():
    s = summarise([_score(1.0, 0.1, 2.0, 0.05), _score(0.5, 0.3, 20.0), _score(0.0, math.nan, 40.0)])
    assert s["videos"] == 3
    assert s["videos_registered_pct"] == pytest.approx(200 / 3)
    assert s["videos_min_registered_pct"] == pytest.approx(100 / 3)
    assert s["frames_registered_pct"] == pytest.approx(50.0)
    assert s["ate"] == pytest.approx(0.2) and s["rpe_rot_deg"] == pytest.approx(0.6)  # a still camera's NaN left out
    assert s["ate_registered"] == pytest.approx(0.05)  # only the video that has it
    # the paper's table: share of videos whose mean Sampson error is below 5 / 10 / 30 px
    assert s["sampson"]["pct_lt_5"] == pytest.approx(100 / 3) and s["sampson"]["pct_lt_30"] == pytest.approx(200 / 3)
    assert s["sampson"]["mean"] == pytest.approx(62 / 3)


def test_empty_and_missing():
    s = summarise([])
    assert s["videos"] == 0 and np.isnan(s["ate"]) and np.isnan(s["frames_registered_pct"]) and s["sampson"] is None
    assert summarise([_score(1.0, 0.1)])["sampson"] is None
