"""What `affectstream process` reads and writes: folders expanded into what they hold (every entry
left out is named, with the reason), and one output path per input that no other input's output
can overwrite.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import AffectStreamError
from .probe import Folder, scan
from .sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES

log = logging.getLogger("affectstream")


@dataclass(frozen=True)
class Input:
    """One recording to process: `path` as given or found in a folder (a file, URL, camera or
    folder); for a folder of images, `images` are its frames (or photos) in order."""

    path: str
    images: tuple[Path, ...] | None = None


def expand(texts: list[str]) -> tuple[list[Input], list[tuple[str, str]]]:
    """(the inputs, the (input, reason) of those that cannot be processed) for the paths given.

    A folder that holds videos gives its videos; one that holds only images is one input (a
    recording, or photos with --stills). What else a folder holds is skipped and named in a
    warning; a file whose name says video or image but that FFmpeg cannot read is a failure.
    """
    inputs, failures = [], []
    for text in texts:
        if not Path(text).is_dir():
            inputs.append(Input(text))
            continue
        try:
            found = scan(text)
        except AffectStreamError as e:  # a folder it may not read
            failures.append((text, str(e).removeprefix(f"{text}: ")))
            continue
        _tell(found, failures)
        if found.videos:
            inputs += [Input(str(p)) for p in found.videos]
        elif found.images:
            inputs.append(Input(text, tuple(found.images)))
        else:
            failures.append((text, "no videos or images in this folder"))
    return inputs, failures


def _tell(found: Folder, failures: list[tuple[str, str]]) -> None:
    """Name each entry of a folder that will not be processed, with the reason."""
    for path, why in found.skipped:
        if path.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES and not path.is_dir():
            failures.append((str(path), why))  # named as media but unreadable: damaged
        else:
            log.warning("skipped %s: %s", path, why)
    if found.videos:
        for path in found.images:
            log.warning("skipped %s: %s", path, "an image in a folder of videos; process the "
                        "images as a folder of their own")


def output_paths(inputs: list[str], out: str | None, suffix: str) -> list[Path]:
    """One output path per input: OUT itself when it names one file (ends in SUFFIX and is not a
    folder) for one input; else OUT/<name>SUFFIX, or ./<name>SUFFIX without OUT."""
    target = Path(out) if out else None
    if target is not None and target.suffix.lower() == suffix and not target.is_dir():
        if len(inputs) != 1:
            raise AffectStreamError(f"-o {out} names one file, but there are {len(inputs)} "
                                    "inputs; give a folder for their outputs (-o results/)")
        return [target]
    folder = target or Path()
    return [folder / f"{name}{suffix}" for name in unique_names(inputs)]


def unique_names(inputs: list[str]) -> list[str]:
    """A file name (no suffix) per input, no two alike, even ignoring case: the input's stem, and
    where stems clash, the fewest parent folders that tell the inputs apart (a/clip.mp4 and
    b/clip.mp4: a_clip, b_clip), then the file type (clip_mp4, clip_mov), then a number."""
    paths = [_where(text) for text in inputs]
    names = [p.stem or "stream" for p in paths]
    for group in _clashes(names):
        for i in group:
            names[i] = _with_parents(paths[i], [paths[j] for j in group if j != i])
    for group in _clashes(names):  # the same folder and stem: the file type may tell them apart
        if len({paths[i].suffix.casefold() for i in group}) > 1:
            for i in group:
                names[i] += "_" + paths[i].suffix.lstrip(".") if paths[i].suffix else ""
    seen: set[str] = set()
    for i, name in enumerate(names):  # the same input twice
        number = 1
        while names[i].casefold() in seen:
            number += 1
            names[i] = f"{name}_{number}"
        seen.add(names[i].casefold())
    return names


def _where(text: str) -> Path:
    """A local input as an absolute path (its parent folders tell it apart); others as given."""
    text = text.rstrip("/") or text
    if "://" in text or text.startswith("webcam:"):
        return Path(text)
    return Path(os.path.abspath(text))


def _clashes(names: list[str]) -> list[list[int]]:
    """The groups of indices whose names are the same, ignoring case."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name.casefold(), []).append(i)
    return [group for group in groups.values() if len(group) > 1]


def _with_parents(path: Path, others: list[Path]) -> str:
    """`path`'s stem behind the fewest of its parent folders that no other path ends in."""
    parents = [p for p in path.parent.parts if p not in (path.anchor, "")]
    for depth in range(1, len(parents) + 1):
        tail = [p.casefold() for p in parents[-depth:]]
        if all([p.casefold() for p in other.parent.parts[-depth:]] != tail for other in others):
            return "_".join([*parents[-depth:], path.stem or "stream"])
    return path.stem or "stream"
