"""One pipeline from several threads: streams refuse to overlap, single frames take turns, a
closed pipeline says so; never a crash inside MediaPipe."""
from __future__ import annotations

import threading
import time
from collections import Counter

import av
import mediapipe as mp
import numpy as np
import pytest
from mediapipe.tasks.python import vision

import affectstream as af
from affectstream.face import FaceTracker
from affectstream.mediapipe_threads import SharedExclusive
from affectstream.sources import read_image


def test_a_second_stream_on_a_busy_pipeline_is_a_clear_error(video):
    clip = video("single_face.mp4")
    errors, rows = [], []
    with af.AffectStream() as pipeline:
        first = pipeline.stream(clip)
        rows.append(next(first))  # the first stream is running
        def second():
            try:
                list(pipeline.stream(clip))
            except af.AffectStreamError as e:
                errors.append(str(e))
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(60)
        with pytest.raises(af.AffectStreamError, match="already running"):
            next(pipeline.stream(clip))  # the same in one thread, while `first` is open
        rows += first  # the first stream is unharmed
    assert len(errors) == 1 and "already running" in errors[0]
    assert len({r.frame for r in rows}) == 72 and {r.track_id for r in rows} == {0}


def test_streams_one_after_another_from_two_threads_both_work(video):
    clip = video("single_face.mp4")
    counts = []
    with af.AffectStream() as pipeline:
        lock = threading.Lock()  # the caller's turn-taking: the pipeline's own rule is "refuse"
        def worker():
            with lock:
                counts.append(sum(1 for r in pipeline.stream(clip) if r.success))
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert len(counts) == 2 and counts[0] == counts[1] > 60


def test_single_frames_from_many_threads_take_turns(media):
    image = read_image(media / "images" / "single_face.jpg")
    results, failures = [], []
    with af.AffectStream(temporal="none") as pipeline:
        def worker(k):
            try:
                rows = pipeline.analyze(af.Frame(0, 0.0, image), still=True)
                results.append(rows[0].valence)
            except Exception as e:  # noqa: BLE001 - any failure is the test's finding
                failures.append(repr(e))
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not failures and len(results) == 6 and len(set(results)) == 1


def test_use_after_close_and_close_during_a_stream(video):
    pipeline = af.AffectStream()
    pipeline.close()
    pipeline.close()  # twice is fine
    with pytest.raises(af.AffectStreamError, match="closed"):
        list(pipeline.stream(video("single_face.mp4")))
    with pytest.raises(af.AffectStreamError, match="closed"):
        pipeline.analyze(af.Frame(0, 0.0, np.zeros((64, 64, 3), np.uint8)))
    with pytest.raises(af.AffectStreamError, match="closed"):
        pipeline.run(video("single_face.mp4"))

    pipeline = af.AffectStream()
    rows = pipeline.stream(video("single_face.mp4"))
    next(rows)
    threading.Thread(target=pipeline.close).start()  # from another thread, mid-stream
    with pytest.raises(af.AffectStreamError, match="closed"):
        list(rows)


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 64, 3), (64, 64), (64, 64, 4)])
def test_frames_that_are_not_images_are_clear_errors(model, shape):
    with af.AffectStream() as pipeline:
        with pytest.raises(af.AffectStreamError, match="image must be"):
            pipeline.analyze(af.Frame(0, 0.0, np.zeros(shape, np.uint8)))



class Overlaps:
    """Counts how many threads are inside wrapped MediaPipe functions at once, by kind."""

    def __init__(self):
        self.lock, self.inside, self.most, self.clashes = threading.Lock(), Counter(), Counter(), []

    def wrap(self, kind: str, fn):
        def wrapped(*args, **kwargs):
            with self.lock:
                self.inside[kind] += 1
                self.most[kind] = max(self.most[kind], self.inside[kind])
                if self.inside["create"] and self.inside["call"]:
                    self.clashes.append(f"{kind} {fn.__name__}")
            try:
                time.sleep(0.002)  # a wider window than the real one, so that overlaps show
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.inside[kind] -= 1
        return wrapped


def test_mediapipe_images_and_tasks_are_never_built_beside_other_use(video, monkeypatch):
    # MediaPipe re-registers the ctypes signatures of its image functions on every mp.Image() and
    # of a task's functions on every create: a thread doing so while another is inside one of them
    # crashed `process` (SIGSEGV) in 3 of 29 runs on two short clips (mediapipe_threads.py)
    seen = Overlaps()
    monkeypatch.setattr(mp.Image, "__init__", seen.wrap("image", mp.Image.__init__))
    monkeypatch.setattr(mp.Image, "__del__", seen.wrap("image", mp.Image.__del__))
    for task in (vision.FaceLandmarker, vision.FaceDetector):
        create = task.create_from_options.__func__
        monkeypatch.setattr(task, "create_from_options",
                            classmethod(seen.wrap("create", create)))
        monkeypatch.setattr(task, "close", seen.wrap("call", task.close))
    for name in ("detect", "detect_for_video"):
        monkeypatch.setattr(vision.FaceDetector, name,
                            seen.wrap("call", getattr(vision.FaceDetector, name)))
    with av.open(str(video("single_face.mp4"))) as container:
        images = [f.to_ndarray(format="rgb24") for _, f in
                  zip(range(24), container.decode(video=0))]
    counts = []

    def worker():
        with FaceTracker() as tracker:
            for k, image in enumerate(images):
                if k % 6 == 0:  # a new timeline: new tasks, and a sweep over every tile
                    tracker.reset()
                counts.append(len(tracker.track(af.Frame(k, k / 30, image))))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert counts == [1] * 48
    assert seen.most["create"] and seen.most["call"]  # both kinds were seen
    assert seen.most["image"] == 1 and not seen.clashes


def test_a_finaliser_inside_a_mediapipe_section_does_not_wait_for_itself():
    turns = SharedExclusive()
    inside, waiting, order = threading.Event(), threading.Event(), []

    def register():
        waiting.set()
        with turns.registering():
            order.append("registered")

    with turns.calling():
        thread = threading.Thread(target=register)
        thread.start()
        waiting.wait(5)
        time.sleep(0.05)  # the registration now waits for this call, and holds back new ones
        with turns.calling():  # a task closed by the GC inside this call: no deadlock
            order.append("nested call")
        with pytest.raises(RuntimeError, match="inside a MediaPipe call"):
            with turns.registering():
                pass
        order.append("call ends")
    thread.join(5)
    with turns.registering():
        with turns.calling():  # the same, inside a registration
            inside.set()
    assert order == ["nested call", "call ends", "registered"] and inside.is_set()
