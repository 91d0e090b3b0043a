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
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from .errors import AffectStreamError

KINDS = ("frame", "temporal", "writer")
# In a checkout, a link to weights/ at the repository root; installed, a folder of the package.
_SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights"


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
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


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
