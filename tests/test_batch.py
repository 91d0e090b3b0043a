"""Corpus scale on one machine: `--workers N` writes the same bytes as `--workers 1`, a rerun skips
what is done, bad inputs and dead workers cost only themselves, the manifest says what happened,
and `--dataset` is one Parquet dataset for pandas, polars and DuckDB."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_cli import cli

from affectstream.batch.manifest import COLUMNS, NAME, read_manifest

CLIPS = ("codecs/h264_aac.mp4", "codecs/vp8_opus.webm", "single_face.mp4")


@pytest.fixture(scope="module")
def corpus(video, tmp_path_factory) -> Path:
    """Three good clips, a truncated one, a junk file named .mp4 and an empty one."""
    folder = tmp_path_factory.mktemp("corpus")
    for name in CLIPS:
        shutil.copy(video(name), folder / Path(name).name)
    whole = video("codecs/video_01.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    (folder / "junk.mp4").write_bytes(os.urandom(4096))
    (folder / "empty.mp4").write_bytes(b"")
    return folder


def manifest(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / NAME, keep_default_na=False).set_index("path")


def comparable(path: Path) -> bytes:
    """A file's bytes; JSONL without its wall-clock latency."""
    if path.suffix != ".jsonl":
        return path.read_bytes()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return json.dumps([{k: v for k, v in r.items() if k != "latency_ms"} for r in records]).encode()


