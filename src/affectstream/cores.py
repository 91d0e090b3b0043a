"""How many CPU threads each part of a run takes.

PyTorch splits a convolution's sums across its intra-op threads, so a model's float32 outputs
change in the last digit with the thread count. The models therefore run on one thread while a
stream is open: the same bytes on a laptop, a 64-core server, in `--workers 1` and in a worker
process. Parallelism comes from the pipeline's own threads and from worker processes instead.
"""
from __future__ import annotations

import contextlib
import os
import threading

MODEL_THREADS = 1
# Native libraries read these when they load: set in a worker before PyTorch is imported.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

_lock = threading.Lock()
_users = 0
_before: int | None = None


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@contextlib.contextmanager
def model_threads():
    """PyTorch on MODEL_THREADS intra-op threads inside the block; the caller's setting is back
    when the last of several overlapping blocks (streams in other threads) ends."""
    global _users, _before
    import torch

    with _lock:
        if _users == 0:
            _before = torch.get_num_threads()
            if _before != MODEL_THREADS:
                torch.set_num_threads(MODEL_THREADS)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _before != MODEL_THREADS:
                torch.set_num_threads(_before)


def cap_native_threads(threads: int = 1) -> None:
    """Keep a worker process's native thread pools (OpenMP, BLAS) at `threads`: N workers on N
    cores must not start N × cores threads. Call before PyTorch or NumPy is imported."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
