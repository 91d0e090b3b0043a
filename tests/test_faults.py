"""Never wrong silently: damaged video decodes on and is reported, the same bytes every time;
outputs that cannot be written; Ctrl-C at any moment; arguments the API cannot use."""
from __future__ import annotations

import errno
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from test_cli import cli

import affectstream as af
from affectstream import AffectStreamError, SourceError, WriteError, open_source
from affectstream.cli import INTERRUPTED
from affectstream.sources import MAX_BAD_PACKETS, ArraySource
from affectstream.writers.csv import CSVWriter

WOLFGANG = "WolfgangLanger_Pexels.mp4"


def flipped(data: bytes, flips: int, seed: int) -> bytes:
    """`data` with `flips` bytes inverted at seeded places in its middle half."""
    rng, out = random.Random(seed), bytearray(data)
    for _ in range(flips):
        out[rng.randrange(len(data) // 4, 3 * len(data) // 4)] ^= 0xFF
    return bytes(out)


def decoded(path: Path) -> tuple[af.Source, list[float], str]:
    """(the source after reading, the timestamps, a digest of every pixel)."""
    src, times, digest = open_source(path), [], hashlib.sha256()
    for frame in src:
        times.append(frame.timestamp)
        digest.update(frame.image.tobytes())
    return src, times, digest.hexdigest()


@pytest.fixture(scope="module")
def damaged(video, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("damaged") / "damaged.mp4"
    path.write_bytes(flipped(video(WOLFGANG).read_bytes(), 200, seed=0))
    return path


def test_decoding_goes_on_after_a_damaged_packet_the_same_way_every_time(damaged):
    src, times, digest = decoded(damaged)
    assert src.decode_errors >= 1 and src.concealed_frames > 0
    assert 460 <= len(times) < 472  # only the frames of the packets that failed are missing
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:]))
    again, _, same = decoded(damaged)
    assert same == digest
    assert (again.decode_errors, again.concealed_frames) == (src.decode_errors,
                                                             src.concealed_frames)


def test_damage_is_seen_in_hevc_too(video, tmp_path):
    """FFmpeg's HEVC decoder patches damage over without flagging it unless asked to."""
    path = tmp_path / "damaged.mov"
    path.write_bytes(flipped(video("face_noface.mov").read_bytes(), 30, seed=0))
    src, times, _ = decoded(path)
    assert len(times) == 169 and src.decode_errors > 0


def test_good_files_are_not_damaged(video):
    for name in ("WolfgangLanger_Pexels.mp4", "face_noface.mov", "codecs/xvid_aac.avi"):
        src, _, _ = decoded(video(name))
        assert (src.decode_errors, src.concealed_frames) == (0, 0), name


def test_a_file_of_garbage_stops_after_too_many_bad_packets(video, tmp_path):
    data = bytearray(video(WOLFGANG).read_bytes())
    start = data.index(b"mdat") + 1000
    data[start:-1000] = random.Random(0).randbytes(len(data) - 1000 - start)
    (tmp_path / "garbage.mp4").write_bytes(data)
    src = open_source(tmp_path / "garbage.mp4")
    with pytest.raises(SourceError, match="packets in a row could not be decoded"):
        list(src)
    assert src.decode_errors == MAX_BAD_PACKETS


