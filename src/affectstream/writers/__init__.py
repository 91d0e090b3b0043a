"""File outputs, one module each, registered under their `--format` names.

`write_all` and `close_all` turn a disk that fails (full, I/O error) into one WriteError that
names the output; a file that could not be finished keeps its `.partial` name.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import WriteError


def _name(writer) -> str:
    return str(getattr(writer, "path", None) or type(writer).__name__)


def _kept(writer) -> str:
    partial = getattr(writer, "partial", None)
    return f"; the rows written so far are in {partial}" if partial else ""


def write_all(writers: Sequence, rows: list) -> None:
    """One frame's rows to every writer; an OSError becomes WriteError naming the output."""
    for writer in writers:
        try:
            writer.write(rows)
        except OSError as e:
            raise WriteError(f"{_name(writer)}: cannot write ({e.strerror or e}){_kept(writer)}"
                             ) from e


def close_all(writers: Sequence, complete: bool = True) -> tuple[list[Path], WriteError | None]:
    """Close every writer, even after one fails: (the files they left, the first failure)."""
    files, failure = [], None
    for writer in writers:
        try:
            path = writer.close(complete=complete)
        except OSError as e:
            failure = failure or WriteError(f"{_name(writer)}: cannot finish writing "
                                            f"({e.strerror or e}){_kept(writer)}")
            continue
        if path is not None:
            files.append(path)
    return files, failure
