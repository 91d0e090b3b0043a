"""The `affectstream` command: process, webcam, models."""
from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AffectStreamError

if TYPE_CHECKING:
    from .registry import Entry

# Only light modules above: PyTorch, MediaPipe and PyAV load inside main(), where Ctrl-C is caught.
STAGE_OPTIONS = ("max_faces", "max_gap", "landmarker", "frame_model", "weights", "au_source",
                 "temporal", "temporal_weights", "context_seconds", "rotate", "landmarks",
                 "gaze")  # every setting but the mode
INTERRUPTED = ("affectstream: interrupted; finished rows are kept (CSV files end in .partial); "
               "run the same command again to go on from there")
NATIVE_COMMANDS = ("process", "webcam", "serve", "train", "evaluate")  # those that load MediaPipe
TRAINED = "trained"  # where `train` writes by default: beside the user, never over shipped weights


def _formats(args) -> list[str]:
    """The writers asked for: --format (comma-separated), plus jsonl for --jsonl."""
    from . import registry

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if args.jsonl and "jsonl" not in formats:
        formats.append("jsonl")
    for name in formats:
        entry = registry.get("writer", name)  # an unknown name fails before any work
        if getattr(entry.cls, "live", False):
            raise AffectStreamError(f"{name} is a live output, not a file format: use "
                                    f"`affectstream webcam --{name} ...` or `serve`, or "
                                    f"AffectStream.run(source, outputs=[({name!r}, target)])")
    return formats


def _targets(inputs: list[str], out: str | None,
             formats: list[str]) -> list[list[tuple[str, Path]]]:
    """Per input, (format, path) for each writer; the other formats' files sit beside the
    first's."""
    from . import registry
    from .inputs import output_paths

    suffixes = [registry.get("writer", f).cls.suffix for f in formats]
    firsts = output_paths(inputs, out, suffixes[0])
    # a format whose suffix an earlier one has (csv, openface: .csv) is named STEM.FORMAT.SUFFIX
    names = [f".{f}{s}" if s in suffixes[:i] else s
             for i, (f, s) in enumerate(zip(formats, suffixes))]
    return [[(f, first.with_suffix(s)) for f, s in zip(formats, names)] for first in firsts]


def _error(message: str) -> str:
    print(f"affectstream: error: {message}", file=sys.stderr)
    return message


def _report(failures: list[tuple[str, str]], count: int) -> None:
    """After several inputs: the ones that failed or are damaged, together, with the reasons."""
    if count < 2 or not failures:
        return
    lines = [f"affectstream: {len(failures)} of {count} inputs failed or are damaged:"]
    for name, message in failures:
        reason = message.removeprefix(f"{name}: ")
        lines.append(f"  {name}: {reason}")
    print("\n".join(lines), file=sys.stderr)


def cmd_process(args) -> int:
    from . import __version__
    from .batch.driver import Batch, run_batch
    from .batch.manifest import Manifest
    from .cores import available_cores
    from .inputs import expand
    from .options import from_arguments
    from .sources import frame_rate

    if args.fps is not None:  # a bad rate fails before any work
        frame_rate(args.fps)
    if args.workers is not None and args.workers < 1:
        raise AffectStreamError(f"--workers must be at least 1, got {args.workers}")
    if args.split and args.annotate:
        raise AffectStreamError("--annotate draws one whole run; leave out --split to use it")
    inputs, failures = expand(args.inputs)
    formats = _formats(args)
    jobs = _jobs(inputs, args, formats)
    for name, reason in failures:
        _error(f"{name}: {reason}")
    count = len(inputs) + len(failures)
    if jobs:
        options = from_arguments(args)
        folder, name = _manifest_place(args, jobs)
        fingerprint = json.dumps({"pipeline": json.loads(options.to_json()), "formats": formats,
                                  "fps": args.fps, "stills": args.stills,
                                  "dataset": args.dataset is not None}, sort_keys=True)
        manifest = None if folder is None else Manifest(folder, fingerprint, __version__, name)
        workers = args.workers or available_cores()
        outcomes = run_batch(Batch(jobs, options, workers, manifest, list(failures), args.engine,
                                   args.address, args.overwrite, args.quiet, args.split))
        failures += [(jobs[o.index].input.path, o.error) for o in outcomes if not o.ok]
    _report(failures, count)
    return 1 if failures else 0


