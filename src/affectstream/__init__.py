"""affectstream: real-time facial affect (valence, arousal, FACS AUs, emotions) from video.

The public names are imported on first use (PEP 562), so `import affectstream` is quick and the
command line can take Ctrl-C while PyTorch and MediaPipe load.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .errors import AffectStreamError, SourceError, WriteError
    from .options import PipelineOptions
    from .pipeline import AffectStream, analyze_image, process, stream
    from .registry import Weights, register
    from .sources import open_source
    from .stages import FaceStage, FrameModel, Source, TemporalModel, Writer
    from .tables import read_csv, to_dataframe
    from .types import AU_NAMES, EMOTION_NAMES, Affect, Face, Frame, FrameOutput, Summary

# public name -> the module that defines it
_HOMES = {
    "AffectStreamError": "errors", "SourceError": "errors", "WriteError": "errors",
    "PipelineOptions": "options",
    "AffectStream": "pipeline", "analyze_image": "pipeline", "process": "pipeline",
    "stream": "pipeline",
    "Weights": "registry", "register": "registry",
    "open_source": "sources",
    "FaceStage": "stages", "FrameModel": "stages", "Source": "stages", "TemporalModel": "stages",
    "Writer": "stages",
    "read_csv": "tables", "to_dataframe": "tables",
    "AU_NAMES": "types", "EMOTION_NAMES": "types", "Affect": "types", "Face": "types",
    "Frame": "types", "FrameOutput": "types", "Summary": "types",
}

__all__ = [
    "AU_NAMES", "EMOTION_NAMES", "Affect", "AffectStream", "AffectStreamError", "Face", "FaceStage",
    "Frame", "FrameModel", "FrameOutput", "PipelineOptions", "Source", "SourceError", "Summary",
    "TemporalModel", "Weights", "WriteError", "Writer", "analyze_image", "open_source", "process",
    "read_csv", "register", "stream", "to_dataframe",
]
__version__ = "0.4.0"


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value  # found once; later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
