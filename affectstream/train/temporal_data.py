"""Training sequences for the temporal models, built from labelled stills under realistic corruption.

There is no licensed affect video here, so a sequence is a face held for a while and then cut to
another expression (another FER+ image), seen through a smooth random trajectory of degradations
— motion blur, occlusion patches that drift, light changes, alignment (pose) jitter, sensor noise
and compression-like blockiness — with bursts of dropped detections. The per-frame model runs on
each degraded frame, exactly as in the pipeline; the targets are the clean image's labels, so a
temporal model learns to hold a stable estimate through bad frames and to follow a real change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..models.frame import FrameNet


@dataclass
class Sequences:
    """S sequences of T frames. embedding (S, T, E) and frame_prediction (S, T, 14: valence, arousal,
    AU/5) from the per-frame model and shape (S, T, 234) the normalised landmarks, all zero where
    `present` (S, T) is False (no detection); degraded (S, T) marks frames with a strong
    degradation or no face; targets (S, T, 2) and (S, T, 12)."""

    embedding: torch.Tensor
    shape: torch.Tensor
    frame_prediction: torch.Tensor
    present: torch.Tensor
    degraded: torch.Tensor
    target_va: torch.Tensor
    target_au: torch.Tensor


def smooth_walk(steps: int, rng: np.random.Generator, scale: float = 1.0, smoothness: int = 8) -> np.ndarray:
    """(steps,) a low-pass random walk in 0–1: degradations come and go over several frames."""
    noise = rng.normal(size=steps + smoothness)
    kernel = np.hanning(smoothness + 2)[1:-1]
    walk = np.convolve(noise, kernel / kernel.sum(), mode="valid")[:steps]
    return np.clip(0.5 + scale * walk, 0, 1)


def segments(steps: int, rng: np.random.Generator, mean_length: int = 40) -> np.ndarray:
    """(steps,) segment index per frame: cuts at random points, segments of at least 15 frames."""
    index, current, length = np.zeros(steps, int), 0, 0
    for t in range(steps):
        if length >= 15 and rng.random() < 1 / mean_length:
            current, length = current + 1, 0
        index[t], length = current, length + 1
    return index


def degrade(images: torch.Tensor, severity: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """(T, 1, 48, 48) crops 0–1 degraded frame by frame; severity (T, 5) 0–1 magnitudes of blur,
    occlusion, light change, alignment (pose) jitter and noise/blockiness. Up to ~0.5 is mild."""
    t = len(images)
    blur, occlusion, light, jitter, noise = (torch.tensor(severity[:, k], dtype=torch.float32) for k in range(5))
    signs = torch.tensor(rng.choice([-1.0, 1.0], size=4), dtype=torch.float32)  # which way light and pose go
    angle = jitter * signs[0] * math.radians(20)
    scale = 1 + jitter * signs[1] * 0.15
    shift = jitter[:, None] * signs[2:] * 0.15
    theta = torch.stack([torch.stack([torch.cos(angle) / scale, -torch.sin(angle) / scale, shift[:, 0]], 1),
                         torch.stack([torch.sin(angle) / scale, torch.cos(angle) / scale, shift[:, 1]], 1)], 1)
    out = F.grid_sample(images, F.affine_grid(theta, images.shape, align_corners=False),
                        padding_mode="border", align_corners=False)
    # Motion blur: a horizontal box filter, 5–7 px wide when severe.
    for i in range(t):
        width = 1 + 2 * int(3 * float(blur[i]) ** 2)
        if width > 1:
            kernel = torch.ones(1, 1, 1, width) / width
            out[i:i + 1] = F.conv2d(F.pad(out[i:i + 1], (width // 2, width // 2, 0, 0), mode="replicate"), kernel)
    out = out.clamp(1e-4, 1) ** torch.exp(light * signs[0] * 1.2)[:, None, None, None]
    blocks = F.interpolate(F.avg_pool2d(out, 4), scale_factor=4, mode="nearest")
    out = torch.where((noise > 0.75)[:, None, None, None], blocks, out)
    generator = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    out = out + torch.randn(out.shape, generator=generator) * (noise * 0.06)[:, None, None, None]
    # An occluder (a hand, a cup) that drifts across the face while the severity is high.
    y0, x0 = rng.integers(0, 30, size=2)
    for i in np.flatnonzero(occlusion.numpy() > 0.7):
        y, x = int(np.clip(y0 + (i % 9) - 4, 0, 30)), int(np.clip(x0 + (i % 7) - 3, 0, 30))
        out[i, :, y:y + 18, x:x + 18] = float(rng.random())
    return out.clamp(0, 1)


@torch.no_grad()
def build_sequences(net: FrameNet, image: torch.Tensor, blend: torch.Tensor, shape: torch.Tensor,
                    target_va: torch.Tensor, target_au: torch.Tensor, count: int, steps: int = 80,
                    degraded_share: float = 0.3, seed: int = 0) -> Sequences:
    """`count` sequences of `steps` frames from stills (image (N, 1, 48, 48), blend (N, 52), shape
    (N, 234) model inputs; targets (N, 2), (N, 12)). In bursts covering `degraded_share` of the
    frames, a third have no detection and the rest one strong degradation; the others are mild."""
    rng = np.random.default_rng(seed)
    net.eval()
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in Sequences.__dataclass_fields__}
    for _ in range(count):
        segment = segments(steps, rng)
        pick = rng.integers(0, len(image), size=segment.max() + 1)[segment]
        badness, drop_walk = smooth_walk(steps, rng, scale=1.6), smooth_walk(steps, rng, scale=1.6)
        bad = badness >= np.quantile(badness, 1 - degraded_share)
        dropped = bad & (drop_walk >= np.quantile(drop_walk, 2 / 3))
        walks = np.stack([smooth_walk(steps, rng, scale=1.6) for _ in range(5)], 1)
        severity = 0.5 * walks
        kind = walks.argmax(1)  # the degradation that dominates changes slowly, so bursts keep one kind
        severity[bad, kind[bad]] = 0.85 + 0.15 * rng.random(int(bad.sum()))
        present = torch.tensor(~dropped)
        frames = degrade(image[pick], severity, rng)
        # MediaPipe's readings get noisier as the picture does.
        noise = torch.tensor(severity.max(1, keepdims=True), dtype=torch.float32)
        b = (blend[pick] + torch.randn(steps, blend.shape[1]) * 0.05 * noise).clamp(0, 1)
        s = shape[pick] + torch.randn(steps, shape.shape[1]) * 0.01 * noise
        out = net(frames, b, s)
        prediction = torch.cat([out["valence_arousal"], out["au"] / 5], 1) * present[:, None]
        parts["embedding"].append(out["embedding"] * present[:, None])
        parts["shape"].append(s * present[:, None])
        parts["frame_prediction"].append(prediction)
        parts["present"].append(present)
        parts["degraded"].append(torch.tensor(bad))
        parts["target_va"].append(target_va[pick])
        parts["target_au"].append(target_au[pick])
    return Sequences(**{k: torch.stack(v) for k, v in parts.items()})
