"""The batch manifest, `OUTDIR/affectstream-batch.csv`: one row per input saying what became of
it, and what a rerun reads to skip the inputs already done with the same options.

While a batch runs, each finished input's row is appended and flushed at once (a killed run keeps
every row it finished; a rerun takes the last row per input). When the batch ends the file is
rewritten in input order, with the rows of inputs this run did not touch kept after them.
"""
from __future__ import annotations

import csv
import datetime
import io
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import WriteError
from .jobs import DONE, SKIPPED, Job, Outcome

NAME = "affectstream-batch.csv"
COLUMNS = ("path", "size", "modified", "status", "frames", "face_frames", "tracks", "seconds",
           "worker", "rss_mb", "peak_rss_mb", "attempts", "error", "output", "options", "version",
           "finished")
OUTPUT_SEPARATOR = ";"  # several formats: their paths in one cell


@dataclass(frozen=True)
class Identity:
    """What makes an earlier result reusable: the input unchanged (absolute path, bytes,
    modification time) and the same options and version."""

    path: str
    size: int
    modified: str

    @classmethod
    def of(cls, path: str, images=None) -> Identity:
        """The identity of input `path` (a folder of `images`: their bytes and latest time)."""
        files = [Path(p) for p in images] if images is not None else [Path(path)]
        try:
            stats = [f.stat() for f in files]
        except OSError:  # a URL, a camera, a file gone: never skipped
            named = "://" in path or path.startswith("webcam:")
            return cls(path if named else os.path.abspath(path), -1, "")
        latest = max((s.st_mtime_ns for s in stats), default=0)
        when = datetime.datetime.fromtimestamp(latest / 1e9, datetime.timezone.utc)
        return cls(os.path.abspath(path), sum(s.st_size for s in stats),
                   when.isoformat(timespec="microseconds"))


class Manifest:
    """Rows of `folder/NAME` (`name` for a Parquet dataset, whose readers skip `_` files)."""

    def __init__(self, folder: str | os.PathLike, options: str, version: str, name: str = NAME):
        self.path = Path(folder) / name
        self.options, self.version = options, version
        self.previous = read_manifest(self.path)
        self.rows: dict[str, dict[str, str]] = {}  # this run's, by path
        self._file = None

    def reusable(self, job: Job, identity: Identity) -> dict[str, str] | None:
        """The earlier row of an input done with these options, when every output is there."""
        row = self.previous.get(identity.path)
        if (row is None or row["status"] not in (DONE, SKIPPED) or identity.size < 0
                or row["size"] != str(identity.size) or row["modified"] != identity.modified
                or row["options"] != self.options or row["version"] != self.version):
            return None
        outputs = [p for p in row["output"].split(OUTPUT_SEPARATOR) if p]
        if sorted(outputs) != sorted(job.outputs) or not all(Path(p).is_file() for p in outputs):
            return None
        return row

    def skipped(self, row: dict[str, str]) -> None:
        self._append({**row, "status": SKIPPED})

    def record(self, identity: Identity, outcome: Outcome) -> None:
        self._append({
            "path": identity.path, "size": str(identity.size), "modified": identity.modified,
            "status": outcome.status, "frames": str(outcome.frames),
            "face_frames": str(outcome.face_frames), "tracks": str(outcome.tracks),
            "seconds": f"{outcome.seconds:.2f}", "worker": outcome.worker,
            "rss_mb": f"{outcome.rss_mb:.1f}", "peak_rss_mb": f"{outcome.peak_rss_mb:.0f}",
            "attempts": str(outcome.attempts),
            "error": " ".join(outcome.error.splitlines()),  # one row, one line
            "output": OUTPUT_SEPARATOR.join(outcome.outputs),
            "options": self.options, "version": self.version,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="milliseconds"),
        })

    def _append(self, row: dict[str, str]) -> None:
        """One row, on disk at once: the journal a killed run leaves."""
        self.rows[row["path"]] = row
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fresh = not self.path.exists() or self.path.stat().st_size == 0
                self._file = open(self.path, "a", newline="", encoding="utf-8")
                if fresh:
                    self._file.write(_line(COLUMNS))
                elif not _ends_with_newline(self.path):  # a row cut by a kill
                    self._file.write("\r\n")
            self._file.write(_line([row[c] for c in COLUMNS]))
            self._file.flush()
        except OSError as e:
            raise WriteError(f"{self.path}: cannot write the batch manifest ({e.strerror or e})"
                             ) from e

    def close(self, order: list[str]) -> Path:
        """Rewrite the file: this run's rows in `order` (paths), then the untouched earlier ones."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self.rows:
            return self.path
        rows = [self.rows[p] for p in order if p in self.rows]
        rows += [r for p, r in self.previous.items() if p not in self.rows]
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            with open(partial, "w", newline="", encoding="utf-8") as f:
                f.write(_line(COLUMNS))
                f.writelines(_line([r[c] for c in COLUMNS]) for r in rows)
            os.replace(partial, self.path)
        except OSError as e:
            raise WriteError(f"{self.path}: cannot write the batch manifest ({e.strerror or e})"
                             ) from e
        return self.path


def _line(cells) -> str:
    text = io.StringIO()
    csv.writer(text).writerow(cells)
    return text.getvalue()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_manifest(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """{path: the last complete row for it} of a manifest (empty when there is none); rows cut
    short by a kill are left out."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    # a row is one line: a row cut inside a quoted cell cannot swallow the rows after it
    rows = [_cells(line) for line in text.splitlines()]
    if not rows or tuple(rows[0]) != COLUMNS:
        return {}
    return {cells[0]: dict(zip(COLUMNS, cells)) for cells in rows[1:]
            if len(cells) == len(COLUMNS) and cells[-1]}


def _cells(line: str) -> list[str]:
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return []
