"""Corpus throughput: one synthetic corpus run with `--workers 1`, `--workers 2` and Ray with two
actors, in one run; then a worker's memory over many files, and `--split` on one long file.

    python benchmarks/scale.py [--copies 4] [--engines local1,local2,ray2] [--temporal ap]
                               [--rss-files 100] [--split-copies 20]

The corpus is `--copies` copies of the shared clips (codecs/, single_face.mp4, the Wolfgang clip)
plus three bad files: one cut to half its bytes, an empty one and one of random bytes. Each
configuration runs `affectstream process CORPUS -o OUT -q` as a user would, in a fresh output
folder; the manifest gives the frames and each worker's peak RSS. Printed: wall seconds, files/s,
frames/s, the speed-up over `--workers 1`, peak RSS per worker, the peak of the CLI with all
its processes (workers, Ray's daemons) together, and whether every output is byte-identical to
`--workers 1`'s.

`--rss-files N` runs N short files on two workers and prints each worker's resident memory slope
(MiB per 100 files, least squares over the files it did after its first ten). `--split-copies K`
joins the Wolfgang clip K times into one file and runs it whole and with `--split --workers 2`:
wall time, the mean absolute valence/arousal difference away from the first second of each
segment, and the face ids.
0 skips either.
The first seconds of every run are start-up (spawning workers, `ray.init`), part of the cost.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTSTREAM_SHARED", ROOT.parent / "shared"))
CLIPS = ("video/codecs/h264_aac.mp4", "video/codecs/mp4v_aac.mp4", "video/codecs/vp8_opus.webm",
         "video/codecs/xvid_aac.avi", "video/codecs/video_01.mp4", "video/single_face.mp4",
         "video/WolfgangLanger_Pexels.mp4")
WARM_FILES = 10  # a worker's first files fill its allocators' caches: its memory rises, then holds
CONFIGURATIONS = {"local1": ("--workers", "1"), "local2": ("--workers", "2"),
                  "ray2": ("--engine", "ray", "--workers", "2")}


def corpus(folder: Path, copies: int) -> int:
    """Write the corpus; returns how many of its files are good."""
    media = SHARED / "media"
    for k in range(copies):
        for clip in CLIPS:
            source = media / clip
            shutil.copy(source, folder / f"{source.stem}_{k}{source.suffix}")
    whole = (media / CLIPS[-1]).read_bytes()
    (folder / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "junk.mp4").write_bytes(random.Random(0).randbytes(64_000))
    return copies * len(CLIPS)


def tree_rss_mib(root: int) -> float:
    """Resident memory of `root` and all its descendants (Linux /proc), in MiB."""
    parents = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {root}, True
    while grew:
        new = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= new
        grew = bool(new)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total / 2**20


def outputs(folder: Path) -> dict[str, str]:
    """{file name: SHA-256} of a run's outputs (not its manifest)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != "affectstream-batch.csv"}


def run(name: str, inputs: Path, out: Path, temporal: str) -> dict:
    seconds, code, peak = timed(["process", str(inputs), "-o", str(out), "-q", "--temporal",
                                 temporal, *CONFIGURATIONS[name]])
    rows = pd.read_csv(out / "affectstream-batch.csv", keep_default_na=False)
    done = rows[rows.status == "done"]
    return {"engine": name, "exit": code, "seconds": seconds,
            "files": len(rows), "done": len(done), "failed": int((rows.status == "failed").sum()),
            "frames": int(done.frames.sum()), "files/s": len(rows) / seconds,
            "frames/s": done.frames.sum() / seconds,
            "worker peak RSS MiB": int(done.peak_rss_mb.max()),
            "all processes peak RSS MiB": int(peak)}


def timed(arguments: list[str]) -> tuple[float, int, float]:
    """Run `affectstream ARGUMENTS`: (wall seconds, exit status, peak MiB of all its processes)."""
    env = {**os.environ, "AFFECTSTREAM_MODEL_DIR": str(SHARED / "models"),
           "AFFECTSTREAM_OFFLINE": "1"}
    command = [sys.executable, "-m", "affectstream.cli", *arguments]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    peak = [0.0]

    def sample() -> None:  # the CLI, its workers and (Ray) its daemons, together
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss_mib(process.pid))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample)
    sampler.start()
    process.wait()
    seconds = time.perf_counter() - start
    sampler.join()
    return seconds, process.returncode, peak[0]


