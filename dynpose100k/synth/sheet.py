"""``contact_sheet``: one labelled frame per kind and style in a single PNG, to see what the generator makes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from . import kinds as kd
from .render import STYLES, render


def contact_sheet(path, kinds=None, styles=STYLES, seed: int = 0, size: tuple[int, int] = (320, 180),
                  columns: int = 9) -> Path:
    """Render a short clip per ``(style, kind)`` (``size`` = width, height; also a portrait ``good`` clip per
    style) and save the frame of each where movers cover most (else the middle frame), labelled, as a grid PNG at
    ``path`` (each style starts a row)."""
    kinds = list(kinds or kd.KINDS)
    w, h = size
    tiles = []
    per_style = -(-(len(kinds) + 1) // columns) * columns
    for style in styles:
        for kind in kinds + ["good"]:
            portrait = kind == "good" and len(tiles) % per_style == len(kinds)
            ww, hh = (h, w) if portrait else (w, h)
            v = render(kind, seed, height=hh, width=ww, fps=6.0, duration=1.5, style=style, pairs=0)
            cover = v.gt.dynamic_mask.mean(axis=(1, 2))
            img = v.frames[int(np.argmax(cover)) if cover.max() > 0.005 else len(v.frames) // 2]  # show movers
            if portrait:  # a portrait frame, letterboxed into the tile
                small = cv2.resize(img, (h * h // w, h), interpolation=cv2.INTER_AREA)
                img = np.zeros((h, w, 3), np.uint8)
                x0 = (w - small.shape[1]) // 2
                img[:, x0 : x0 + small.shape[1]] = small
            img = np.ascontiguousarray(img)
            label = f"{kind} ({style})" + (" portrait" if portrait else "")
            cv2.rectangle(img, (0, 0), (w, 18), (0, 0, 0), -1)
            cv2.putText(img, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(img)
        tiles += [None] * (-len(tiles) % columns)  # the next style starts a new row
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (h + 4), columns * (w + 4), 3), 255, np.uint8)
    for i, img in enumerate(tiles):
        if img is None:
            continue
        r, c = divmod(i, columns)
        sheet[r * (h + 4) : r * (h + 4) + h, c * (w + 4) : c * (w + 4) + w] = img
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path
