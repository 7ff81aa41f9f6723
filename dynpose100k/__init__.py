"""dynpose100k: turn dynamic videos into a camera-pose dataset, load it, and train on it.

Conventions: see :mod:`dynpose100k.camera` (world-to-camera 4x4, OpenCV axes, K in stored-frame pixels).

Import order: this package loads Python's ``zlib`` before anything of it can load pycolmap. The Linux wheels
of pycolmap (4.2) carry their own zlib and also load the system ``libz``; when pycolmap is imported first,
that ``libz`` binds its internal calls to pycolmap's copy and the first compression in the process (every
``.npz`` a pose result writes) aborts it. So import dynpose100k (or ``zlib``) before ``pycolmap``; the
other order is warned about on import.
"""

import sys as _sys

if _sys.platform.startswith("linux") and "pycolmap" in _sys.modules and "zlib" not in _sys.modules:
    import warnings as _warnings

    _warnings.warn("pycolmap was imported before zlib: compressing (e.g. saving a pose result) may abort this "
                   "process; import dynpose100k or zlib before pycolmap", RuntimeWarning, stacklevel=2)

import zlib as _zlib  # noqa: E402,F401  (before pycolmap: see above)

__version__ = "0.1.0"