def _jobs(inputs, args, formats: list[str]) -> list:
    """One Job per input: its writers and paths (-o and/or --dataset), its annotated video."""
    from .batch.jobs import Job

    paths = [i.path for i in inputs]
    targets = ([[(f, str(p)) for f, p in outs] for outs in _targets(paths, args.output, formats)]
               if args.output or not args.dataset else [[] for _ in inputs])
    if args.dataset:
        for outs, part in zip(targets, _dataset_parts(paths, args.dataset)):
            outs.append(part)
    videos = _annotated(paths, args.annotate)
    return [Job(i, item, tuple(outs), fps=args.fps, stills=args.stills,
                annotated=None if video is None else str(video))
            for i, (item, outs, video) in enumerate(zip(inputs, targets, videos))]


def _dataset_parts(paths: list[str], folder: str) -> list[tuple[type, str]]:
    """Per input, its file in the --dataset folder: Hive partitions `input=NAME`."""
    from urllib.parse import quote

    from .inputs import unique_names
    from .writers.parquet import DatasetPart, pyarrow_modules

    pyarrow_modules()  # no pyarrow: the error now, before any work
    return [(DatasetPart, str(Path(folder) / f"input={quote(name, safe='')}" / "part-0.parquet"))
            for name in unique_names(paths)]


def _manifest_place(args, jobs: list) -> tuple[str | None, str]:
    """Where the batch manifest goes (folder, file name); folder None for one input written to
    one named file (or to ./), which has nothing to resume."""
    from .batch.manifest import NAME

    if args.output:
        first = jobs[0].targets[0][1] if jobs[0].targets else None
        single = len(jobs) == 1 and first is not None and Path(first) == Path(args.output)
        return (None if single else args.output), NAME
    if args.dataset:  # readers of the dataset skip the files whose names start with _
        return args.dataset, "_" + NAME
    return ("." if len(jobs) > 1 else None), NAME


def _annotated(inputs: list[str], target: str | None) -> list[Path | None]:
    """Per input, where --annotate writes its video: TARGET itself when it names an .mp4 (one
    input), else TARGET/<name>_annotated.mp4; never over an input."""
    if target is None:
        return [None] * len(inputs)
    from .inputs import unique_names

    path = Path(target)
    if path.suffix.lower() == ".mp4" and not path.is_dir():
        if len(inputs) != 1:
            raise AffectStreamError(f"--annotate {target} names one file, but there are "
                                    f"{len(inputs)} inputs; give a folder (--annotate videos/)")
        videos = [path]
    elif path.suffix and not path.is_dir():
        raise AffectStreamError(f"--annotate {target}: the annotated video is an MP4; name a "
                                ".mp4 file or a folder")
    else:
        videos = [path / f"{name}_annotated.mp4" for name in unique_names(inputs)]
    for video, given in zip(videos, inputs):
        if video.resolve() == Path(given).resolve():
            raise AffectStreamError(f"--annotate {target} would overwrite the input {given}")
    return videos


def cmd_plot(args) -> int:
    try:
        import pandas  # noqa: F401  (read_csv needs it; matplotlib comes with mediapipe)

        from .plotting import plot_csv
    except ImportError as e:
        raise AffectStreamError("plot needs the plot extra: pip install 'affectstream[plot]' "
                                f"({e})") from None
    from .inputs import output_paths

    pngs = (output_paths(args.csv, args.output, ".png") if args.output
            else [Path(c).with_suffix(".png") for c in args.csv])
    failures = 0
    for csv_path, png in zip(args.csv, pngs):
        try:
            print(f"{csv_path} -> {plot_csv(csv_path, png)}")
        except AffectStreamError as e:
            _error(str(e))
            failures += 1
    return 1 if failures else 0


