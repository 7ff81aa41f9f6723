"""Dynamic pose engine: sliding-window grid tracks, dynamic masks, SfM + bundle adjustment on static tracks.

Public API: :class:`PoseConfig`, :data:`PRESETS`, :func:`estimate_poses`, :func:`pose_video`,
:class:`PoseResult`, :func:`save_pose_result`, :func:`load_pose_result`, :func:`read_summary`,
:func:`find_pose_results` (the result folder's one reader and writer: :mod:`.result`).
"""

from .config import DEFAULT_PRESET, PRESETS, PoseConfig, get_preset
from .pipeline import estimate_poses, pose_video, video_id_of
from .result import (
    PoseResult,
    PoseResultError,
    find_pose_results,
    is_pose_result,
    load_pose_result,
    read_summary,
    result_exists,
    save_pose_result,
)

__all__ = [
    "DEFAULT_PRESET", "PRESETS", "PoseConfig", "get_preset", "estimate_poses", "pose_video", "video_id_of",
    "PoseResult", "PoseResultError", "find_pose_results", "is_pose_result", "load_pose_result", "read_summary",
    "result_exists", "save_pose_result",
]
