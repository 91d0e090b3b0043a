"""MediaPipe's ctypes bindings used from several threads without crashing the process.

MediaPipe (≥ 1.2) sets the `argtypes` and `restype` of shared ctypes functions again each time it
builds something: every `mp.Image()` re-registers all of the image functions, and every task it
creates re-registers that task's functions. A thread doing so while another thread is inside one
of those functions frees what that call is still using: a segmentation fault or a nonsense
exception (`process` on two short clips crashed in 3 of 29 runs while the tile sweep built its
images on the detector thread; none in 40 with this module). So, process-wide:

- every mp.Image is built, and freed, under one lock (`images`, `release`);
- creating or closing a task waits until no task call is running anywhere (`registering`), and
  task calls, which may overlap each other, wait while one is created or closed (`calling`).
"""
from __future__ import annotations

import contextlib
import threading
import traceback

import mediapipe as mp
import numpy as np

_images = threading.Lock()


def images(views: list[np.ndarray]) -> list[mp.Image]:
    """mp.Images of contiguous uint8 RGB `views`; the caller keeps the only references and hands
    them to `release`."""
    with _images:
        return [mp.Image(image_format=mp.ImageFormat.SRGB, data=view) for view in views]


def release(made: list[mp.Image], error: BaseException | None = None) -> None:
    """Free the images in `made` (emptied): their last references go under the lock, and so do
    those the frames of `error`'s traceback hold (a task call that raised)."""
    with _images:
        if error is not None:
            traceback.clear_frames(error.__traceback__)
        made.clear()


class _SharedExclusive:
    """Any number of `calling` sections at once, or one `registering` section; a waiting
    registration holds back new calls so that a busy stream cannot starve it."""

    def __init__(self):
        self._turn = threading.Condition()
        self._calls = 0
        self._registering = False

    @contextlib.contextmanager
    def calling(self):
        with self._turn:
            self._turn.wait_for(lambda: not self._registering)
            self._calls += 1
        try:
            yield
        finally:
            with self._turn:
                self._calls -= 1
                self._turn.notify_all()

    @contextlib.contextmanager
    def registering(self):
        with self._turn:
            self._turn.wait_for(lambda: not self._registering)
            self._registering = True
            self._turn.wait_for(lambda: self._calls == 0)
        try:
            yield
        finally:
            with self._turn:
                self._registering = False
                self._turn.notify_all()


_tasks = _SharedExclusive()
calling = _tasks.calling
registering = _tasks.registering
