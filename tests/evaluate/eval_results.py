"""Pose result folders made from ground truth, for the evaluation tests."""

from __future__ import annotations

import numpy as np


def save_result(out, gt, w2c, registered, *, K=None, image_size=None, reproj_px_720p=1.0, confidence=float("nan"),
                failure_reason=None, video_id=None):
    """Write a complete pose result folder ``<out>/<id>/`` for ground truth ``gt`` with the given cameras."""
    from dynpose100k.pose.result import PoseResult, save_pose_result

    n = gt.num_frames
    hw = tuple(image_size or gt.image_size)
    res = PoseResult(
        video_id=video_id or gt.video_id, w2c=np.asarray(w2c, np.float64), K=gt.K.copy() if K is None else K,
        registered=np.asarray(registered, bool), timestamps=gt.timestamps, image_size=hw,
        points3d=np.zeros((0, 3), np.float32), obs_track=np.zeros(0, np.int32), obs_frame=np.zeros(0, np.int32),
        obs_uv=np.zeros((0, 2), np.float32), dynamic_masks=np.zeros((n, 4, 4), bool),
        reproj_error_px=reproj_px_720p * hw[0] / 720, camera_model="SIMPLE_PINHOLE", failure_reason=failure_reason,
        confidence=confidence)
    return save_pose_result(out, res)