@pytest.fixture(scope="module")
def short_damaged(video, tmp_path_factory) -> Path:
    """The first 150 frames of the talking face, with a packet that fails and frames FFmpeg
    conceals."""
    folder = tmp_path_factory.mktemp("short")
    with av.open(str(video(WOLFGANG))) as src, av.open(str(folder / "short.mp4"), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in list(src.demux(src.streams.video[0]))[:150]:
            packet.stream = stream
            out.mux(packet)
    path = folder / "damaged.mp4"
    path.write_bytes(flipped((folder / "short.mp4").read_bytes(), 50, seed=4))
    return path


def test_a_damaged_file_is_reported_and_gives_the_same_rows_alone_and_in_a_folder(
        short_damaged, video, tmp_path):
    runs = [cli("process", short_damaged, "-o", tmp_path / f"alone{i}.csv", "-q") for i in (1, 2)]
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(video("codecs/h264_aac.mp4"), folder / "a_first.mp4")  # read before it
    shutil.copy(short_damaged, folder / "damaged.mp4")
    runs.append(cli("process", folder, "-o", tmp_path / "out", "-q"))
    damage = set()
    for result in runs:
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        damage |= set(re.findall(r"; DAMAGED: (\d+ decode errors \(.*\))", result.stdout))
        damage |= set(re.findall(r"damaged: (\d+ decode errors \(.*\));", result.stderr))
    assert len(damage) == 1  # the same count in every run, on stdout and stderr
    line = runs[0].stderr.strip()
    assert line.startswith("affectstream: error: ") and "\n" not in line
    assert "rows are kept in" in line and "packet skipped" in line
    assert "1 of 2 inputs failed or are damaged" in runs[2].stderr
    alone = (tmp_path / "alone1.csv").read_bytes()
    assert alone == (tmp_path / "alone2.csv").read_bytes()
    assert alone == (tmp_path / "out" / "damaged.csv").read_bytes()
    assert len(pd.read_csv(tmp_path / "alone1.csv")) >= 140


def _full_disk(self, rows):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_is_one_error_and_the_partial_file_is_kept(video, tmp_path, monkeypatch):
    monkeypatch.setattr(CSVWriter, "write", _full_disk)
    out = tmp_path / "x.csv"
    with af.AffectStream() as pipeline, pytest.raises(WriteError) as info:
        pipeline.run(video("single_face.mp4"), csv=out, jsonl=tmp_path / "x.jsonl")
    message = str(info.value)
    assert "\n" not in message and "No space left on device" in message
    assert str(out) in message and f"{out}.partial" in message
    assert (tmp_path / "x.csv.partial").exists() and not out.exists()


def test_an_output_that_cannot_be_finished_keeps_its_partial_name(video, tmp_path, monkeypatch):
    def failing_close(self, complete=True):
        self._file.close()
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(CSVWriter, "close", failing_close)
    with af.AffectStream() as pipeline, pytest.raises(WriteError, match="cannot finish writing"):
        pipeline.run(video("codecs/h264_aac.mp4"), csv=tmp_path / "x.csv")
    assert pd.read_csv(tmp_path / "x.csv.partial").frame.iloc[-1] == 30  # every frame's rows
    assert not (tmp_path / "x.csv").exists()


PLUGIN = '''
import errno
from affectstream.registry import register
from affectstream.writers.csv import CSVWriter


@register("writer", "fullcsv")
class FullDisk(CSVWriter):
    """A CSV writer whose disk is full for the first file it writes."""

    opened = 0

    def open(self, path, columns, options=None):
        super().open(path, columns, options)
        FullDisk.opened += 1
        self.full = FullDisk.opened == 1

    def write(self, rows):
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write(rows)
'''


def test_after_a_write_error_the_next_input_is_still_processed(video, tmp_path):
    (tmp_path / "fullcsv_plugin.py").write_text(PLUGIN)
    env = {"AFFECTSTREAM_PLUGINS": "fullcsv_plugin",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    # one process: the plugin's disk is full for the first file a process writes
    result = cli("process", video("codecs/h264_aac.mp4"), video("single_face.mp4"), "--format",
                 "fullcsv", "-o", out, "-q", "--workers", "1", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "h264_aac.csv: cannot write (No space left on device)" in errors[0]
    assert "1 of 2 inputs failed or are damaged" in result.stderr
    assert (out / "h264_aac.csv.partial").exists() and not (out / "h264_aac.csv").exists()
    assert len(pd.read_csv(out / "single_face.csv")) == 72


def _interrupt(command: list[str], delay: float | Path) -> subprocess.CompletedProcess:
    """Run `command`, send it SIGINT after `delay` seconds (or once the file `delay` holds rows),
    and return what it did."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if isinstance(delay, Path):
        deadline = time.monotonic() + 300
        while (not delay.exists() or delay.read_text().count("\n") < 3) and proc.poll() is None:
            assert time.monotonic() < deadline, "no rows were written"
            time.sleep(0.05)
    else:
        time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.0, 3.0, "mid-run"])
def test_ctrl_c_at_any_moment_is_one_line_and_status_130(video, tmp_path, delay):
    out = tmp_path / "x.csv"
    partial = tmp_path / "x.csv.partial"
    command = [sys.executable, "-m", "affectstream.cli", "process", str(video(WOLFGANG)),
               "-o", str(out), "-q"]
    result = _interrupt(command, partial if delay == "mid-run" else delay)
    assert result.returncode == 130, result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [INTERRUPTED]
    assert not out.exists()
    if delay == "mid-run":
        assert len(pd.read_csv(partial)) >= 2


@pytest.mark.parametrize("fps", [float("nan"), "30", -1, 0, float("inf"), True])
def test_a_frame_rate_must_be_a_number_above_0(fps):
    frames = [np.zeros((4, 4, 3), np.uint8)]
    with pytest.raises(AffectStreamError, match="fps must be"):
        open_source(frames, fps=fps)
    with pytest.raises(AffectStreamError, match="fps must be"):
        ArraySource(frames, fps=fps)


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 10, 3), (10, 0, 3), (0, 0)])
def test_a_frame_without_pixels_is_a_clear_error(shape):
    empty = np.zeros(shape, np.uint8)
    with pytest.raises(AffectStreamError, match="must have pixels"):
        list(open_source([empty], fps=1))
    with pytest.raises(AffectStreamError, match="must have pixels"):
        af.analyze_image(empty)


def test_a_frame_without_pixels_stops_the_pipeline_with_that_error(model):
    frames = [np.zeros((8, 8, 3), np.uint8), np.zeros((0, 0, 3), np.uint8)]
    with pytest.raises(AffectStreamError, match="must have pixels"):
        list(af.stream(open_source(frames, fps=1)))
