"""One pipeline from several threads: streams refuse to overlap, single frames take turns, a
closed pipeline says so; never a crash inside MediaPipe."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import affectstream as af
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
