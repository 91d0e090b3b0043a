"""One registry for per-frame models, temporal models and writers.

`@register("temporal", "ap", weights=Weights(...))` on a class makes it a choice of the CLI
(`--temporal`, `--format`), the demo, `affectstream models`, `train` and `evaluate`; adding a
model or a writer is one new file. As torchvision's model registry, an entry carries its weight
file and model card together.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from .errors import AffectStreamError

KINDS = ("frame", "temporal", "writer")
# In a checkout, a link to weights/ at the repository root; installed, a folder of the package.
_SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights"
CHECKSUMS = "SHA256SUMS"  # beside the shipped weights, in the format `sha256sum -c` reads
_SUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
# (path, mtime, size) -> SHA-256: building a pipeline again must not hash megabytes again
_digests: dict[tuple[str, int, int], str] = {}


def weights_dir() -> Path:
    """Where shipped weights are: `AFFECTSTREAM_WEIGHTS`, else the package's own folder."""
    if os.environ.get("AFFECTSTREAM_WEIGHTS"):
        return Path(os.environ["AFFECTSTREAM_WEIGHTS"])
    return _SHIPPED_WEIGHTS


@dataclass(frozen=True)
class Weights:
    """A shipped weight file and its model card, both in `weights_dir()`."""

    file: str
    card: str

    @property
    def path(self) -> Path:
        return weights_dir() / self.file

    @property
    def card_path(self) -> Path:
        return weights_dir() / self.card

    def sha256(self) -> str:
        return file_sha256(self.path)

    def recorded_sha256(self) -> str | None:
        """The SHA-256 that SHA256SUMS records for the file, None where it records none."""
        return recorded_sha256(weights_dir()).get(self.file)


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of the file at `path`, hashed once per (path, mtime, size)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _digests:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def recorded_sha256(folder: str | os.PathLike) -> dict[str, str]:
    """{file name: SHA-256} from `folder`/SHA256SUMS; {} where there is none."""
    sums = Path(folder) / CHECKSUMS
    if not sums.is_file():
        return {}
    lines = (_SUM_LINE.fullmatch(line.strip()) for line in sums.read_text().splitlines())
    return {m[2]: m[1].lower() for m in lines if m}


def is_shipped(path: str | os.PathLike) -> bool:
    """Whether `path` is a file of the shipped weights' folder, `weights_dir()`."""
    return Path(path).resolve().parent == weights_dir().resolve()


def verify_shipped(path: str | os.PathLike) -> None:
    """AffectStreamError unless the file `path` of `weights_dir()` has the SHA-256 that
    SHA256SUMS there records for it."""
    path, folder = Path(path), weights_dir()
    expected = recorded_sha256(folder).get(path.name)
    record = f"cd {folder} && sha256sum *.safetensors > {CHECKSUMS}"
    if expected is None:
        raise AffectStreamError(f"{path}: no checksum for it in {folder / CHECKSUMS}; to trust the "
                                f"weights there, record them: {record}")
    actual = file_sha256(path)
    if actual != expected:
        raise AffectStreamError(
            f"{path}: damaged or modified (SHA-256 {actual[:12]}…, {CHECKSUMS} records "
            f"{expected[:12]}…); restore it ({_restore(path.name)}) or retrain it with "
            f"`affectstream train`; if you changed it on purpose, record it: {record}")


def _restore(name: str) -> str:
    """How to get the shipped file `name` back."""
    if os.environ.get("AFFECTSTREAM_WEIGHTS"):
        return f"copy {_SHIPPED_WEIGHTS / name} there again"
    return (f"`git checkout -- weights/{name}` in a clone, "
            "else `pip install --force-reinstall affectstream`")


def record_sha256(path: str | os.PathLike) -> None:
    """Write `path`'s SHA-256 into the SHA256SUMS beside it (one line per file, sorted)."""
    path = Path(path)
    recorded = recorded_sha256(path.parent)
    recorded[path.name] = file_sha256(path)
    partial = path.parent / f".{CHECKSUMS}.partial"
    partial.write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(recorded.items())))
    os.replace(partial, path.parent / CHECKSUMS)  # never a half-written list


@dataclass(frozen=True)
class Entry:
    """A registered component. trainer: "module:function" that trains its network, if any."""

    kind: str
    name: str
    cls: type
    weights: Weights | None = None
    trainer: str | None = None

    def load_trainer(self):
        module, _, function = self.trainer.partition(":")
        return getattr(importlib.import_module(module), function)


_entries: dict[tuple[str, str], Entry] = {}
_BUILTIN_PACKAGES = ("affectstream.models", "affectstream.writers")
PLUGIN_GROUP = "affectstream.plugins"  # entry points of installed packages that register more
_plugins_loaded = False
_builtins_loaded = False


def register(kind: str, name: str, *, weights: Weights | None = None, trainer: str | None = None):
    """Class decorator: make `cls` the `kind` component called `name`."""
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; one of {', '.join(KINDS)}")

    def decorate(cls: type) -> type:
        _entries[(kind, name)] = Entry(kind, name, cls, weights, trainer)
        return cls

    return decorate


def _load_builtins() -> None:
    """Import every module of the built-in packages, once: their @register lines run on import,
    so a new model or writer is one new file."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for name in _BUILTIN_PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{name}.{module.name}")
    _load_plugins()


def _load_plugins() -> None:
    """Import the modules that register more components, once: the `affectstream.plugins` entry
    points of installed packages and the modules named in AFFECTSTREAM_PLUGINS (comma-separated)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    named = [n.strip() for n in os.environ.get("AFFECTSTREAM_PLUGINS", "").split(",") if n.strip()]
    loaders = [(ep.value, ep.load) for ep in entry_points(group=PLUGIN_GROUP)]
    loaders += [(name, lambda name=name: importlib.import_module(name)) for name in named]
    for name, load in loaders:
        try:
            load()
        except Exception as e:  # a broken plugin is the user's to fix, said in one line
            raise AffectStreamError(f"cannot load the affectstream plugin {name!r} ({e})") from None


def entries(kind: str) -> list[Entry]:
    """The `kind` components in registration order (the built-in ones first)."""
    _load_builtins()
    found = [e for (k, _), e in _entries.items() if k == kind]
    return sorted(found, key=lambda e: not e.cls.__module__.startswith("affectstream."))


def names(kind: str) -> tuple[str, ...]:
    return tuple(e.name for e in entries(kind))


def get(kind: str, name: str) -> Entry:
    """The `kind` component `name`, or AffectStreamError naming the choices."""
    _load_builtins()
    if (kind, name) not in _entries:
        raise AffectStreamError(f"no {kind} component called {name!r}; choose from "
                                f"{', '.join(names(kind))}")
    return _entries[(kind, name)]
