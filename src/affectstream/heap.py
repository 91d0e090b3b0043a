"""Keeping a long-running process's heap from growing with the number of inputs it reads.

glibc keeps what MediaPipe frees when its tasks are closed and rebuilt for each new input (about
2 MiB a rebuild here), and gives each of MediaPipe's threads an arena of its own whose free holes
are never reused by the others: a worker reading one short file after another grew by ~200 MiB per
100 files. `trim` after each rebuild and two arenas (`MALLOC_ARENA_MAX`, `limit_arenas`) bring it
to ~15 MiB per 100 files after its first ten. Elsewhere than glibc (macOS, musl) they do nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

ARENAS = 2
ENVIRONMENT = {"MALLOC_ARENA_MAX": str(ARENAS)}  # for processes started by a batch
_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def trim() -> None:
    """Return the heap's free pages to the OS (glibc), else nothing."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def limit_arenas() -> None:
    """At most ARENAS malloc arenas in this process (glibc): call before native threads start."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_ARENA_MAX, ARENAS)
