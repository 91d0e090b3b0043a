"""The declared interfaces: what the pipeline asks of each stage, and nothing more.

    Source ──Frame──▶ FaceStage ──Face──▶ FrameModel ──FrameOutput──▶ TemporalModel ──▶ Writer

A new model or writer implements one of these and registers a name (registry.py); the pipeline
talks to the stages only through the methods declared here.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .types import Affect, Face, Frame, FrameOutput

if TYPE_CHECKING:
    from .options import PipelineOptions


class Source:
    """An iterable of Frame with real timestamps, upright. `live` sources (cameras, RTSP) run at
    their own pace and cannot wait; `stills` sources hold unrelated photos, not a recording."""

    name: str = "source"
    live: bool = False
    fps: float | None = None
    stills: bool = False

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@runtime_checkable
class FaceStage(Protocol):
    """Frame → faces with landmarks, blendshapes, pose, aligned crop and a stable track_id."""

    def track(self, frame: Frame) -> list[Face]:
        """The faces in `frame`; frames come in timestamp order."""

    def alive(self) -> set[int]:
        """The ids of every track held now, whether or not it was detected in the last frame."""

    def reset(self) -> None:
        """Start a new timeline: no tracks, ids from 0."""

    def close(self) -> None: ...


@runtime_checkable
class FrameModel(Protocol):
    """Faces of one frame → one FrameOutput each. `produces`: some of "au", "valence", "emotion"."""

    produces: tuple[str, ...]

    def __call__(self, faces: list[Face]) -> list[FrameOutput]: ...


@runtime_checkable
class TemporalModel(Protocol):
    """Causal refinement over each track's past, with state kept per track_id.

    `produces` holds "uncertainty" when the outputs carry standard deviations. Built by
    `from_options(options)` (the weights are `options.temporal_weights` or the registered ones).
    """

    produces: tuple[str, ...]

    @classmethod
    def from_options(cls, options: PipelineOptions) -> TemporalModel: ...

    def step(self, track_id: int, timestamp: float, reading: FrameOutput | None) -> FrameOutput:
        """One frame of one track: `reading` is the per-frame model's output, or None when the
        track is held but its face was not detected; returns valence, arousal, AUs, stds and
        emotion logits (None: the per-frame model's stand; log-probabilities are logits too).
        AUs: all of AU_NAMES (NaN where not given), or the 12 DISFA_AU_NAMES, which the pipeline
        widens with the reading's other AUs (models/temporal.py `widen_au`)."""

    def drop(self, track_id: int) -> None:
        """Forget a lost track (a face that returns starts afresh)."""

    def reset(self) -> None:
        """Forget every track (a new source)."""


@runtime_checkable
class Writer(Protocol):
    """A file output registered under a `--format` name; `suffix` names its files (".csv").

    A live output (LSL, OSC, WebSocket; live/) has `live = True` and no suffix: `open` takes its
    address or stream name in place of a path, and `close` returns None."""

    suffix: str

    def open(self, path: str | os.PathLike, columns: tuple[str, ...],
             options: PipelineOptions) -> None:
        """Start the file; `columns` are the CSV columns the pipeline produces."""

    def write(self, rows: list[Affect]) -> None:
        """The rows of one frame, written (and flushed) before the next frame's."""

    def close(self, complete: bool = True) -> Path:
        """Finish the file (complete=False: the run was cut short); returns where it is."""
