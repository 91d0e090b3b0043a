"""affectstream: real-time facial affect (valence, arousal, FACS AUs, emotions) from video."""
from .errors import AffectStreamError, SourceError
from .pipeline import AffectStream, analyze_image, process, stream
from .sources import open_source
from .types import AU_NAMES, EMOTION_NAMES, TEMPORAL_MODELS, Affect, Face, Frame, FrameOutput, Summary

__all__ = [
    "AU_NAMES", "EMOTION_NAMES", "Affect", "AffectStream", "AffectStreamError", "Face", "Frame", "FrameOutput",
    "SourceError", "Summary", "TEMPORAL_MODELS", "analyze_image", "open_source", "process", "stream",
]
__version__ = "0.3.0"