def cmd_webcam(args) -> int:
    from .options import from_arguments
    from .pipeline import AffectStream
    from .sources import open_source
    from .writers.csv import csv_row

    writer = csv.writer(sys.stdout)
    with AffectStream(from_arguments(args, mode="live")) as pipeline:
        columns = pipeline.columns + ("latency_ms",)
        writer.writerow(columns)

        def show(affect):
            writer.writerow(csv_row(affect, pipeline.columns) + [f"{affect.latency_ms:.1f}"])
            sys.stdout.flush()

        # A file given here plays at its own frame rate, as a camera would.
        source = open_source(args.source, fps=args.fps, realtime=Path(args.source).is_file())
        summary = pipeline.run(source, on_result=show, csv=args.output, outputs=live_outputs(args))
    print(summary, file=sys.stderr)
    return 0


def live_outputs(args) -> list[tuple[str, str]]:
    """The live outputs `webcam` was asked for: (writer name, target) pairs."""
    asked = (("lsl", args.lsl), ("osc", args.osc), ("ws", args.ws))
    return [(name, target) for name, target in asked if target is not None]


def _corpus(args) -> tuple[str, str, str] | None:
    if not args.corpus:
        return None
    if not (args.labels and args.media):
        raise AffectStreamError(f"--corpus {args.corpus} needs --labels FOLDER and --media FOLDER")
    return args.corpus, args.labels, args.media


def cmd_train(args) -> int:
    if args.model == "temporal":
        from .train.temporal.commands import HELD_OUT_SEQUENCES, train_temporal

        out = args.out or f"{TRAINED}/{args.temporal_model}.safetensors"
        train_temporal(args.temporal_model, args.data, out,
                       sequences=600 if args.sequences is None else args.sequences,
                       videos=tuple(args.videos),
                       video_sequences=args.video_sequences if args.videos else 0,
                       valid_sequences=HELD_OUT_SEQUENCES if args.valid_sequences is None
                       else args.valid_sequences,
                       tune_sequences=args.tune_sequences, epochs=args.epochs,
                       seconds=args.seconds or 0.5, corpus=_corpus(args), seed=args.seed,
                       threads=args.threads, weights=args.weights, landmarker=args.landmarker)
        return 0
    if args.model == "frame-au":
        from .train.frame.au_head import train_au_head

        train_au_head(args.data, args.weights, args.out or f"{TRAINED}/frame.safetensors",
                      limit=6000 if args.limit is None else args.limit,
                      epochs=args.epochs or 30, seed=args.seed, threads=args.threads,
                      landmarker=args.landmarker)
        return 0
    from .train.frame.training import train_frame

    train_frame(args.data, args.out or f"{TRAINED}/frame.safetensors", epochs=args.epochs or 40,
                seed=args.seed, limit=args.limit, threads=args.threads, teachers=args.teachers,
                distill=args.distill, ema=args.ema, channels=args.channels,
                mixup_alpha=args.mixup, crop=args.crop, separable=args.separable,
                landmarker=args.landmarker)
    return 0


def cmd_evaluate(args) -> int:
    if args.model == "temporal":
        from .train.temporal.commands import HELD_OUT_SEQUENCES, evaluate_temporal

        evaluate_temporal(args.temporal_model, args.data, temporal_weights=args.temporal_weights,
                          sequences=args.sequences or HELD_OUT_SEQUENCES, seed=args.seed,
                          corpus=_corpus(args),
                          seconds=args.seconds, weights=args.weights, landmarker=args.landmarker)
        return 0
    from .train.frame.training import evaluate_frame

    evaluate_frame(args.data, split=args.split, weights=args.weights, limit=args.limit,
                   au_source=args.au_source)
    return 0


def cmd_demo(args) -> int:
    try:
        from .demo import main as demo
    except ImportError as e:
        raise AffectStreamError("the demo needs the demo extra: pip install 'affectstream[demo]' "
                                f"({e})") from None
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own health checks, not news
    demo(args.host, args.port, args.max_minutes, args.max_upload_mb)
    return 0


def cmd_models(args) -> int:
    from . import assets, registry

    if args.action == "fetch":
        for spec in assets.MODELS.values():
            target = assets.cache_dir() / spec.filename
            try:
                assets.verify(spec, target)
                print(f"{spec.filename}: already in the cache, verified: {target}")
            except AffectStreamError:
                print(f"{spec.filename}: fetched and verified: {assets.fetch(spec)}")
        return 0
    for name, where, status in assets.describe():
        print(f"{name:22s} {status:34s} {where}")
    print()
    for kind in ("frame", "temporal"):
        for entry in registry.entries(kind):
            print(_weights_line(entry))
    print(f"{'writers':9s} {', '.join(registry.names('writer'))} (--format)")
    return 0


