"""Small faces in video: a detector sweep over overlapping tiles, and landmarks in a region of
interest around each small face.

MediaPipe's detector sees a whole frame at 128×128, so a 40 px face in 640×480 shrinks to 8 px
and is never found; in a tile of 60 % of the frame it is 13 px and found. The landmarker then reads
it in a crop a few faces wide, where its own detector finds it again.
"""
from __future__ import annotations

from .stills import still_windows

ROI_FACES = 3.0  # crop side, in face sizes: context the landmarker's detector needs
MIN_ROI_SIDE = 64  # pixels; smaller crops leave the detector nothing to see
MIN_SEARCH_SCORE = 0.5  # a tile detection worth reading landmarks for


SCAN_EVERY = 3  # frames between tile scans: a full-frame pipeline pays ~1 % for the sweep


class TileSearch:
    """Which tiles the detector scans in each frame: all on a timeline's first frame, then one
    every SCAN_EVERY frames in turn, so a face entering the view is found within a sweep (18
    frames, 0.6 s at 30 fps, for the six tiles of 640×480)."""

    def __init__(self, every: int = SCAN_EVERY):
        self.frame, self.every = 0, every

    def windows(self, height: int, width: int) -> list[tuple[int, int, int, int]]:
        """The tiles to scan in the next frame."""
        tiles = still_windows(height, width)
        frame, self.frame = self.frame, self.frame + 1
        if not tiles or frame == 0:
            return tiles
        scan, rest = divmod(frame - 1, self.every)
        return [] if rest else [tiles[scan % len(tiles)]]

    def reset(self) -> None:
        self.frame = 0


def roi_window(box, height: int, width: int) -> tuple[int, int, int, int]:
    """A square crop ROI_FACES face sizes wide around `box`, kept inside the image."""
    x, y, w, h = box
    side = int(min(max(ROI_FACES * max(w, h), MIN_ROI_SIDE), height, width))
    cx, cy = x + w / 2, y + h / 2
    x0 = int(min(max(cx - side / 2, 0), width - side))
    y0 = int(min(max(cy - side / 2, 0), height - side))
    return x0, y0, side, side
