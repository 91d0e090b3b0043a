"""The Gradio demo (`affectstream demo`, or `python demos/gradio_app.py`); needs the `demo`
extra."""
from .app import build_app, main

__all__ = ["build_app", "main"]
