"""The full fuzz run: build a seeded corpus of damaged and odd media, run `affectstream process`
on every file, print the verdict table, and exit 1 on any traceback, hang, crash, silent damage
or intact file that failed.

    python -m tests.fuzz.run --count 200 --seed 0 [--jobs 1] [--timeout 60] [--corpus DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a file (python tests/fuzz/run.py): import from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz import oracle, report  # noqa: E402
from tests.fuzz.corpus import KINDS, MANIFEST, load_manifest, make_corpus  # noqa: E402
from tests.fuzz.harness import TIMEOUT, Result, run_corpus  # noqa: E402


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="corpus files (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="files run at once (default 1)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds per file before it counts as hung (default {TIMEOUT:g})")
    parser.add_argument("--corpus", type=Path, help="corpus folder: reused if it holds a "
                        f"{MANIFEST}, else built there (default: a temporary folder)")
    parser.add_argument("--kinds", help=f"comma-separated subset of: {', '.join(KINDS)}")
    # The question is whether the decoder that made the rows met errors and said nothing, so the
    # default is PyAV's own FFmpeg; the system binary (often another FFmpeg release) is a second
    # opinion: FFmpeg 5.1 calls one flipped JPEG of the seed-0 corpus damaged, FFmpeg 8 does not.
    parser.add_argument("--oracle", choices=("auto", "ffmpeg", "pyav"), default="pyav",
                        help="what decodes each file to find errors: PyAV's FFmpeg (default, the "
                        "decoder affectstream uses), the ffmpeg binary, or the binary when "
                        "installed (auto)")
    return parser.parse_args(argv)


def show_progress(result: Result, done: int, total: int) -> None:
    flags = f"  <- {', '.join(result.offences)}" if result.offences else ""
    code = "hung" if result.hung else f"exit {result.returncode}"
    print(f"[{done:3d}/{total}] {result.seconds:5.1f} s {code:7s} {result.entry.path}{flags}",
          file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    with tempfile.TemporaryDirectory(prefix="affectstream-fuzz-") as temp:
        corpus = args.corpus or Path(temp) / "corpus"
        entries = (load_manifest(corpus) if (corpus / MANIFEST).is_file()
                   else make_corpus(corpus, args.seed, args.count))
        if args.kinds:
            entries = [e for e in entries if e.kind in args.kinds.split(",")]
        print(f"corpus: {corpus} ({len(entries)} files); oracle: "
              f"{oracle.backend_name(args.oracle)}", file=sys.stderr)
        started = time.perf_counter()
        results = run_corpus(entries, corpus, Path(temp) / "out", jobs=args.jobs,
                             timeout=args.timeout, backend=args.oracle, progress=show_progress)
        seconds = time.perf_counter() - started
    print(report.table(results))
    print(report.totals(results, seconds))
    print(report.offenders(results))
    return 1 if any(r.offences for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
