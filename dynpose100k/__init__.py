"""dynpose100k: turn dynamic videos into a camera-pose dataset, load it, and train on it.

Conventions: see :mod:`dynpose100k.camera` (world-to-camera 4x4, OpenCV axes, K in stored-frame pixels).
"""

__version__ = "0.1.0"
