"""The `affectstream` command: process, webcam, models."""
from __future__ import annotations

import argparse
import csv
import logging
import sys
from pathlib import Path

from . import assets, registry
from .errors import AffectStreamError, SourceError
from .logs import filter_native_logs
from .options import add_arguments, from_arguments
from .pipeline import AffectStream
from .sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, open_source
from .train.temporal.labels import CORPORA
from .writers.csv import csv_row

STAGE_OPTIONS = ("max_faces", "max_gap", "landmarker", "frame_model", "weights", "au_source",
                 "temporal", "temporal_weights", "context_seconds")  # every setting but the mode


def _inputs(paths: list[str]) -> list[str]:
    """Expand folders of videos into their videos; a folder of images stays one image-sequence
    input."""
    out = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            videos = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
            images = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
            if videos:
                out += [str(p) for p in videos]
            elif images:
                out.append(text)
            else:
                raise AffectStreamError(f"{text}: no videos or images in this folder")
        else:
            out.append(text)
    return out


def _outputs(inputs: list[str], out: str | None, suffix: str) -> list[Path]:
    """One output path per input: OUT itself for a single input named *SUFFIX, else
    OUT/<name>SUFFIX."""
    names = [Path(i.rstrip("/")).stem or "stream" for i in inputs]
    if out is None:
        return [Path(f"{n}{suffix}") for n in names]
    target = Path(out)
    if len(inputs) == 1 and target.suffix.lower() == suffix and not target.is_dir():
        return [target]
    if len(set(names)) < len(names):
        names = [f"{n}_{i}" for i, n in enumerate(names)]
    return [target / f"{n}{suffix}" for n in names]


def _formats(args) -> list[str]:
    """The writers asked for: --format (comma-separated), plus jsonl for --jsonl."""
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if args.jsonl and "jsonl" not in formats:
        formats.append("jsonl")
    for name in formats:
        registry.get("writer", name)  # an unknown name fails before any work
    return formats


def _targets(inputs: list[str], out: str | None,
             formats: list[str]) -> list[list[tuple[str, Path]]]:
    """Per input, (format, path) for each writer; the other formats' files sit beside the
    first's."""
    suffixes = [registry.get("writer", f).cls.suffix for f in formats]
    firsts = _outputs(inputs, out, suffixes[0])
    return [[(f, first.with_suffix(s)) for f, s in zip(formats, suffixes)] for first in firsts]


def _run_one(pipeline, source: str, targets: list[tuple[str, Path]], args) -> None:
    from tqdm import tqdm

    src = open_source(source, stills=args.stills)
    total = getattr(src, "frame_count", None)
    with tqdm(total=total, unit="frame", desc=Path(source).name, disable=args.quiet or None,
              leave=False, dynamic_ncols=True) as bar:
        def progress(summary):
            bar.update(summary.frames - bar.n)
            bar.set_postfix(fps=f"{summary.fps:.0f}", faces=summary.faces, refresh=False)

        summary = pipeline.run(src, outputs=targets, progress=progress)
    print(summary)


def cmd_process(args) -> int:
    inputs = _inputs(args.inputs)
    targets = _targets(inputs, args.output, _formats(args))
    failures = 0
    with AffectStream(from_arguments(args)) as pipeline:
        for source, outputs in zip(inputs, targets):
            try:
                _run_one(pipeline, source, outputs, args)
            except SourceError as e:
                failures += 1
                if getattr(e, "summary", None) is not None:
                    print(e.summary)
                print(f"affectstream: error: {e}", file=sys.stderr)
            except AffectStreamError as e:
                failures += 1
                print(f"affectstream: error: {e}", file=sys.stderr)
    return 1 if failures else 0


def cmd_webcam(args) -> int:
    writer = csv.writer(sys.stdout)
    with AffectStream(from_arguments(args, mode="live")) as pipeline:
        columns = pipeline.columns + ("latency_ms",)
        writer.writerow(columns)

        def show(affect):
            writer.writerow(csv_row(affect, pipeline.columns) + [f"{affect.latency_ms:.1f}"])
            sys.stdout.flush()

        # A file given here plays at its own frame rate, as a camera would.
        source = open_source(args.source, fps=args.fps, realtime=Path(args.source).is_file())
        summary = pipeline.run(source, on_result=show, csv=args.output)
    print(summary, file=sys.stderr)
    return 0


def _corpus(args) -> tuple[str, str, str] | None:
    if not args.corpus:
        return None
    if not (args.labels and args.media):
        raise AffectStreamError(f"--corpus {args.corpus} needs --labels FOLDER and --media FOLDER")
    return args.corpus, args.labels, args.media


def cmd_train(args) -> int:
    if args.model == "temporal":
        from .train.temporal.commands import train_temporal

        train_temporal(args.temporal_model, args.data, args.out,
                       sequences=600 if args.sequences is None else args.sequences,
                       videos=tuple(args.videos),
                       video_sequences=args.video_sequences if args.videos else 0,
                       valid_sequences=args.valid_sequences, epochs=args.epochs,
                       seconds=args.seconds or 0.5, corpus=_corpus(args), seed=args.seed,
                       threads=args.threads, weights=args.weights, landmarker=args.landmarker)
        return 0
    from .train.frame.training import train_frame

    train_frame(args.data, args.out or "weights/frame.safetensors", epochs=args.epochs or 40,
                seed=args.seed, limit=args.limit, threads=args.threads, landmarker=args.landmarker)
    return 0


