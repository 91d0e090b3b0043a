"""Loading and saving model weights (safetensors, with the architecture in the file's metadata)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import AffectStreamError
from .frame import FrameModel, FrameNet

# weights/ at the repository root is installed as the package `affectstream.weights`.
_SOURCE_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_FRAME_WEIGHTS = "frame.safetensors"


_INSTALLED_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def weights_dir() -> Path:
    """Where shipped weights live: `AFFECTSTREAM_WEIGHTS`, the source checkout, or the installed package."""
    if os.environ.get("AFFECTSTREAM_WEIGHTS"):
        return Path(os.environ["AFFECTSTREAM_WEIGHTS"])
    return _SOURCE_WEIGHTS if _SOURCE_WEIGHTS.is_dir() else _INSTALLED_WEIGHTS


def save_frame_net(net: FrameNet, path: str | os.PathLike, **metadata) -> Path:
    """Write `net` to a .safetensors file with its config and `metadata` (strings) in the header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    header = {"model": "affectstream.FrameNet", "config": json.dumps(net.config)}
    header.update({k: str(v) for k, v in metadata.items()})
    save_file(tensors, str(path), metadata=header)
    return path


def load_frame_net(path: str | os.PathLike | None = None) -> FrameNet:
    """The FrameNet stored at `path` (default: the shipped weights)."""
    path = Path(path) if path is not None else weights_dir() / DEFAULT_FRAME_WEIGHTS
    if not path.is_file():
        raise AffectStreamError(f"{path}: no such weights file; train one with `affectstream train frame` "
                                "or pass --weights PATH")
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        if header.get("model") != "affectstream.FrameNet":
            raise AffectStreamError(f"{path}: not affectstream per-frame weights")
        net = FrameNet(**json.loads(header["config"]))
        net.load_state_dict(load_file(str(path)))
    except (SafetensorError, OSError, KeyError, RuntimeError, ValueError) as e:
        raise AffectStreamError(f"{path}: unreadable weights ({e}); re-download or retrain them") from None
    return net.eval()


def load_frame_model(path: str | os.PathLike | None = None) -> FrameModel:
    torch.set_flush_denormal(True)  # denormals in tiny activations would slow CPU inference manyfold
    return FrameModel(load_frame_net(path))
