"""A short, fixed slice of the fuzz corpus (one file of every kind) through the same runner as
the full run (`python -m tests.fuzz.run --count 200`): no traceback, no hang, no crash, and no
exit 0 on a file FFmpeg finds errors in unless the summary says it is damaged."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from . import report
from .corpus import KINDS, Entry, load_manifest, make_corpus
from .harness import Result, run_corpus

SEED = 0
SLICE = len(KINDS)  # kinds are dealt round-robin: one file of each


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(media, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "corpus ✓"  # the folder itself has odd characters
    make_corpus(folder, SEED, SLICE, media)
    return folder


def test_the_same_seed_gives_the_same_bytes(corpus, media, tmp_path):
    entries = load_manifest(corpus)
    assert [e.kind for e in entries] == list(KINDS)
    again = make_corpus(tmp_path / "again", SEED, SLICE, media)
    assert again == entries and _digests(tmp_path / "again") == _digests(corpus)
    other = make_corpus(tmp_path / "other", SEED + 1, SLICE, media)
    changed = {e.kind for e, o in zip(entries, other) if e.detail != o.detail}
    assert {"truncate_tail", "flip_payload", "random_bytes"} <= changed


def test_the_verdict_rules():
    entry = Entry("x.mp4", "flip_payload", "video/single_face.mp4", "1 byte(s) flipped")

    def offences(code, stdout="", stderr="", errors=()):
        return Result(entry, code, stdout, stderr, 1.0, list(errors)).offences

    assert offences(0) == [] and offences(1, errors=["[h264] error"]) == []
    assert offences(0, "x: 9 frames", errors=["[h264] error"]) == ["silent damage"]
    assert offences(0, "x: 9 frames, DAMAGED: 2 packets skipped", errors=["[h264] e"]) == []
    assert offences(None) == ["hang"] and offences(-11) == ["crash"]
    assert offences(1, stderr="Traceback (most recent call last):\n") == ["traceback"]
    intact = Entry("y.mp4", "intact", "video/single_face.mp4", "unchanged")
    assert Result(intact, 1, "", "", 1.0).offences == ["intact file failed"]


def test_a_slice_of_every_kind_fails_loudly_or_not_at_all(corpus, tmp_path):
    results = run_corpus(load_manifest(corpus), corpus, tmp_path / "out", jobs=2)
    assert not any(r.offences for r in results), "\n".join(
        [report.table(results), report.offenders(results)])
