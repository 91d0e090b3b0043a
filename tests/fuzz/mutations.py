"""Byte-level damage to a file's contents: pure functions of (bytes, random.Random) -> bytes."""
from __future__ import annotations

import random

HEADER = 4096  # bytes treated as "the header": where container and codec set-up usually sit


def truncate(data: bytes, rng: random.Random, low: float, high: float) -> tuple[bytes, str]:
    """`data` cut at a fraction drawn from [low, high) of its length."""
    fraction = rng.uniform(low, high)
    return data[: int(len(data) * fraction)], f"cut at {fraction:.3f}"


def flip(data: bytes, rng: random.Random, start: int, end: int,
         most: int) -> tuple[bytes, str]:
    """1..`most` bytes in [start, end) XOR'd with a non-zero mask."""
    out, end = bytearray(data), min(end, len(data))
    count = rng.randint(1, most)
    for _ in range(count):
        out[rng.randrange(start, end)] ^= rng.randint(1, 255)
    return bytes(out), f"{count} byte(s) flipped in [{start}, {end})"


def zero(data: bytes, rng: random.Random, start: int, end: int, low: int,
         high: int) -> tuple[bytes, str]:
    """A run of `low`..`high` bytes starting in [start, end) set to zero."""
    length = rng.randint(low, high)
    at = rng.randrange(start, max(start + 1, min(end, len(data)) - length))
    return data[:at] + bytes(min(length, len(data) - at)) + data[at + length:], \
        f"{length} byte(s) zeroed at {at}"


def middle(data: bytes) -> tuple[int, int]:
    """The middle half of a file: mostly frame payload in any container."""
    return len(data) // 4, 3 * len(data) // 4


def random_bytes(rng: random.Random, low: int, high: int) -> bytes:
    return rng.randbytes(rng.randint(low, high))


def text(rng: random.Random) -> bytes:
    """A few lines of plain text, like notes or a log saved under the wrong name."""
    words = ("frame", "valence", "arousal", "camera", "subject", "session", "notes", "todo")
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
             for _ in range(rng.randint(1, 200))]
    return ("\n".join(lines) + "\n").encode()