@pytest.fixture(scope="module")
def serial(corpus, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("serial")
    return out, cli("process", corpus, "-o", out, "--workers", "1", "--jsonl",
                    "--format", "csv,parquet")


def test_workers_write_the_same_bytes_as_one_process(corpus, serial, tmp_path):
    one, result = serial
    assert result.returncode == 1, result.stderr  # the truncated, the junk and the empty file
    assert "3 of 6 inputs failed" in result.stderr
    two = tmp_path / "two"
    result = cli("process", corpus, "-o", two, "--workers", "2", "--jsonl",
                 "--format", "csv,parquet")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    outputs = sorted(p.name for p in one.iterdir() if p.name != NAME)
    assert len(outputs) == 4 * 3 and outputs == sorted(p.name for p in two.iterdir()
                                                       if p.name != NAME)
    for name in outputs:
        assert comparable(one / name) == comparable(two / name), name


def test_the_manifest_says_what_became_of_every_input(corpus, serial):
    out, _ = serial
    rows = manifest(out)
    assert tuple(rows.reset_index().columns) == COLUMNS and len(rows) == 6
    done = rows[rows.status == "done"]
    assert sorted(Path(p).name for p in done.index) == sorted(Path(c).name for c in CLIPS)
    assert (done.frames > 0).all() and (done.face_frames > 0).all() and (done.tracks >= 1).all()
    assert (done.peak_rss_mb > 100).all()  # a worker's memory, for planning a cluster
    assert all(Path(o.split(";")[0]).is_file() for o in done.output)
    failed = rows[rows.status == "failed"]
    assert sorted(Path(p).name for p in failed.index) == ["empty.mp4", "junk.mp4",
                                                          "truncated.mp4"]
    assert all(failed.error.str.len() > 10) and not failed.error.str.contains("\n").any()
    assert (failed.loc[[p for p in failed.index if "truncated" not in p]].output == "").all()
    # the rows before the cut are kept, and the error says where it stopped
    assert "ends early" in failed.loc[str(corpus / "truncated.mp4")].error
    options = json.loads(done.options.iloc[0])
    assert options["formats"] == ["csv", "parquet", "jsonl"]
    assert options["pipeline"]["temporal"] == "ap"
    assert (rows.version == __import__("affectstream").__version__).all()
    assert (rows["size"] == [(Path(p).stat().st_size) for p in rows.index]).all()


def test_a_rerun_skips_what_is_done_and_retries_what_failed(corpus, tmp_path):
    out = tmp_path / "out"
    first = cli("process", corpus, "-o", out, "--workers", "2")
    def stamps() -> dict[str, int]:  # of the finished outputs (the truncated file's is retried)
        return {p.name: p.stat().st_mtime_ns for p in out.glob("*.csv")
                if p.name not in (NAME, "truncated.csv")}

    before = stamps()
    again = cli("process", corpus, "-o", out, "--workers", "2")
    assert first.returncode == again.returncode == 1  # the three bad inputs fail again
    assert again.stdout.count("skipped, done earlier with the same options") == 3
    assert len(before) == 3 and stamps() == before
    rows = manifest(out)
    assert sorted(rows.status) == ["failed"] * 3 + ["skipped"] * 3
    # a skipped row keeps what was measured when it was done
    assert (rows[rows.status == "skipped"].frames > 0).all()
    # other options, or --overwrite: done again
    changed = cli("process", corpus, "-o", out, "--workers", "2", "--max-faces", "2")
    assert "skipped, done earlier" not in changed.stdout
    assert sorted(manifest(out).status) == ["done"] * 3 + ["failed"] * 3
    forced = cli("process", corpus, "-o", out, "--workers", "1", "--max-faces", "2",
                 "--overwrite")
    assert "skipped, done earlier" not in forced.stdout


def test_an_output_removed_or_an_input_changed_is_done_again(video, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("h264_aac.mp4", "vp8_opus.webm"):
        shutil.copy(video(f"codecs/{name}"), clips / name)
    out = tmp_path / "out"
    assert cli("process", clips, "-o", out, "--workers", "1").returncode == 0
    (out / "h264_aac.csv").unlink()
    (clips / "vp8_opus.webm").touch()  # a new modification time: perhaps new content
    again = cli("process", clips, "-o", out, "--workers", "1")
    assert again.returncode == 0 and "skipped, done earlier" not in again.stdout
    assert (out / "h264_aac.csv").is_file()


def test_a_manifest_cut_by_a_kill_keeps_its_finished_rows(tmp_path):
    path = tmp_path / NAME
    header = ",".join(COLUMNS)
    good = ('/a.mp4,10,t,done,5,5,1,0.50,h:1,800.0,900,1,,/o/a.csv,"{""x"": 1}",0.4.0,'
            '2026-11-30T00:00:00')
    cut = '/b.mp4,10,t,done,5,5,1,0.50,h:1,800.0,900,1,,/o/b.csv,"{""x'
    path.write_text("\r\n".join([header, good, cut]))
    rows = read_manifest(path)
    assert list(rows) == ["/a.mp4"] and rows["/a.mp4"]["options"] == '{"x": 1}'


def _holder(path: Path) -> int | None:
    """The pid of the process that has `path` open for writing (Linux /proc)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    return int(pid)
        except OSError:
            continue
    return None


def _kill_holder(path: Path, not_pid: int | None = None, timeout: float = 120.0) -> int:
    """Wait until a process (other than `not_pid`) writes `path` and has written a few rows, then
    kill -9 it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _holder(path)
        if pid is not None and pid != not_pid and path.stat().st_size > 20_000:
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.05)
    raise AssertionError(f"no process wrote {path} within {timeout} s")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the worker through /proc")
@pytest.mark.parametrize("kills", [1, 2])
def test_a_worker_killed_loses_only_its_file_which_is_tried_once_more(video, tmp_path, kills):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(video("WolfgangLanger_Pexels.mp4"), clips / "long.mp4")
    for name in ("h264_aac.mp4", "vp8_opus.webm"):
        shutil.copy(video(f"codecs/{name}"), clips / name)
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "affectstream.cli", "process", clips, "-o", out,
                            "--workers", "2", "--temporal", "none", "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = out / "long.csv.partial"
    killed = None
    for _ in range(kills):
        killed = _kill_holder(partial, not_pid=killed)
    stdout, stderr = run.communicate(timeout=300)
    rows = manifest(out)
    long = rows.loc[str(clips / "long.mp4")]
    assert (rows.drop(index=str(clips / "long.mp4")).status == "done").all()  # the others
    if kills == 1:
        assert run.returncode == 0, stderr
        assert long.status == "done" and long.attempts == 2 and long.frames == 472
        assert (out / "long.csv").is_file() and not partial.exists()
    else:
        assert run.returncode == 1 and "Traceback" not in stderr
        assert long.status == "failed" and "SIGKILL" in long.error and "2 times" in long.error
        assert partial.is_file() and not (out / "long.csv").exists()  # never looks finished
        assert "1 of 3 inputs failed" in stderr


def test_ctrl_c_keeps_what_is_finished_and_a_rerun_goes_on(video, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(video("WolfgangLanger_Pexels.mp4"), clips / "long.mp4")
    shutil.copy(video("codecs/h264_aac.mp4"), clips / "short.mp4")
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "affectstream.cli", "process", clips, "-o", out,
                            "--workers", "2", "--temporal", "none", "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out / "short.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert (out / "long.csv.partial").is_file() and not (out / "long.csv").exists()
    assert manifest(out).status.tolist() == ["done"]
    again = cli("process", clips, "-o", out, "--workers", "2", "--temporal", "none")
    assert again.returncode == 0 and again.stdout.count("skipped") == 1
    assert (out / "long.csv").is_file() and not list(out.glob("*.partial"))
    rows = manifest(out)  # complete: both inputs, each once
    assert sorted(zip(map(lambda p: Path(p).name, rows.index), rows.status)) == [
        ("long.mp4", "done"), ("short.mp4", "skipped")]
    assert rows.loc[str(clips / "long.mp4")].frames == 472


def test_dataset_is_one_parquet_dataset_partitioned_by_input(corpus, serial, tmp_path):
    pytest.importorskip("pyarrow")
    polars, duckdb = pytest.importorskip("polars"), pytest.importorskip("duckdb")
    data = tmp_path / "data"
    result = cli("process", corpus, "--dataset", data, "--workers", "2")
    assert result.returncode == 1  # the truncated, the junk and the empty file
    parts = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.parquet"))
    assert parts == ["input=h264_aac/part-0.parquet", "input=single_face/part-0.parquet",
                     "input=truncated/part-0.parquet", "input=vp8_opus/part-0.parquet"]
    assert (data / f"_{NAME}").is_file() and not list(data.rglob("*.partial"))
    table = pd.read_parquet(data)
    one, _ = serial
    csv = pd.read_csv(one / "h264_aac.csv")
    mine = table[table["input"] == "h264_aac"].drop(columns="input").reset_index(drop=True)
    assert list(mine.columns) == list(csv.columns) and len(mine) == len(csv)
    pd.testing.assert_frame_equal(mine[["frame", "face_id", "valence"]].astype(float),
                                  csv[["frame", "face_id", "valence"]].astype(float), atol=1e-4)
    frame = polars.read_parquet(data / "**" / "*.parquet", hive_partitioning=True)
    assert frame.height == len(table) and "input" in frame.columns
    query = f"select input, count(*) from read_parquet('{data}/*/*.parquet', " \
            "hive_partitioning = true) group by input order by input"
    counts = duckdb.sql(query).fetchall()
    assert [name for name, _ in counts] == ["h264_aac", "single_face", "truncated", "vp8_opus"]
    assert sum(n for _, n in counts) == len(table)


def test_a_pipeline_the_workers_cannot_build_is_one_clear_error(video, tmp_path):
    result = cli("process", video("codecs/h264_aac.mp4"), video("codecs/vp8_opus.webm"), "-o",
                 tmp_path, "--workers", "2", "--landmarker", tmp_path / "none.task")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"affectstream: error: {tmp_path / 'none.task'}: model file not found"]