def _weights_line(entry: Entry) -> str:
    """`kind name file size sha256 card` for a registered model's shipped weights."""
    head = f"{entry.kind:9s} {entry.name:11s}"
    weights = entry.weights
    if weights is None:
        return f"{head} (no weight file)"
    if not weights.path.is_file():
        return f"{head} {weights.file}: MISSING at {weights.path}"
    size, digest = weights.path.stat().st_size, weights.sha256()
    recorded = weights.recorded_sha256()
    check = ("verified" if digest == recorded else "NOT LISTED in SHA256SUMS" if recorded is None
             else "MODIFIED: differs from SHA256SUMS")
    return (f"{head} {weights.file:30s} {size / 1e6:6.2f} MB  sha256 {digest} ({check})  "
            f"card {weights.card_path}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="affectstream",
                                description="Facial affect from video, per face and frame.")
    sub = p.add_subparsers(dest="command", required=True)
    _process_parser(sub)
    _webcam_parser(sub)
    from .live.serve import add_parser as serve_parser

    serve_parser(sub, STAGE_OPTIONS)
    _plot_parser(sub)
    _train_parser(sub)
    _evaluate_parser(sub)
    q = sub.add_parser("demo", help="the Gradio demo in a browser: live webcam, video files to CSV")
    q.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    q.add_argument("--port", type=int, default=7860)
    q.add_argument("--max-minutes", type=float, default=10.0,
                   help="longest video the video tab accepts")
    q.add_argument("--max-upload-mb", type=float, default=200.0,
                   help="largest video file the video tab accepts, in MB (default 200)")
    q.set_defaults(func=cmd_demo)
    q = sub.add_parser("models", help="list model files, shipped weights and writers; "
                                      "`models fetch` downloads")
    q.add_argument("action", nargs="?", choices=("list", "fetch"), default="list")
    q.set_defaults(func=cmd_models)
    return p


def _process_parser(sub) -> None:
    from . import registry
    from .options import add_arguments

    q = sub.add_parser("process", help="video files, folders or streams to CSV")
    q.add_argument("inputs", nargs="+", help="video files, image folders, folders of videos, URLs")
    q.add_argument("-o", "--output",
                   help="output file (one input) or folder (default: ./<name>.csv)")
    q.add_argument("--format", default="csv",
                   help=f"writers, comma-separated: {', '.join(registry.names('writer'))} "
                        "(default csv; the others are written beside the first)")
    q.add_argument("--jsonl", action="store_true", help="also write <name>.jsonl beside each CSV")
    q.add_argument("--stills", action="store_true",
                   help="folders of images hold unrelated photos, not the frames of one recording")
    q.add_argument("--fps", type=float,
                   help="frame rate of a folder of images that is one recording (default 1); "
                        "videos keep their own timestamps (ignored for them, with a warning)")
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    q.add_argument("--annotate", metavar="MP4|FOLDER",
                   help="also write the video with each face's box, id, valence and arousal "
                        "drawn on it: FILE.mp4 (one input) or a folder, which gets "
                        "<name>_annotated.mp4 per input (files and image folders; not live "
                        "streams)")
    _batch_arguments(q)
    add_arguments(q, ("mode",) + STAGE_OPTIONS, defaults={"mode": "offline"})
    q.set_defaults(func=cmd_process)


def _batch_arguments(q) -> None:
    from .batch.driver import ENGINES

    q.add_argument("--workers", type=int,
                   help="processes (or Ray actors) working on the inputs at once (default: one "
                        "per core; 1: one after another in this process)")
    q.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: worker processes on this machine; ray: Ray actors, on the "
                        "cluster at --address or a private local one (pip install "
                        "'affectstream[ray]')")
    q.add_argument("--address", help="--engine ray: the Ray cluster to join (e.g. auto, or "
                                     "HEAD:6379); default: start a local one")
    q.add_argument("--overwrite", action="store_true",
                   help="redo inputs the batch manifest says are done with the same options")
    q.add_argument("--split", action="store_true",
                   help="cut each long video into time segments, one per worker, each decoded "
                        "from a few seconds before its start, then joined with one face_id per "
                        "face across the cuts")
    q.add_argument("--dataset", metavar="FOLDER",
                   help="write one Parquet dataset for all inputs, partitioned by input "
                        "(FOLDER/input=NAME/part-0.parquet); with -o, the per-input files too")


