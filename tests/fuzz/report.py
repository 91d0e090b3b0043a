"""The fuzz run's verdict: a table per kind of damage, a totals line, and each offending file with
the end of what it printed."""
from __future__ import annotations

from collections.abc import Callable

from .harness import TAIL, Result

COLUMNS: dict[str, Callable[[Result], bool]] = {
    "files": lambda r: True,
    "ffmpeg errors": lambda r: bool(r.decode_errors),
    "exit 0": lambda r: r.returncode == 0,
    "exit 1": lambda r: r.returncode == 1,
    "other": lambda r: r.returncode not in (0, 1),
    "tracebacks": lambda r: r.traceback,
    "hangs": lambda r: r.hung,
    "crashes": lambda r: r.crashed,
    "silent damage": lambda r: r.silent_damage,
    "intact failed": lambda r: r.control_failed,
}


def table(results: list[Result]) -> str:
    """One Markdown row per kind of damage (in corpus order) and a TOTAL row."""
    kinds = list(dict.fromkeys(r.entry.kind for r in results))
    rows = [[kind, *_counts([r for r in results if r.entry.kind == kind])] for kind in kinds]
    rows.append(["TOTAL", *_counts(results)])
    header = ["kind", *COLUMNS]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells) -> str:
        return "| " + " | ".join(f"{c!s:<{w}}" if i == 0 else f"{c!s:>{w}}"
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])


def _counts(results: list[Result]) -> list[int]:
    return [sum(1 for r in results if test(r)) for test in COLUMNS.values()]


def totals(results: list[Result], seconds: float) -> str:
    """One line: how many files, how long, each offence counted, and PASS or FAIL."""
    counts = dict(zip(COLUMNS, _counts(results)))
    offences = ["tracebacks", "hangs", "crashes", "silent damage", "intact failed"]
    verdict = "FAIL" if any(counts[name] for name in offences) else "PASS"
    listed = ", ".join(f"{counts[name]} {name}" for name in offences)
    return f"{verdict}: {len(results)} files in {seconds:.0f} s: {listed}"


def offenders(results: list[Result]) -> str:
    """Each offending file: its kind and damage, the offences, FFmpeg's first complaint, the
    summary line and the last lines of stderr."""
    blocks = []
    for r in results:
        if not r.offences:
            continue
        code = "killed after the time limit" if r.hung else f"exit {r.returncode}"
        lines = [f"{r.entry.path}  [{r.entry.kind}: {r.entry.source}, {r.entry.detail}]",
                 f"    {', '.join(r.offences)}; {code}; {r.seconds:.1f} s"]
        if r.decode_errors:
            lines.append(f"    ffmpeg ({len(r.decode_errors)} error lines): "
                         f"{r.decode_errors[0]}")
        summary = [s for s in r.stdout.splitlines() if s.strip()]
        if summary:
            lines.append(f"    stdout: {summary[-1]}")
        lines += [f"    | {s}" for s in r.stderr.rstrip().splitlines()[-TAIL:]]
        blocks.append("\n".join(lines))
    return f"Offending files ({len(blocks)}):\n" + "\n".join(blocks) if blocks else ""
