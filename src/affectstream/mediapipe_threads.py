"""MediaPipe's ctypes bindings used from several threads without crashing the process.

MediaPipe (≥ 1.2) sets the `argtypes` and `restype` of shared ctypes functions again each time it
builds something: every `mp.Image()` re-registers all of the image functions, and every task it
creates re-registers that task's functions. A thread doing so while another thread is inside one
of those functions frees what that call is still using: a segmentation fault or a nonsense
exception (`process` on two short clips crashed in 3 of 29 runs while the tile sweep built its
images on the detector thread; none in 105 with this module). So, process-wide:

- every mp.Image is built, and freed, under one lock (`lend`, `release`);
- creating a task waits until no task call is running anywhere (`registering`), and task calls
  (closing a task is one), which may overlap each other, wait while one is created (`calling`).
"""
from __future__ import annotations

import contextlib
import threading
import traceback

import mediapipe as mp
import numpy as np

_images = threading.RLock()  # a finaliser the GC runs while this thread holds it must not wait


def lend(view: np.ndarray) -> list[mp.Image]:
    """[the mp.Image of a contiguous uint8 RGB `view`]: the list holds the only reference, which
    the caller hands back to `release`."""
    with _images:
        return [mp.Image(image_format=mp.ImageFormat.SRGB, data=view)]


def release(made: list[mp.Image], error: BaseException | None = None) -> None:
    """Free the images in `made` (emptied): their last references go under the lock, and so do
    those the frames of `error`'s traceback hold (a task call that raised)."""
    with _images:
        if error is not None:
            traceback.clear_frames(error.__traceback__)
        made.clear()


class SharedExclusive:
    """Any number of `calling` sections at once, or one `registering` section; a waiting
    registration holds back new calls so that a busy stream cannot starve it.

    A thread already inside either section never waits to enter `calling` (a finaliser the
    garbage collector runs there, closing a task, would otherwise wait for itself): its nested
    call runs while its own section stands, so no other thread's registration is under way."""

    def __init__(self):
        self._turn = threading.Condition()
        self._calls = 0
        self._registrar: int | None = None  # the thread inside `registering`
        self._depth = threading.local()  # this thread's nesting of `calling`

    def _inside(self) -> bool:
        return getattr(self._depth, "n", 0) > 0 or self._registrar == threading.get_ident()

    @contextlib.contextmanager
    def calling(self):
        with self._turn:
            if not self._inside():
                self._turn.wait_for(lambda: self._registrar is None)
            self._calls += 1
        self._depth.n = getattr(self._depth, "n", 0) + 1
        try:
            yield
        finally:
            self._depth.n -= 1
            with self._turn:
                self._calls -= 1
                self._turn.notify_all()

    @contextlib.contextmanager
    def registering(self):
        if self._inside():
            raise RuntimeError("a MediaPipe task cannot be created inside a MediaPipe call")
        with self._turn:
            self._turn.wait_for(lambda: self._registrar is None)
            self._registrar = threading.get_ident()
            self._turn.wait_for(lambda: self._calls == 0)
        try:
            yield
        finally:
            with self._turn:
                self._registrar = None
                self._turn.notify_all()


_tasks = SharedExclusive()
calling = _tasks.calling
registering = _tasks.registering