def rss_slope(folder: Path, files: int) -> None:
    """Each worker's resident memory over `files` short files: MiB per 100 files."""
    inputs = folder / "many"
    inputs.mkdir()
    clips = [SHARED / "media" / c for c in CLIPS[:5]]
    for k in range(files):
        clip = clips[k % len(clips)]
        shutil.copy(clip, inputs / f"{clip.stem}_{k:04d}{clip.suffix}")
    seconds, _, _ = timed(["process", str(inputs), "-o", str(folder / "many_out"), "-q",
                           "--workers", "2"])
    rows = pd.read_csv(folder / "many_out" / "affectstream-batch.csv", keep_default_na=False)
    print(f"\nworker memory over {files} files ({seconds:.0f} s, --workers 2; the slope is fitted "
          f"after each worker's first {WARM_FILES} files, which fill caches):")
    for worker, done in rows.sort_values("finished").groupby("worker"):
        rss = done.rss_mb.to_numpy(float)
        slope = np.polyfit(np.arange(len(rss) - WARM_FILES), rss[WARM_FILES:], 1)[0]
        print(f"  {worker}: {len(rss)} files, RSS after the 1st {rss[0]:.0f} MiB, after the "
              f"{WARM_FILES}th {rss[WARM_FILES - 1]:.0f}, after the last {rss[-1]:.0f}; slope "
              f"{100 * slope:+.1f} MiB per 100 files")


def concatenated(source: Path, copies: int, target: Path) -> None:
    """`source`'s video stream `copies` times in a row, remuxed (no re-encoding)."""
    with av.open(str(source)) as first:
        stream = first.streams.video[0]
        packets = [p for p in first.demux(stream) if p.dts is not None]
        step = packets[1].duration or 1
        span = max(p.pts + (p.duration or step) for p in packets) - min(p.pts for p in packets)
        with av.open(str(target), "w") as out:
            video = out.add_stream_from_template(stream)
            for k in range(copies):
                for p in packets:
                    p.pts += span if k else 0
                    p.dts += span if k else 0
                    p.stream = video
                    out.mux(p)


def split_check(folder: Path, copies: int, temporal: str) -> None:
    """One long file whole and with --split: time, difference, ids."""
    from affectstream.batch.split import MIN_SEGMENT_SECONDS, WARMUP_SECONDS
    from affectstream.segments import plan

    long = folder / f"wolfgang_x{copies}.mp4"
    concatenated(SHARED / "media" / CLIPS[-1], copies, long)
    whole_s, _, _ = timed(["process", str(long), "-o", str(folder / "whole.csv"), "-q",
                           "--workers", "1", "--temporal", temporal])
    split_s, _, _ = timed(["process", str(long), "-o", str(folder / "split.csv"), "-q",
                           "--workers", "2", "--split", "--temporal", temporal])
    whole, cut = pd.read_csv(folder / "whole.csv"), pd.read_csv(folder / "split.csv")
    segments = plan(str(long), 2, WARMUP_SECONDS, MIN_SEGMENT_SECONDS)
    settled = np.ones(len(whole), bool)
    for segment in segments:  # away from the first second of each segment
        settled &= ~whole.timestamp.between(segment.start, segment.start + 1.0, inclusive="left")
    print(f"\n--split on {long.name} ({len(whole)} frames, {whole.timestamp.iloc[-1]:.0f} s, "
          f"{len(segments)} segments, --temporal {temporal}):")
    print(f"  whole, --workers 1: {whole_s:.1f} s; --split --workers 2: {split_s:.1f} s "
          f"({whole_s / split_s:.2f}x); byte-identical: "
          f"{(folder / 'whole.csv').read_bytes() == (folder / 'split.csv').read_bytes()}")
    for column in ("valence", "arousal"):
        gap = (whole[column] - cut[column]).abs()
        print(f"  {column}: mean |difference| {gap[settled].mean():.4f} away from the first "
              f"second of each segment, {gap.mean():.4f} over all frames, max {gap.max():.4f}")
    ids = [sorted(int(i) for i in table.face_id.dropna().unique()) for table in (whole, cut)]
    print(f"  face ids: whole {ids[0]}, split {ids[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--engines", default="local1,local2,ray2")
    parser.add_argument("--temporal", default="ap")
    parser.add_argument("--rss-files", type=int, default=200)  # 100 for each of two workers
    parser.add_argument("--split-copies", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="affectstream-scale-") as tmp:
        inputs = Path(tmp) / "corpus"
        inputs.mkdir()
        good = corpus(inputs, args.copies)
        print(f"corpus: {good} good files + 3 bad, {os.cpu_count()} cores, "
              f"temporal {args.temporal}")
        names = args.engines.split(",")
        results = [run(name, inputs, Path(tmp) / name, args.temporal) for name in names]
        table = pd.DataFrame(results).set_index("engine")
        if "local1" in table.index:
            table["speed-up"] = table.loc["local1", "seconds"] / table["seconds"]
            reference = outputs(Path(tmp) / "local1")
            table["same bytes as local1"] = [outputs(Path(tmp) / n) == reference for n in names]
        with pd.option_context("display.width", 250, "display.float_format", "{:.2f}".format):
            print(table.to_string())
        if args.rss_files:
            rss_slope(Path(tmp), args.rss_files)
        if args.split_copies:
            split_check(Path(tmp), args.split_copies, args.temporal)


if __name__ == "__main__":
    main()
