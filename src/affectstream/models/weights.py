"""Saving and loading networks as safetensors, with the class and config in the file's header.

Loading refuses, in one line each, what would otherwise run and give NaN or a traceback: a
shipped file whose SHA-256 differs from SHA256SUMS, a file that is not safetensors, tensors that do
not fit the network, and tensors holding NaN or Inf.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .. import registry
from ..errors import AffectStreamError


def save_net(net: torch.nn.Module, path: str | os.PathLike, **metadata) -> Path:
    """Write `net` to a .safetensors file with its class, config and `metadata` (strings).

    Saved into the shipped weights' folder (or any folder with a SHA256SUMS), its checksum is
    recorded there too, so the new weights load as shipped ones.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    header = {"model": f"affectstream.{type(net).__name__}", "config": json.dumps(net.config)}
    header.update({k: str(v) for k, v in metadata.items()})
    path.write_bytes(_canonical(save(tensors, metadata=header)))
    if registry.is_shipped(path) or (path.parent / registry.CHECKSUMS).is_file():
        registry.record_sha256(path)
    return path


def _canonical(data: bytes) -> bytes:
    """A safetensors file's bytes with its metadata in sorted order: the library writes it in hash
    order, which changes from run to run, so the same weights would not give the same bytes (nor
    the SHA-256 the registry checks)."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > size:  # escaped differently from the library's: keep its bytes
        return data
    return data[:8] + text.ljust(size) + data[8 + size:]  # the format pads its header with spaces


def load_net(cls: type[torch.nn.Module], path: str | os.PathLike, what: str, how: str) -> tuple:
    """(the `cls` stored at `path`, the file's metadata); `what` and `how` word the errors.

    `cls.from_config(config)` builds the network where the class has it (older configs), else
    `cls(**config)`; `cls.upgrade_tensors` renames older files' tensors where it has it. A file
    of the shipped weights' folder must match its SHA-256 in SHA256SUMS.
    """
    path = Path(path)
    if not path.is_file():
        raise AffectStreamError(f"{path}: no such weights file; {how}")
    if registry.is_shipped(path):
        registry.verify_shipped(path)
    header, tensors = _read(path)
    if hasattr(cls, "upgrade_tensors"):  # a class's older tensor names
        tensors = cls.upgrade_tensors(tensors)
    if header.get("model") != f"affectstream.{cls.__name__}":
        raise AffectStreamError(f"{path}: not affectstream {what} weights; {how}")
    try:
        config = json.loads(header["config"])
        net = cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise AffectStreamError(f"{path}: {what} weights with an unusable config "
                                f"({_one_line(e)}); {how}") from None
    expected = net.state_dict()
    problem = _mismatch(expected, tensors) or _non_finite(expected, tensors)
    if problem:
        raise AffectStreamError(f"{path}: {what} weights with {problem}; {how}")
    net.load_state_dict(tensors)
    return net.eval(), header


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """(header, tensors) of the safetensors file at `path`."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise AffectStreamError(f"{path}: unreadable weights, not a whole safetensors file "
                                f"({_one_line(e)}); re-download or retrain them") from None


def _mismatch(expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor]) -> str | None:
    """Why `tensors` do not fit a network whose state dict is `expected`, None where they do."""
    missing = [k for k in expected if k not in tensors]
    if missing:
        return f"{len(missing)} tensor(s) missing, the first {missing[0]!r}"
    extra = [k for k in tensors if k not in expected]
    if extra:
        return f"{len(extra)} tensor(s) the network does not have, the first {extra[0]!r}"
    for k, want in expected.items():
        if tensors[k].shape != want.shape:
            return (f"tensor {k!r} of shape {tuple(tensors[k].shape)} where the network has "
                    f"{tuple(want.shape)}")
    return None


def _non_finite(expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor]) -> str | None:
    """The first tensor (in the network's order) holding NaN or Inf, worded; None if none does."""
    for k in expected:
        t = tensors[k]
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return f"NaN or Inf in tensor {k!r} (damaged, or from a training run that diverged)"
    return None


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())
