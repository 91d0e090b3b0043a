"""The LSL output, end to end: the live pipeline pushes a clip played in real time into an outlet,
and an inlet in a second process resolves it by type and records what arrives.

Both processes read tests/lsl_loopback.cfg (LSLAPICFG), so discovery and data stay on 127.0.0.1.
Ordering: an inlet gets only the samples pushed after it connected, so the receiver starts first
(it resolves as soon as the outlet exists), and the run's writer is `LSLWriter.waiting(...)`,
whose open() makes the outlet and holds the run until the inlet has connected; the clip's clock
starts only then.
"""
from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

# before liblsl is first used, in this process and (through env) in the receiver's
LOOPBACK_CFG = Path(__file__).resolve().parent / "lsl_loopback.cfg"
os.environ["LSLAPICFG"] = str(LOOPBACK_CFG)

pylsl = pytest.importorskip("pylsl", reason="the LSL output needs pylsl: "
                                            "pip install 'affectstream[lsl]'")

import affectstream  # noqa: E402
from affectstream import AffectStream  # noqa: E402
from affectstream.errors import AffectStreamError  # noqa: E402
from affectstream.live.records import SAMPLE_CHANNELS, SAMPLE_LABELS, sample  # noqa: E402
from affectstream.pipeline import open_writer  # noqa: E402
from affectstream.sources import open_source  # noqa: E402
from affectstream.writers.lsl import LSLWriter  # noqa: E402

# The inlet: resolve by type (the stream named argv[2] among them), print "resolved", read the
# channel metadata, connect, print "connected", pull until the stop file argv[1] exists and
# nothing more comes, then print one JSON line.
RECEIVER = r"""
import json, os, sys, time
import pylsl

stop, name = sys.argv[1], sys.argv[2]
deadline, found = time.monotonic() + 30, []
while not found and time.monotonic() < deadline:
    found = [s for s in pylsl.resolve_byprop("type", "Affect", 1, 5.0) if s.name() == name]
if not found:
    sys.exit("no stream of type Affect called " + name)
print("resolved", flush=True)
inlet = pylsl.StreamInlet(found[0], max_buflen=60)
info = inlet.info(10.0)
channels, channel = [], info.desc().child("channels").child("channel")
while not channel.empty():
    channels.append([channel.child_value(k) for k in ("label", "unit", "type")])
    channel = channel.next_sibling()
inlet.open_stream(10.0)
correction = inlet.time_correction(5.0)  # while the outlet is there to answer
print("connected", flush=True)
samples, stamps = [], []
while True:
    chunk, times = inlet.pull_chunk(timeout=0.3)
    samples += chunk
    stamps += times
    if not chunk and os.path.exists(stop):
        break
print(json.dumps({"type": info.type(), "channel_count": info.channel_count(),
                  "srate": info.nominal_srate(), "channels": channels,
                  "acquisition": {k: info.desc().child("acquisition").child_value(k) for k in
                                  ("manufacturer", "version", "frame_model", "temporal_model")},
                  "correction": correction, "samples": samples,
                  "stamps": stamps}), flush=True)
"""


def _lines(stream) -> queue.Queue:
    """The lines a pipe gives, read on a thread (None at its end)."""
    lines: queue.Queue = queue.Queue()

    def read():
        for line in stream:
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _expect(lines: queue.Queue, wanted: str, seconds: float) -> None:
    line = lines.get(timeout=seconds)
    assert line == wanted, f"the receiver said {line!r}, not {wanted!r}"


def _same(a: list[float], b: list[float]) -> bool:
    """Equal as float32, NaN equal to NaN."""
    return np.array_equal(np.float32(a), np.float32(b), equal_nan=True)


def test_an_inlet_in_another_process_gets_the_samples_stamped_with_capture_time(video, tmp_path,
                                                                               capsys):
    clip = video("noface_face.mov")  # 6.4 s: frames without a face, then a face
    name, stop = f"affectstream-test-{os.getpid()}", tmp_path / "stop"
    offset = pylsl.local_clock() - time.perf_counter()  # the test's own reading of the offset
    sent, latencies, failures = {}, [], []

    def record(row):
        face_id = -1 if row.track_id is None else row.track_id
        sent[(row.frame, face_id)] = (row.captured_at + offset, sample(row))
        latencies.append(row.latency_ms)

    with AffectStream(mode="live") as pipeline:
        receiver = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(stop), name], stdout=subprocess.PIPE,
            text=True, env={**os.environ, "LSLAPICFG": str(LOOPBACK_CFG)})
        lines = _lines(receiver.stdout)

        def run():
            try:  # the outlet is made in open(), which waits for the inlet before frame 0
                pipeline.run(open_source(clip, realtime=True),
                             outputs=[(LSLWriter.waiting(40.0), name)], on_result=record)
            except BaseException as e:
                failures.append(e)

        runner = threading.Thread(target=run)
        runner.start()
        try:
            _expect(lines, "resolved", 40)
            _expect(lines, "connected", 15)
        finally:
            runner.join(60)
            stop.touch()
        assert not failures, failures
        receiver.wait(timeout=30)
    result = json.loads([line for line in iter(lines.get, None)][-1])

    assert result["type"] == "Affect" and result["srate"] == pylsl.IRREGULAR_RATE
    assert result["channel_count"] == len(SAMPLE_CHANNELS)
    assert [c[0] for c in result["channels"]] == list(SAMPLE_LABELS)
    assert [tuple(c) for c in result["channels"]] == list(SAMPLE_CHANNELS)
    assert result["acquisition"] == {
        "manufacturer": "affectstream", "version": affectstream.__version__,
        "frame_model": pipeline.options.frame_model, "temporal_model": pipeline.options.temporal}

    got = {(int(s[2]), int(s[0])): (t + result["correction"], s)
           for s, t in zip(result["samples"], result["stamps"])}
    matched = [key for key in sent if key in got]
    differences = [abs(got[key][0] - sent[key][0]) for key in matched] or [math.inf]
    with capsys.disabled():
        print(f"\nLSL: {len(sent)} samples sent, {len(result['samples'])} received, "
              f"{len(matched)} matched; max |received stamp - capture time| "
              f"{max(differences) * 1000:.3f} ms (time_correction "
              f"{result['correction'] * 1000:.3f} ms); latency_ms p50 "
              f"{np.median(latencies):.1f}")
    assert len(sent) >= 50 and len(matched) >= 0.95 * len(sent)
    assert {face_id for _, face_id in matched} >= {-1, 0}  # frames without and with a face
    assert max(differences) < 0.050
    # stamped at capture, not at sending: sending is latency_ms after capture
    assert max(differences) * 1000 < min(latencies) / 2
    assert all(_same(got[key][1], sent[key][1]) for key in matched)
    assert not any(math.isnan(v) for key in matched for v in got[key][1][:3])


def test_a_restarted_outlet_has_the_same_name_and_source_id():
    seen = []
    for target in (None, ""):  # no name: "affectstream"
        writer = open_writer("lsl", target, (), None)
        info = writer.outlet.get_info()
        seen.append((info.name(), info.type(), info.source_id()))
        writer.close()
    assert seen[0] == seen[1] and seen[0][:2] == ("affectstream", "Affect")


def test_without_pylsl_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pylsl", None)  # as if it were not installed
    with pytest.raises(AffectStreamError, match=r"pip install 'affectstream\[lsl\]'"):
        open_writer("lsl", "affectstream", (), None)
