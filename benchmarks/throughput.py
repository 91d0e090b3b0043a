"""Throughput, latency and memory of the pipeline against its floor (decode + landmarks), \
in one run.

    python benchmarks/throughput.py [VIDEO] [--repeats 20] [--passes 5]
        [--format openface --landmarks 68 --gaze]

Prints decode-only fps, the floor (PyAV decode + MediaPipe Face Landmarker alone, one thread), the
full offline pipeline's fps and its ratio to the floor, per-frame processing time and live-mode
capture-to-result latency percentiles (the file played at its own frame rate, like a camera), the
per-frame model's time per face on one thread, peak RSS, and RSS growth over the clip concatenated
`--repeats` times. With `--format`, the pipeline also writes those files (to a temporary folder)
and the cost of writing them is printed against a pass that only yields records.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import av
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

import affectstream as af
from affectstream.assets import resolve
from affectstream.logs import quiet_native_logs
from affectstream.options import add_arguments, from_arguments

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTSTREAM_SHARED", ROOT.parent / "shared"))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def decode_fps(path: Path) -> float:
    start, n = time.perf_counter(), 0
    for _ in af.open_source(path):
        n += 1
    return n / (time.perf_counter() - start)


def floor_fps(path: Path, max_faces: int) -> float:
    """Decode + MediaPipe landmarks and blendshapes, serially: what any MediaPipe-based tool pays.
    """
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(resolve("face_landmarker"))),
        running_mode=vision.RunningMode.VIDEO, num_faces=max_faces, output_face_blendshapes=True,
        output_facial_transformation_matrixes=True)
    with quiet_native_logs():
        landmarker = vision.FaceLandmarker.create_from_options(options)
    start, n = time.perf_counter(), 0
    for frame in af.open_source(path):
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame.image)
        landmarker.detect_for_video(image, int(frame.timestamp * 1000))
        n += 1
    seconds = time.perf_counter() - start
    with quiet_native_logs():
        landmarker.close()
    return n / seconds


def pipeline_run(path: Path, options: af.PipelineOptions, outputs: tuple = (),
                 **open_args) -> tuple[float, np.ndarray, np.ndarray, int]:
    """(fps, per-frame processing ms, capture-to-result ms, dropped) for one pass; `outputs`:
    (format, path) pairs of files written as it goes."""
    with af.AffectStream(options) as pipeline:
        busy, latency, last = [], [], {"frame": -1, "tick": time.perf_counter()}

        def seen(affect):
            if affect.frame != last["frame"]:
                now = time.perf_counter()
                busy.append((now - last["tick"]) * 1000)
                last.update(frame=affect.frame, tick=now)
                latency.append(affect.latency_ms)

        start = last["tick"] = time.perf_counter()
        pipeline.run(af.open_source(path, **open_args), outputs=outputs, on_result=seen)
        seconds = time.perf_counter() - start
        return (pipeline.summary.frames / seconds, np.array(busy), np.array(latency),
                pipeline.summary.dropped)


class TimedWriter:
    """A registered writer whose time in `write` is added up (the pipeline calls it between
    frames, on the thread that also tracks faces, so that time adds to every frame's)."""

    def __init__(self, format: str, path: Path, options: af.PipelineOptions, columns):
        from affectstream import registry

        self.writer, self.path, self.seconds = registry.get("writer", format).cls(), path, 0.0
        self.writer.open(path, columns, options)

    def write(self, rows) -> None:
        start = time.perf_counter()
        self.writer.write(rows)
        self.seconds += time.perf_counter() - start

    def close(self, complete: bool = True):
        return self.writer.close(complete)


def writing_run(path: Path, options: af.PipelineOptions,
                formats: str) -> tuple[float, float, float]:
    """(fps, ms per frame spent in the writers, MB written) for one pass writing `formats`."""
    with tempfile.TemporaryDirectory() as folder, af.AffectStream(options) as pipeline:
        writers = [TimedWriter(f.strip(), Path(folder) / f"out.{f.strip()}", options,
                               pipeline.columns) for f in formats.split(",") if f.strip()]

        def write(affect):  # one row at a time, where the pipeline hands its writers a frame's
            for writer in writers:
                writer.write([affect])

        start = time.perf_counter()
        summary = pipeline.run(path, on_result=write)
        seconds = time.perf_counter() - start
        for writer in writers:
            writer.close()
        megabytes = sum(w.path.stat().st_size for w in writers) / 1e6
        spent = sum(w.seconds for w in writers)
    return summary.frames / seconds, spent / summary.frames * 1000, megabytes


def model_ms(path: Path) -> float:
    """Per-face time of the per-frame model (inputs and forward pass) on one thread, median of 200.
    """
    import torch

    from affectstream.models.frame import FusionModel, load_frame_net

    with af.AffectStream() as pipeline:
        faces = next(f for frame in af.open_source(path) if (f := pipeline.tracker.track(frame)))
    model, threads = FusionModel(load_frame_net()), torch.get_num_threads()
    torch.set_num_threads(1)
    times = []
    for _ in range(220):
        start = time.perf_counter()
        model(faces[:1])
        times.append((time.perf_counter() - start) * 1000)
    torch.set_num_threads(threads)
    return float(np.median(times[20:]))


def concatenated(path: Path, repeats: int, folder: Path) -> Path:
    """The clip `repeats` times in a row, remuxed with PyAV (no re-encoding)."""
    out_path = folder / f"{path.stem}_x{repeats}.mkv"
    with av.open(str(out_path), "w") as out:
        with av.open(str(path)) as first:
            stream = out.add_stream_from_template(first.streams.video[0])
        offset = 0
        for _ in range(repeats):
            with av.open(str(path)) as src:
                vs = src.streams.video[0]
                end = 0
                for packet in src.demux(vs):
                    if packet.dts is None:
                        continue
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.pts, packet.dts = packet.pts + offset, packet.dts + offset
                    packet.stream = stream
                    out.mux(packet)
                offset += end
    return out_path


def memory_growth(path: Path, repeats: int,
                  options: af.PipelineOptions) -> tuple[float, float, int]:
    """(RSS after the first pass, RSS at the end, frames) over the clip concatenated `repeats`
    times."""
    frames_per_pass = sum(1 for _ in af.open_source(path))
    with tempfile.TemporaryDirectory() as tmp:
        long_clip = concatenated(path, repeats, Path(tmp))
        after_first = None
        with af.AffectStream(options) as pipeline:
            for affect in pipeline.stream(long_clip):
                if affect.frame == frames_per_pass and after_first is None:
                    after_first = rss_mb()
            return after_first, rss_mb(), pipeline.summary.frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("video", nargs="?",
                        default=SHARED / "media/video/WolfgangLanger_Pexels.mp4", type=Path)
    parser.add_argument("--repeats", type=int, default=20,
                        help="concatenations for the memory test (0: skip)")
    parser.add_argument("--passes", type=int, default=1,
                        help="floor and pipeline passes, alternating; the median ratio is shown "
                        "(this shared machine's speed drifts between runs)")
    parser.add_argument("--format", help="also write these formats (comma-separated, e.g. "
                        "openface) and print what writing them costs")
    add_arguments(parser)  # every pipeline setting, with the pipeline's defaults
    args = parser.parse_args()
    options = from_arguments(args)
    if not args.video.exists():
        print(f"no such video: {args.video}", file=sys.stderr)
        return 1
    print(f"video: {args.video}  cores: {os.cpu_count()}  python {sys.version.split()[0]}")
    print(f"options: {options.to_json()}")
    af.process(args.video, options=options)  # warm-up: imports, model load, page cache

    decode = decode_fps(args.video)
    passes = []  # (floor, pipeline fps, per-frame ms): floor and pipeline alternate
    for _ in range(max(1, args.passes)):
        floor = floor_fps(args.video, options.max_faces)
        passes.append((floor, *pipeline_run(args.video, options)[:2]))
    ratios = [fps / floor for floor, fps, _ in passes]
    middle = int(np.argsort(ratios)[len(ratios) // 2])  # the median pass (the upper one if even)
    floor, fps, busy = passes[middle]
    print(f"decode only                  {decode:8.1f} fps")
    print(f"floor: decode + landmarks    {floor:8.1f} fps")
    print(f"full pipeline (offline)      {fps:8.1f} fps   ratio to floor {fps / floor:.2f}")
    if len(passes) > 1:
        print(f"  ratio over {len(passes)} alternating passes: median {ratios[middle]:.2f}, "
              f"range {min(ratios):.2f}–{max(ratios):.2f} (the lines above: the median pass)")
    print(f"per-frame processing         p50 {np.percentile(busy, 50):6.1f} ms   "
          f"p95 {np.percentile(busy, 95):6.1f} ms")
    if args.format:
        written, write_ms, megabytes = writing_run(args.video, options, args.format)
        print(f"writing {args.format:<20s} {written:8.1f} fps   {write_ms:.2f} ms per frame in "
              f"the writers ({megabytes:.1f} MB written)")
    _, _, live_latency, dropped = pipeline_run(args.video, options, realtime=True)
    print(f"live, file at its own rate   capture->result "
          f"p50 {np.percentile(live_latency, 50):6.1f} ms   "
          f"p95 {np.percentile(live_latency, 95):6.1f} ms   dropped {dropped}")
    # this shared machine's speed drifts; in units of the floor's time per frame it does not
    print(f"  p95 in floor frame times     {np.percentile(live_latency, 95) * floor / 1000:6.2f} "
          f"(the floor: {1000 / floor:.1f} ms a frame)")
    print(f"per-frame model, one face    {model_ms(args.video):6.2f} ms on one thread")
    print(f"peak RSS                     {peak_rss_mb():8.1f} MB")
    if args.repeats:
        first, end, frames = memory_growth(args.video, args.repeats, options)
        print(f"memory over {args.repeats}x clip ({frames} frames): "
              f"RSS after first pass {first:.1f} MB, "
              f"at end {end:.1f} MB, growth {end - first:+.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
