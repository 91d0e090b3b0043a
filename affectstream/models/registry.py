"""Loading and saving model weights (safetensors, with the architecture in the file's metadata)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import AffectStreamError
from .affective_process import AffectiveProcess
from .affwildnet import AffWildNet
from .frame import FrameModel, FrameNet
from .temporal import AffectiveProcessStage, AffWildNetStage

# weights/ at the repository root is installed as the package `affectstream.weights`.
_SOURCE_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_FRAME_WEIGHTS = "frame.safetensors"
TEMPORAL_WEIGHTS = {"ap": "affective_process.safetensors", "affwildnet": "affwildnet.safetensors"}


_INSTALLED_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def weights_dir() -> Path:
    """Where shipped weights live: `AFFECTSTREAM_WEIGHTS`, the source checkout, or the installed package."""
    if os.environ.get("AFFECTSTREAM_WEIGHTS"):
        return Path(os.environ["AFFECTSTREAM_WEIGHTS"])
    return _SOURCE_WEIGHTS if _SOURCE_WEIGHTS.is_dir() else _INSTALLED_WEIGHTS


def save_net(net: torch.nn.Module, path: str | os.PathLike, **metadata) -> Path:
    """Write `net` to a .safetensors file with its class, config and `metadata` (strings) in the header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    header = {"model": f"affectstream.{type(net).__name__}", "config": json.dumps(net.config)}
    header.update({k: str(v) for k, v in metadata.items()})
    save_file(tensors, str(path), metadata=header)
    return path


def load_net(cls: type[torch.nn.Module], path: str | os.PathLike, what: str, how: str) -> tuple:
    """(the `cls` stored at `path`, the file's metadata); `what` and `how` word the errors."""
    path = Path(path)
    if not path.is_file():
        raise AffectStreamError(f"{path}: no such weights file; {how}")
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        if header.get("model") != f"affectstream.{cls.__name__}":
            raise AffectStreamError(f"{path}: not affectstream {what} weights")
        net = cls(**json.loads(header["config"]))
        net.load_state_dict(load_file(str(path)))
    except (SafetensorError, OSError, KeyError, RuntimeError, ValueError) as e:
        raise AffectStreamError(f"{path}: unreadable weights ({e}); re-download or retrain them") from None
    return net.eval(), header


def load_frame_net(path: str | os.PathLike | None = None) -> FrameNet:
    """The FrameNet stored at `path` (default: the shipped weights)."""
    path = path if path is not None else weights_dir() / DEFAULT_FRAME_WEIGHTS
    return load_net(FrameNet, path, "per-frame",
                    "train one with `affectstream train frame` or pass --weights PATH")[0]


def load_frame_model(path: str | os.PathLike | None = None) -> FrameModel:
    torch.set_flush_denormal(True)  # denormals in tiny activations would slow CPU inference manyfold
    return FrameModel(load_frame_net(path))


def load_temporal_net(kind: str, path: str | os.PathLike | None = None) -> tuple[torch.nn.Module, dict]:
    """(the temporal network `kind` ("ap" or "affwildnet") at `path` (default: the shipped weights),
    the file's metadata)."""
    how = f"train one with `affectstream train temporal --model {kind}` or pass --temporal-weights PATH"
    path = path if path is not None else weights_dir() / TEMPORAL_WEIGHTS[kind]
    if kind == "affwildnet":
        return load_net(AffWildNet, path, "AffWildNet", how)
    return load_net(AffectiveProcess, path, "Affective Process", how)


def load_temporal(kind: str, path: str | os.PathLike | None = None, seconds: float | None = None):
    """The temporal stage `kind` ("ap" or "affwildnet") from `path` (default: the shipped weights);
    seconds: the Affective Process's context window (default: the one it was trained for)."""
    net, header = load_temporal_net(kind, path)
    if kind == "affwildnet":
        return AffWildNetStage(net)
    return AffectiveProcessStage(net, seconds if seconds is not None else float(header.get("seconds", 2.0)))
