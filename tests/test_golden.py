"""The golden outputs (recorded from v0.3.0 before the architecture change; the codecs/ clips again
when small faces in video began to be found) are reproduced byte for byte on the kind of CPU that
recorded them, and to float rounding on another (golden/commands.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
from commands import comparable, cpu_kind, recorded_kind, rounding_mismatch, run  # noqa: E402


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
    if new == old:
        return
    kind = cpu_kind()
    assert kind != recorded_kind(), (
        f"{golden.name} differs from the recorded output at line {first + 1} "
        f"({len(new)} lines, recorded {len(old)}): "
        f"{new[first:first + 1]!r} != {old[first:first + 1]!r}")
    mismatch = rounding_mismatch(produced, golden)
    assert mismatch is None, (f"{golden.name} differs from the recorded output beyond the rounding "
                              f"of another CPU kind ({kind}, recorded on {recorded_kind()}): "
                              f"{mismatch}")


@pytest.mark.parametrize("recorded, produced, same", [
    ("frame,valence\n3,0.2013\n", "frame,valence\n3,0.2012\n", True),  # last digit
    ("frame,valence\n3,0.2013\n", "frame,valence\n3,0.2015\n", False),  # two units
    ("frame,valence\n3,0.2013\n", "frame,valence\n4,0.2013\n", False),  # a whole number
    ("frame,emotion\n3,happiness\n", "frame,emotion\n3,neutral\n", False),
    ("frame,valence\n3,0.2013\n", "frame,valence\n3,0.2013\n4,0.1\n", False),
    ('{"valence": 0.20131, "latency_ms": 3}\n', '{"valence": 0.20135, "latency_ms": 9}\n', True),
    ('{"valence": 0.2013}\n', '{"valence": 0.2213}\n', False),
    ('{"track": 1}\n', '{"track": 2}\n', False),
    ('{"a": 0.5}\n', '{"b": 0.5}\n', False),
])
def test_another_cpu_kind_may_differ_only_in_rounding(tmp_path, recorded, produced, same):
    suffix = ".jsonl" if recorded.startswith("{") else ".csv"
    old, new = tmp_path / f"old{suffix}", tmp_path / f"new{suffix}"
    old.write_text(recorded)
    new.write_text(produced)
    assert (rounding_mismatch(new, old) is None) == same