def _plot_parser(sub) -> None:
    q = sub.add_parser("plot", help="a picture of each result CSV: valence and arousal over "
                                    "time, AU heat strip, circumplex")
    q.add_argument("csv", nargs="+", help="CSV files that process wrote (csv or openface format)")
    q.add_argument("-o", "--output",
                   help="output PNG (one CSV) or folder (default: <csv name>.png beside each CSV)")
    q.set_defaults(func=cmd_plot)


def _webcam_parser(sub) -> None:
    from .options import add_arguments

    q = sub.add_parser("webcam", help="live affect from a camera or stream, printed as CSV rows")
    q.add_argument("--source", default="webcam:0",
                   help="webcam:N, /dev/videoN, an rtsp:// URL, or a video file played in "
                        "real time")
    q.add_argument("--fps", type=float, help="ask the camera for this frame rate")
    q.add_argument("-o", "--output", help="also write the rows to this CSV")
    q.add_argument("--lsl", nargs="?", const="affectstream", metavar="NAME",
                   help="publish a Lab Streaming Layer stream (type Affect, default name "
                        "affectstream), one sample per face and frame, stamped with the capture "
                        "time (pip install 'affectstream[lsl]')")
    q.add_argument("--osc", metavar="HOST:PORT",
                   help="send OSC bundles, /affect/<face_id>/valence etc., to this UDP address "
                        "(pip install 'affectstream[osc]')")
    q.add_argument("--ws", nargs="?", const="127.0.0.1:8765", metavar="HOST:PORT",
                   help="serve the JSON records to WebSocket clients at ws://HOST:PORT/ws "
                        "(default 127.0.0.1:8765), with a live page at http://HOST:PORT/ "
                        "(pip install 'affectstream[serve]')")
    add_arguments(q, STAGE_OPTIONS)
    q.set_defaults(func=cmd_webcam)


def _temporal_arguments(q) -> None:
    from .train.temporal.commands import trainable
    from .train.temporal.labels import CORPORA

    q.add_argument("--model", dest="temporal_model", choices=trainable(), default="ap",
                   help="temporal: which model (default ap, the Affective Process)")
    q.add_argument("--sequences", type=int,
                   help="temporal: corrupted sequences of 80 frames built "
                        "from the stills (default 600 to train, 500 to evaluate)")
    q.add_argument("--seconds", type=float, help="temporal, ap: context window in seconds "
                                                 "(default 0.5 to train; evaluate: the file's)")
    q.add_argument("--corpus", choices=CORPORA,
                   help="temporal: an annotated video corpus you hold (Aff-Wild2 VA, DISFA or "
                        "BP4D AU intensities), with --labels and --media; evaluate: scored on it "
                        "instead")
    q.add_argument("--labels",
                   help="temporal: the corpus's label folder (Aff-Wild2: the VA .txt "
                        "files; DISFA: the subject folders; BP4D: the AU intensity folders)")
    q.add_argument("--media",
                   help="temporal: the folder of its videos or frame folders, matched by name")


def _model_and_data(q) -> None:
    q.add_argument("model", choices=("frame", "frame-au", "temporal"))
    q.add_argument("--data", required=True,
                   help="FER+ folder, AffectNet folder, or a CSV of your own labels")


