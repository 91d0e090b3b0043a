"""affectstream: real-time facial affect (valence, arousal, FACS AUs, emotions) from video."""
from .errors import AffectStreamError, SourceError
from .options import PipelineOptions
from .pipeline import AffectStream, analyze_image, process, stream
from .registry import Weights, register
from .sources import open_source
from .stages import FaceStage, FrameModel, Source, TemporalModel, Writer
from .types import AU_NAMES, EMOTION_NAMES, Affect, Face, Frame, FrameOutput, Summary

__all__ = [
    "AU_NAMES", "EMOTION_NAMES", "Affect", "AffectStream", "AffectStreamError", "Face", "FaceStage",
    "Frame", "FrameModel", "FrameOutput", "PipelineOptions", "Source", "SourceError", "Summary",
    "TemporalModel", "Weights", "Writer", "analyze_image", "open_source", "process", "register",
    "stream",
]
__version__ = "0.4.0"
