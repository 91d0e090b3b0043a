"""One progress display for a whole batch, whatever runs it: files done of the total, frames per
second over all workers, the ETA and the failures so far. One input gets a bar of its frames.
"""
from __future__ import annotations

import sys
import time

from tqdm import tqdm

from .jobs import Outcome


class BatchProgress:
    """Fed by the engines' events; `quiet` shows nothing, but lines still print."""

    def __init__(self, files: int, quiet: bool = False, single_name: str | None = None):
        self.single = files == 1
        self.started = time.monotonic()
        self.failures = self.finished_frames = 0
        self.running: dict[int, int] = {}  # frames so far of the jobs being processed
        self.totals: dict[int, int] = {}  # frames each job will have, where known
        disable = quiet or None  # None: tqdm shows itself only on a terminal
        if self.single:
            self.bar = tqdm(total=None, unit="frame", desc=single_name, disable=disable,
                            leave=False, dynamic_ncols=True)
        else:
            self.bar = tqdm(total=files, unit="file", desc="affectstream", disable=disable,
                            leave=False, dynamic_ncols=True)

    @property
    def frames(self) -> int:
        return self.finished_frames + sum(self.running.values())

    @property
    def fps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    def frames_done(self, index: int, frames: int, total: int | None) -> None:
        self.running[index] = frames
        if total:
            self.totals[index] = total
        if self.single:  # one input, perhaps in several segments
            whole = sum(self.totals.values()) or None
            if self.bar.total != whole:
                self.bar.total = whole
            self.bar.update(self.frames - self.bar.n)
        self._postfix()

    def part_done(self, index: int, frames: int) -> None:
        """A segment of a split input is finished: its frames count, the input is not done."""
        self.running.pop(index, None)
        self.finished_frames += frames

    def finished(self, outcome: Outcome, count: bool = True) -> None:
        """One job over: its lines printed above the bar; `count` False for a skipped one."""
        self.running.pop(outcome.index, None)
        self.finished_frames += outcome.frames if count else 0
        self.failures += not outcome.ok
        for line in outcome.lines:
            self.bar.write(line, file=sys.stdout)
        if outcome.error:
            self.bar.write(f"affectstream: error: {outcome.error}", file=sys.stderr)
        if not self.single:
            self.bar.update(1)
        self._postfix()

    def say(self, line: str, error: bool = False) -> None:
        self.bar.write(line, file=sys.stderr if error else sys.stdout)

    def _postfix(self) -> None:
        fields = {"fps": f"{self.fps:.0f}"}
        if self.failures:
            fields["failed"] = self.failures
        self.bar.set_postfix(fields, refresh=False)

    def close(self) -> None:
        self.bar.close()
