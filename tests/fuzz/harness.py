"""Run the `affectstream process` command on every corpus file, each in its own process group
with a time limit, and judge each run against what FFmpeg says about the file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import oracle
from .corpus import SHARED, Entry

TIMEOUT = 60.0  # seconds per file before a run counts as hung
TAIL = 8  # stderr lines shown for an offending file


@dataclass
class Result:
    """One CLI run on one corpus file, and what FFmpeg reported decoding that file."""
    entry: Entry
    returncode: int | None  # None: hung and killed
    stdout: str
    stderr: str
    seconds: float
    decode_errors: list[str] = field(default_factory=list)

    @property
    def hung(self) -> bool:
        return self.returncode is None

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr

    @property
    def crashed(self) -> bool:
        """Killed by a signal (a segfault, an abort) rather than exiting."""
        return self.returncode is not None and self.returncode < 0

    @property
    def says_damaged(self) -> bool:
        return "damaged" in self.stdout.lower()

    @property
    def silent_damage(self) -> bool:
        """Exit 0 on a file FFmpeg reports errors in, with no word of it in the summary."""
        return self.returncode == 0 and bool(self.decode_errors) and not self.says_damaged

    @property
    def control_failed(self) -> bool:
        """An intact file that did not go through: the harness would otherwise pass a CLI
        that rejects everything."""
        return self.entry.kind in ("intact", "odd_path") and self.returncode != 0

    @property
    def offences(self) -> list[str]:
        named = {"hang": self.hung, "traceback": self.traceback, "crash": self.crashed,
                 "silent damage": self.silent_damage, "intact file failed": self.control_failed}
        return [name for name, hit in named.items() if hit]


def cli_environment() -> dict[str, str]:
    """The caller's environment, offline (no run may wait on the network) and pointed at the
    shared model file when one is there."""
    env = {**os.environ, "AFFECTSTREAM_OFFLINE": "1", "PYTHONFAULTHANDLER": "1"}
    if (SHARED / "models" / "face_landmarker.task").is_file():
        env.setdefault("AFFECTSTREAM_MODEL_DIR", str(SHARED / "models"))
    return env


def run_cli(args: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, str]:
    """(exit code or None when it ran over `timeout` and was killed, stdout, stderr)."""
    process = subprocess.Popen([sys.executable, "-m", "affectstream.cli", *args], cwd=cwd,
                               env=cli_environment(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               errors="replace", start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # faulthandler then prints where every thread was
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: no worker outlives it
        except ProcessLookupError:
            pass
        out, err = process.communicate()
        return None, out, err


def run_one(entry: Entry, corpus: Path, out: Path, index: int, timeout: float = TIMEOUT,
            backend: str = "pyav") -> Result:
    """Process one corpus file into `out` and check it with the oracle."""
    path = corpus / entry.path
    started = time.perf_counter()
    code, stdout, stderr = run_cli(["process", str(path), "-o", str(out / f"{index:03d}.csv"),
                                    "-q"], cwd=out, timeout=timeout)
    seconds = time.perf_counter() - started
    errors = oracle.decode_errors(str(path), backend, timeout)
    return Result(entry, code, stdout, stderr, seconds, errors)


def run_corpus(entries: list[Entry], corpus: Path, out: Path, *, jobs: int = 1,
               timeout: float = TIMEOUT, backend: str = "pyav",
               progress=None) -> list[Result]:
    """Results for `entries`, in order; `progress(result, done, total)` after each run."""
    out.mkdir(parents=True, exist_ok=True)
    results: list[Result | None] = [None] * len(entries)

    def work(index: int) -> None:
        results[index] = run_one(entries[index], corpus, out, index, timeout, backend)
        if progress:
            progress(results[index], sum(r is not None for r in results), len(entries))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(work, range(len(entries))))
    return results
