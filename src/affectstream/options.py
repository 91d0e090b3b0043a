"""PipelineOptions: every pipeline setting once, with its default, help text and validation.

The pipeline, the CLI's arguments, the demo's settings and the benchmarks are all built from it; it
pickles and round-trips through JSON, so a worker process rebuilds an identical pipeline.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import numbers
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .errors import AffectStreamError

MODES = ("auto", "offline", "live")
AU_SOURCES = ("model", "blendshapes")
ROTATIONS = ("auto", "0", "90", "180", "270")  # auto: the file's display matrix or EXIF tag
LANDMARK_SETS = ("none", "68", "478")
NO_TEMPORAL = "none"  # the temporal choice that leaves the per-frame estimates as they are


def _frame_models() -> tuple[str, ...]:
    from . import registry

    return registry.names("frame")


def _temporal_models() -> tuple[str, ...]:
    from . import registry

    return registry.names("temporal") + (NO_TEMPORAL,)


def setting(default, help: str, *, choices: tuple | Callable[[], tuple] | None = None,
            minimum: float | None = None, positive: bool = False, metavar: str | None = None):
    """A dataclass field with what the CLI, the demo and validation need to know about it."""
    return field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum,
                                            "positive": positive, "metavar": metavar})


@dataclass(frozen=True)
class PipelineOptions:
    """Every setting of an `AffectStream`; validated on construction (AffectStreamError if
    wrong)."""

    mode: str = setting("auto", "auto: live for cameras and live URLs, else offline; offline: "
                        "every frame; live: the newest frame only, stale ones dropped",
                        choices=MODES)
    max_faces: int = setting(4, "faces per frame", minimum=1)
    max_gap: float = setting(1.0, "seconds a face may vanish and keep its face_id", minimum=0.0)
    landmarker: str | None = setting(None, "path to face_landmarker.task (default: found or "
                                     "fetched)", metavar="PATH")
    frame_model: str = setting("fusion", "per-frame model", choices=_frame_models)
    weights: str | None = setting(None, "per-frame model weights (default: the shipped ones)",
                                  metavar="PATH")
    au_source: str = setting("model", "AU intensities from the trained model or from MediaPipe's "
                             "blendshapes mapped to FACS", choices=AU_SOURCES)
    temporal: str = setting("ap", "temporal model over each face's past: ap (the Affective "
                            "Process, with valence_std/arousal_std), affwildnet (the CNN-RNN) or "
                            "none (per-frame estimates)", choices=_temporal_models)
    temporal_weights: str | None = setting(None, "weights of the temporal model (default: the "
                                           "shipped ones)", metavar="PATH")
    context_seconds: float | None = setting(None, "the Affective Process's context window in "
                                            "seconds (default: the one it was trained for)",
                                            positive=True)
    rotate: str = setting("auto", "turn frames clockwise by this many degrees before anything "
                          "else; auto: as the file's display rotation or EXIF orientation says",
                          choices=ROTATIONS)
    landmarks: str = setting("none", "landmark columns in the CSV: none, 68 (the iBUG/OpenFace "
                             "points, 2-D pixels and 3-D mm) or 478 (MediaPipe's mesh, pixels)",
                             choices=LANDMARK_SETS)
    gaze: bool = setting(False, "gaze columns in the CSV (per-eye unit vectors and angles)")

    def __post_init__(self):
        for spec in dataclasses.fields(self):
            object.__setattr__(self, spec.name, _checked(spec, getattr(self, spec.name)))

    def replace(self, **changes) -> PipelineOptions:
        """A copy with `changes` applied (and validated)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise AffectStreamError(f"unknown pipeline option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        """One line of JSON with every setting, keys sorted: the same options give the same text."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineOptions:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise AffectStreamError(f"pipeline options are not valid JSON ({e})") from None
        if not isinstance(values, dict):
            raise AffectStreamError("pipeline options must be a JSON object")
        return cls().replace(**values)


def _kind(spec: dataclasses.Field) -> tuple[str, bool]:
    """('int' | 'float' | 'str' | 'bool', optional) from the field's annotation."""
    parts = [p.strip() for p in str(spec.type).split("|")]
    return parts[0], "None" in parts


def _checked(spec: dataclasses.Field, value):
    """`value` as the field's type, or AffectStreamError saying what is wrong."""
    kind, optional = _kind(spec)
    meta, name = spec.metadata, spec.name
    if value is None:
        if optional:
            return None
        raise AffectStreamError(f"{name} needs a value")
    if kind == "bool":
        if not isinstance(value, bool):
            raise AffectStreamError(f"{name} must be true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, (str, os.PathLike)):
            raise AffectStreamError(f"{name} must be a string, got {value!r}")
        value = os.fspath(value)
    elif isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            (kind == "int" and not isinstance(value, numbers.Integral)):
        raise AffectStreamError(f"{name} must be {'an integer' if kind == 'int' else 'a number'}, "
                                f"got {value!r}")
    else:
        value = int(value) if kind == "int" else float(value)
        if not math.isfinite(value):
            raise AffectStreamError(f"{name} must be a finite number, got {value!r}")
        if meta["minimum"] is not None and value < meta["minimum"]:
            raise AffectStreamError(f"{name} must be at least {meta['minimum']:g}, got {value:g}")
        if meta["positive"] and value <= 0:
            raise AffectStreamError(f"{name} must be above 0, got {value:g}")
    choices = choices_of(spec)
    if choices is not None and value not in choices:
        raise AffectStreamError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")
    return value


def choices_of(spec: dataclasses.Field) -> tuple | None:
    choices = spec.metadata["choices"]
    return choices() if callable(choices) else choices


def option_fields(names: Iterable[str] | None = None) -> list[dataclasses.Field]:
    """The fields of PipelineOptions, all or the given ones in the order given."""
    every = {f.name: f for f in dataclasses.fields(PipelineOptions)}
    return list(every.values()) if names is None else [every[n] for n in names]


def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str] | None = None,
                  defaults: dict | None = None) -> None:
    """`--max-faces` and the like for the given settings (default: every one)."""
    for spec in option_fields(names):
        default = (defaults or {}).get(spec.name, spec.default)
        kind, _ = _kind(spec)
        if kind == "bool":  # a switch: --gaze
            parser.add_argument("--" + spec.name.replace("_", "-"), dest=spec.name,
                                action="store_true", default=default, help=spec.metadata["help"])
            continue
        shown = "" if default is None else f" (default {default})"
        parser.add_argument("--" + spec.name.replace("_", "-"), dest=spec.name, default=default,
                            type={"int": int, "float": float}.get(kind, str),
                            choices=choices_of(spec), metavar=spec.metadata["metavar"],
                            help=spec.metadata["help"] + shown)


def from_arguments(args: argparse.Namespace, **changes) -> PipelineOptions:
    """The options named in `args` (attributes of the same names), with `changes` on top."""
    present = {f.name: getattr(args, f.name) for f in option_fields() if hasattr(args, f.name)}
    return PipelineOptions().replace(**{**present, **changes})
