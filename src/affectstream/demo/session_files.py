"""The files a browser session leaves on the server, and their deletion when the session ends.

A session's results (CSV, annotated video, plots, the webcam tab's pictures) are written inside
Gradio's own temporary folder, so Gradio serves them where they are instead of copying them; the
session's uploads are noted beside them. `forget` (Blocks.unload: the tab closed) deletes both.
Whatever a session that never says goodbye leaves behind is removed by Gradio's `delete_cache`
sweep (CACHE_SWEEP) or when the demo stops (`forget_all`).

A webcam frame in flight when the tab closes must not write after the deletion (shutil.rmtree
leaves a file made while it walks): frames hold their session's folder (`in_use`) and `forget`
waits for them; a forgotten session takes no more work.
"""
from __future__ import annotations

import hashlib
import secrets
import shutil
import tempfile
import threading
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from ..errors import AffectStreamError
from .pictures import KEEP

# Blocks(delete_cache=...): every 10 minutes, files made more than an hour ago go.
CACHE_SWEEP = (600, 3600)
UPLOADS = "uploads.txt"


def gradio_folder() -> Path:
    """Where Gradio keeps uploads and the files it serves (GRADIO_TEMP_DIR, else /tmp/gradio)."""
    return Path(get_upload_folder()).resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder)


class SessionFiles:
    """One folder per browser session under `root`, named by a digest of its session hash."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()  # over _locks and _forgotten
        self._forgotten: set[str] = set()  # 16 characters per closed tab

    @classmethod
    def create(cls) -> SessionFiles:
        """A root of its own inside Gradio's folder: two demos on one machine never share one."""
        return cls(gradio_folder() / f"affectstream-demo-{secrets.token_hex(4)}")

    def folder(self, request: gr.Request | None) -> Path:
        # the hash is chosen by the client: digest it rather than trust it in a path
        session = getattr(request, "session_hash", None) or "no-session"
        return self.root / hashlib.sha256(session.encode()).hexdigest()[:16]

    def _lock(self, folder: Path) -> threading.Lock | None:
        """The session's lock; None once it is forgotten (no lock is made again for it)."""
        with self._guard:
            return None if folder.name in self._forgotten else self._locks[folder.name]

    @contextmanager
    def in_use(self, request: gr.Request | None):
        """The session's folder, held against `forget` while the block writes in it; None when
        the session has been forgotten (its tab closed)."""
        folder = self.folder(request)
        lock = self._lock(folder)
        if lock is None:
            yield None
            return
        with lock:
            yield None if folder.name in self._forgotten else folder

    def new_run(self, request: gr.Request | None) -> Path:
        """An empty folder for one analysis, inside the session's."""
        with self.in_use(request) as folder:
            if folder is None:
                raise AffectStreamError("this browser session has ended")
            folder.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix="run-", dir=folder))

    def keep_upload(self, request: gr.Request | None, path: str | Path) -> None:
        """Note an upload of this session, to delete with it (only Gradio's copies, never a user's
        own file)."""
        if not _inside(Path(path), gradio_folder()):
            return
        with self.in_use(request) as folder:
            if folder is None:  # the tab has closed: nothing will delete it later
                self.discard_upload(path)
                return
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / UPLOADS, "a", encoding="utf-8") as f:
                f.write(f"{Path(path).resolve()}\n")

    @staticmethod
    def discard_upload(path: str | Path) -> None:
        """Delete an upload now (and its folder, which Gradio names by the content's hash)."""
        path = Path(path)
        if not _inside(path, gradio_folder()):
            return
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # only if empty: identical uploads share it
        except OSError:
            pass

    def forget(self, request: gr.Request) -> None:
        """Delete the session's uploads and results (Gradio calls this when the tab closes), once
        the frame it may be writing is done; later work of the session is refused."""
        folder = self.folder(request)
        lock = self._lock(folder) or threading.Lock()
        with lock:
            with self._guard:
                self._forgotten.add(folder.name)
                self._locks.pop(folder.name, None)
            self._forget_folder(folder)

    def forget_all(self) -> None:
        """Delete every session's files (the demo is stopping)."""
        if self.root.is_dir():
            for folder in self.root.iterdir():
                self._forget_folder(folder)
        shutil.rmtree(self.root, ignore_errors=True)

    def _forget_folder(self, folder: Path) -> None:
        uploads = folder / UPLOADS
        if uploads.is_file():
            for line in uploads.read_text(encoding="utf-8").splitlines():
                self.discard_upload(line)
        shutil.rmtree(folder, ignore_errors=True)


def describe(sweep: tuple[int, int] = CACHE_SWEEP, keep: int = KEEP) -> str:
    """The page's sentence on what is kept where, and for how long (true for `sweep`, `keep`)."""
    every, age = (s // 60 for s in sweep)
    return (f"Webcam frames are analysed in memory; the annotated frame and plots sent back to "
            f"your browser are JPEG files on this server in `{gradio_folder()}`, of which only "
            f"the last {keep} frames' are kept. A video you upload and what the Video tab makes "
            "of it (annotated video, plots, CSV) are kept there while you use them. All of it is "
            f"deleted when you close this tab, and in any case {age}–{age + every} minutes after "
            "it was made (download what you want to keep before then).")
