"""The video tab's outputs: the annotated video and the valence/arousal timeline and AU heat strip
of a whole file, drawn by the same code as `affectstream process --annotate` and `affectstream
plot` (annotate.py, plotting.py)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..annotate import annotate_video
from ..plotting import au_figure, render, timeline_figure
from ..tables import to_dataframe
from ..types import Affect

__all__ = ["annotate_video", "au_strip", "save_png", "va_timeline"]


def save_png(image: np.ndarray, path: Path) -> str:
    """Write an (H, W, 3) RGB image; the path, as an output component takes it."""
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return str(path)


def va_timeline(rows: list[Affect]) -> np.ndarray:
    """Valence and arousal of each face over the video, with ±1σ bands where there are stds."""
    return render(timeline_figure(to_dataframe(rows)))


def au_strip(rows: list[Affect]) -> np.ndarray:
    """A heat strip: the AU intensities of the main face (rows) over time (columns)."""
    return render(au_figure(to_dataframe(rows)))
