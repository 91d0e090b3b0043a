"""The webcam tab's output images (annotated frame, circumplex, timeline, AU bars) as short-lived
JPEG files.

Handed an array, gr.Image writes a new file to Gradio's temporary folder for every frame and keeps
it until a delete_cache sweep: about 1.5 GB of the visitor's face an hour. Written here, inside the
session's folder (where Gradio serves them without a copy), each frame's files replace those of
KEEP frames before, and close() deletes the rest. (Data URLs in a gr.HTML avoided the disk but
halved the frames shown per second in the browser test.)
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np

KEEP = 20  # frames on disk: about a second, time for the browser to fetch the newest
JPEG_QUALITY = 80
NAMES = ("faces", "circumplex", "timeline", "action_units")


class FramePictures:
    """Numbered JPEGs of each frame's pictures in a new folder inside `parent` (the system's
    temporary folder when None)."""

    def __init__(self, parent: Path | None = None):
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="webcam-", dir=parent))
        self.count = 0
        self.closed = False
        self.lock = threading.Lock()

    def write(self, *images: np.ndarray) -> list[str] | None:
        """Paths of the (H, W, 3) RGB `images` (NAMES order) written as this frame's; None once
        closed."""
        with self.lock:
            if self.closed:
                return None
            paths = [self._path(name, self.count) for name in NAMES[:len(images)]]
            for image, path in zip(images, paths):
                bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
                if not cv2.imwrite(str(path), bgr, (cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY)):
                    raise OSError(f"could not write {path}")
            for name in NAMES:
                self._path(name, self.count - KEEP).unlink(missing_ok=True)
            self.count += 1
            return [str(p) for p in paths]

    def _path(self, name: str, frame: int) -> Path:
        return self.folder / f"{name}-{frame:08d}.jpg"

    def close(self) -> None:
        """Delete the folder and everything in it; later writes are refused."""
        with self.lock:
            self.closed = True
            shutil.rmtree(self.folder, ignore_errors=True)
