"""Per-frame and temporal models that turn tracked faces into affect, one module each."""
