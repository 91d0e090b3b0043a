"""Saving and loading networks as safetensors, with the class and config in the file's header."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import AffectStreamError


def save_net(net: torch.nn.Module, path: str | os.PathLike, **metadata) -> Path:
    """Write `net` to a .safetensors file with its class, config and `metadata` (strings)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    header = {"model": f"affectstream.{type(net).__name__}", "config": json.dumps(net.config)}
    header.update({k: str(v) for k, v in metadata.items()})
    save_file(tensors, str(path), metadata=header)
    return path


def load_net(cls: type[torch.nn.Module], path: str | os.PathLike, what: str, how: str) -> tuple:
    """(the `cls` stored at `path`, the file's metadata); `what` and `how` word the errors.

    `cls.from_config(config)` builds the network where the class has it (older configs), else
    `cls(**config)`.
    """
    path = Path(path)
    if not path.is_file():
        raise AffectStreamError(f"{path}: no such weights file; {how}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        if header.get("model") != f"affectstream.{cls.__name__}":
            raise AffectStreamError(f"{path}: not affectstream {what} weights")
        config = json.loads(header["config"])
        net = cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
        net.load_state_dict(load_file(str(path)))
    except (SafetensorError, OSError, KeyError, RuntimeError, ValueError) as e:
        raise AffectStreamError(f"{path}: unreadable weights ({e}); re-download or retrain them") \
            from None
    return net.eval(), header
