"""File outputs, one module each, registered under their `--format` names."""
from . import csv, jsonl  # noqa: F401  (importing registers them)
