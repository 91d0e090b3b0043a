"""Per-frame and temporal models that turn tracked faces into affect; importing registers them."""
from . import affective_process, affwildnet, frame  # noqa: F401  (ap first: the default)
