"""The golden outputs (recorded from v0.3.0 before the architecture change; the codecs/ clips again
when small faces in video began to be found) are reproduced byte for byte."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
from commands import comparable, run  # noqa: E402


@pytest.fixture(scope="module")
def fresh(media, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("golden")
    run(out)
    return out


def _golden_files() -> list[Path]:
    return sorted(p for p in GOLDEN.rglob("*") if p.suffix in (".csv", ".jsonl"))


@pytest.mark.parametrize("golden", _golden_files(), ids=lambda p: str(p.relative_to(GOLDEN)))
def test_same_bytes_as_recorded(golden: Path, fresh: Path):
    produced = fresh / golden.relative_to(GOLDEN)
    assert produced.exists(), f"{produced.name} was not written"
    new, old = comparable(produced).splitlines(), comparable(golden).splitlines()
    # the first differing line, not pytest's diff of two long byte strings (minutes of CPU)
    first = next((i for i, (a, b) in enumerate(zip(new, old)) if a != b), min(len(new), len(old)))
    same = new == old
    assert same, (f"{golden.name} differs from the recorded output at line {first + 1} "
                  f"({len(new)} lines, recorded {len(old)}): "
                  f"{new[first:first + 1]!r} != {old[first:first + 1]!r}")
