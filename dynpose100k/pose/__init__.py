"""Dynamic pose engine: sliding-window grid tracks, dynamic masks, SfM + bundle adjustment on static tracks.

Public API: :class:`PoseConfig`, :data:`PRESETS`, :func:`estimate_poses`, :func:`pose_video`,
:class:`PoseResult`, :func:`save_pose_result`, :func:`load_pose_result`.
"""

from .config import DEFAULT_PRESET, PRESETS, PoseConfig, get_preset
from .pipeline import estimate_poses, pose_video, video_id_of
from .result import PoseResult, PoseResultError, load_pose_result, result_exists, save_pose_result

__all__ = [
    "DEFAULT_PRESET", "PRESETS", "PoseConfig", "get_preset", "estimate_poses", "pose_video", "video_id_of",
    "PoseResult", "PoseResultError", "load_pose_result", "result_exists", "save_pose_result",
]