def cmd_evaluate(args) -> int:
    if args.model == "temporal":
        from .train.temporal.commands import evaluate_temporal

        evaluate_temporal(args.temporal_model, args.data, temporal_weights=args.temporal_weights,
                          sequences=args.sequences or 100, seed=args.seed, corpus=_corpus(args),
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
    demo(args.host, args.port, args.max_minutes)
    return 0


def cmd_models(args) -> int:
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


def _weights_line(entry: registry.Entry) -> str:
    """`kind name file size sha256 card` for a registered model's shipped weights."""
    head = f"{entry.kind:9s} {entry.name:11s}"
    weights = entry.weights
    if weights is None:
        return f"{head} (no weight file)"
    if not weights.path.is_file():
        return f"{head} {weights.file}: MISSING at {weights.path}"
    size = weights.path.stat().st_size
    return (f"{head} {weights.file:30s} {size / 1e6:6.2f} MB  sha256 {weights.sha256()}  "
            f"card {weights.card_path}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="affectstream",
                                description="Facial affect from video, per face and frame.")
    sub = p.add_subparsers(dest="command", required=True)
    _process_parser(sub)
    _webcam_parser(sub)
    _train_parser(sub)
    _evaluate_parser(sub)
    q = sub.add_parser("demo", help="the Gradio demo in a browser: live webcam, video files to CSV")
    q.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    q.add_argument("--port", type=int, default=7860)
    q.add_argument("--max-minutes", type=float, default=10.0,
                   help="longest video the video tab accepts")
    q.set_defaults(func=cmd_demo)
    q = sub.add_parser("models", help="list model files, shipped weights and writers; "
                                      "`models fetch` downloads")
    q.add_argument("action", nargs="?", choices=("list", "fetch"), default="list")
    q.set_defaults(func=cmd_models)
    return p


def _process_parser(sub) -> None:
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
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_arguments(q, ("mode",) + STAGE_OPTIONS, defaults={"mode": "offline"})
    q.set_defaults(func=cmd_process)


def _webcam_parser(sub) -> None:
    q = sub.add_parser("webcam", help="live affect from a camera or stream, printed as CSV rows")
    q.add_argument("--source", default="webcam:0",
                   help="webcam:N, /dev/videoN, an rtsp:// URL, or a video file played in "
                        "real time")
    q.add_argument("--fps", type=float, help="ask the camera for this frame rate")
    q.add_argument("-o", "--output", help="also write the rows to this CSV")
    add_arguments(q, STAGE_OPTIONS)
    q.set_defaults(func=cmd_webcam)


def _temporal_arguments(q) -> None:
    from .train.temporal.commands import trainable

    q.add_argument("--model", dest="temporal_model", choices=trainable(), default="ap",
                   help="temporal: which model (default ap, the Affective Process)")
    q.add_argument("--sequences", type=int,
                   help="temporal: corrupted sequences of 80 frames built "
                        "from the stills (default 600 to train, 100 to evaluate)")
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
    q.add_argument("model", choices=("frame", "temporal"))
    q.add_argument("--data", required=True,
                   help="FER+ folder, AffectNet folder, or a CSV of your own labels")


def _train_parser(sub) -> None:
    q = sub.add_parser("train", help="train a model: `train frame` (per-frame) or "
                                     "`train temporal --model ap|affwildnet`")
    _model_and_data(q)
    q.add_argument("--out",
                   help="where to write the weights (default: the shipped weights' path)")
    q.add_argument("--epochs", type=int, help="default 40 (frame), 30 (temporal)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--limit", type=int, help="frame: train on a random subset of this many images")
    q.add_argument("--threads", type=int, default=2,
                   help="CPU threads (and face-extraction workers)")
    add_arguments(q, ("landmarker",))
    q.add_argument("--weights",
                   help="temporal: the per-frame model under it (default: the shipped one)")
    _temporal_arguments(q)
    q.add_argument("--videos", nargs="*", default=[],
                   help="temporal: face videos for pseudo-labelled sequences")
    q.add_argument("--video-sequences", type=int, default=400,
                   help="temporal: sequences cut from --videos")
    q.add_argument("--valid-sequences", type=int, default=100,
                   help="temporal: held-out sequences scored at the end")
    q.set_defaults(func=cmd_train)


def _evaluate_parser(sub) -> None:
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
    try:  # the choices come from the registry, so a broken plugin fails here
        command = parser()
    except AffectStreamError as e:
        print(f"affectstream: error: {e}", file=sys.stderr)
        return 1
    args = command.parse_args(argv)
    filter_native_logs()
    logging.basicConfig(level=logging.INFO, format="affectstream: %(message)s")
    try:
        return args.func(args)
    except AffectStreamError as e:
        print(f"affectstream: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("affectstream: interrupted; finished rows are kept (CSV files end in .partial)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