def _train_parser(sub) -> None:
    from .options import add_arguments

    q = sub.add_parser("train", help="train a model: `train frame` (per-frame, 12 DISFA AUs), "
                                     "`train frame-au` (its AU head widened to OpenFace's 17) or "
                                     "`train temporal --model ap|affwildnet`")
    _model_and_data(q)
    q.add_argument("--out", help=f"where to write the weights (default: {TRAINED}/MODEL"
                                 ".safetensors; never the shipped weights unless named)")
    q.add_argument("--epochs", type=int, help="default 40 (frame), 30 (temporal)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--limit", type=int, help="frame: train on a random subset of this many "
                   "images; frame-au: default 6000")
    q.add_argument("--threads", type=int, default=2,
                   help="CPU threads (and face-extraction workers)")
    add_arguments(q, ("landmarker",))
    q.add_argument("--weights",
                   help="temporal: the per-frame model under it; frame-au: the one to widen "
                        "(default: the shipped one)")
    _temporal_arguments(q)
    q.add_argument("--videos", nargs="*", default=[],
                   help="temporal: face videos for pseudo-labelled sequences")
    q.add_argument("--video-sequences", type=int, default=400,
                   help="temporal: sequences cut from --videos")
    q.add_argument("--valid-sequences", type=int,
                   help="temporal: held-out sequences scored at the end (default 500)")
    q.add_argument("--tune-sequences", type=int, default=300,
                   help="temporal: sequences from faces the per-frame model held out, on which "
                        "the output filter and σ are fitted (0: neither)")
    q.add_argument("--teachers", nargs="*", default=[],
                   help="frame: per-frame networks whose ensemble the targets are distilled from")
    q.add_argument("--distill", type=float, default=0.5,
                   help="frame: how far the targets move to the teachers' ensemble (0–1)")
    q.add_argument("--ema", type=float, default=0.0,
                   help="frame: select among moving averages of the weights with this decay per "
                        "step (e.g. 0.998; 0: the weights themselves)")
    q.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128, 192],
                   help="frame: the CNN's width at each stage (max-pooled between stages)")
    q.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="frame: mixup, each sample blended with another by λ ~ Beta(α, α) "
                        "(e.g. 0.2; 0: none)")
    q.add_argument("--crop", type=int, default=48, metavar="PX",
                   help="frame: train on random PX×PX windows of the 48×48 face and read the "
                        "centre one at run time (fewer operations a face; default 48: no crop)")
    q.add_argument("--separable", action="store_true",
                   help="frame: depthwise-separable convolutions (about a third of the training "
                        "time an epoch at the same widths, and fewer operations a face)")
    q.set_defaults(func=cmd_train)


def _evaluate_parser(sub) -> None:
    from .options import add_arguments

    q = sub.add_parser("evaluate", help="evaluate a model: `evaluate frame` (through the pipeline) "
                                        "or `evaluate temporal` (on held-out corrupted sequences)")
    _model_and_data(q)
    q.add_argument("--split", default="valid",
                   help="frame: which split (FER+: valid; AffectNet: validation.csv)")
    q.add_argument("--limit", type=int, help="frame: only the first N images")
    q.add_argument("--seed", type=int, default=0,
                   help="temporal: the training seed (held-out uses seed + 1)")
    add_arguments(q, ("landmarker", "weights", "au_source", "temporal_weights"))
    _temporal_arguments(q)
    q.set_defaults(func=cmd_evaluate)


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (130 after Ctrl-C, at any moment)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    from .heap import limit_arenas
    from .logs import filter_native_logs

    limit_arenas()  # before MediaPipe's threads start: the heap stays flat over many inputs

    try:
        with _interrupt_deferred():  # the choices come from the registry: PyTorch loads here
            command = parser()
    except AffectStreamError as e:  # a broken plugin
        print(f"affectstream: error: {e}", file=sys.stderr)
        return 1
    args = command.parse_args(argv)
    if args.command in NATIVE_COMMANDS:
        with _interrupt_deferred():
            importlib.import_module(".pipeline", __package__)  # MediaPipe, OpenCV, PyAV
    filter_native_logs()
    logging.basicConfig(level=logging.INFO, format="affectstream: %(message)s")
    try:
        return args.func(args)
    except AffectStreamError as e:
        print(f"affectstream: error: {e}", file=sys.stderr)
        return 1


@contextlib.contextmanager
def _interrupt_deferred():
    """Hold Ctrl-C back until the block ends, then raise it: a KeyboardInterrupt raised inside
    the import of a native module (PyTorch, MediaPipe) can abort the whole process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
