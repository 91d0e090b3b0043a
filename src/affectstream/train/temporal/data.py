"""Training sequences for the temporal models, built from labelled stills under realistic
corruption.

There is no licensed affect video here, so a sequence is a face held for a while and then cut to
another expression (another FER+ image), seen through a smooth random trajectory of degradations
— motion blur, occlusion patches that drift, light changes, alignment (pose) jitter, sensor noise
and compression-like blockiness — with bursts of withheld detections. The pipeline's face tracker
(MediaPipe) and the per-frame model then run on every degraded frame, so the detections lost and
the landmarks and blendshapes misread under blur or occlusion are real ones. The targets are the
clean image's labels, so a temporal model learns to hold a stable estimate through bad frames and
to follow a real change. Real face video (see video_clips) adds real head motion and expression
dynamics, with the per-frame model's smoothed outputs on the clean video as pseudo-targets.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...models.frame import SHAPE_POINTS, FrameNet
from ...types import DISFA_AU_NAMES, EMOTION_NAMES, main_track

SEQUENCES_VERSION = 2  # bump when the corruption or featurisation changes (2: emotions)
# the split of tuning sequences: the faces of the train split the per-frame model held out for
# model selection (the evaluation uses the valid split, so tuning never sees it)
TUNE = "tune"
SEQUENCE_FPS = 30  # the frame rate the sequences stand for: context windows in frames ↔ seconds


@dataclass
class Sequences:
    """S sequences of T frames. embedding (S, T, E), frame_prediction (S, T, 14: valence,
    arousal, AU/5) and frame_emotion (S, T, 8 probabilities) from the per-frame model and shape
    (S, T, 234) the normalised landmarks, all zero where `present` (S, T) is False (no detection);
    degraded (S, T) marks frames with a strong degradation or no face; targets (S, T, 2),
    (S, T, 12) and (S, T, 8), NaN where not labelled."""

    embedding: torch.Tensor
    shape: torch.Tensor
    frame_prediction: torch.Tensor
    present: torch.Tensor
    degraded: torch.Tensor
    target_va: torch.Tensor
    target_au: torch.Tensor
    frame_emotion: torch.Tensor
    target_emotion: torch.Tensor

    def take(self, index) -> Sequences:
        """The sequences at `index` (an index array, a slice or a mask along S)."""
        return Sequences(**{k: v[index] for k, v in self.__dict__.items()})


def smooth_walk(steps: int, rng: np.random.Generator, scale: float = 1.0,
                smoothness: int = 8) -> np.ndarray:
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
    """(T, C, H, W) frames 0–1 degraded frame by frame; severity (T, 5) 0–1 magnitudes of blur,
    occlusion, light change, pose jitter and noise/blockiness. Up to ~0.5 is mild. Sizes scale with
    H (tuned on 48-pixel faces)."""
    t, _, h, _ = images.shape
    unit = h / 48
    blur, occlusion, light, jitter, noise = (torch.tensor(severity[:, k], dtype=torch.float32)
                                             for k in range(5))
    # which way light and pose go
    signs = torch.tensor(rng.choice([-1.0, 1.0], size=4), dtype=torch.float32)
    angle = jitter * signs[0] * math.radians(20)
    scale = 1 + jitter * signs[1] * 0.15
    shift = jitter[:, None] * signs[2:] * 0.15
    theta = torch.stack([torch.stack([torch.cos(angle) / scale, -torch.sin(angle) / scale,
                                      shift[:, 0]], 1),
                         torch.stack([torch.sin(angle) / scale, torch.cos(angle) / scale,
                                      shift[:, 1]], 1)], 1)
    out = F.grid_sample(images, F.affine_grid(theta, images.shape, align_corners=False),
                        padding_mode="border", align_corners=False)
    # Motion blur: a horizontal box filter, 5–7 px wide on a 48-pixel face when severe.
    for i in range(t):
        width = 1 + 2 * int(3 * unit * float(blur[i]) ** 2)
        if width > 1:
            kernel = torch.ones(out.shape[1], 1, 1, width) / width
            padded = F.pad(out[i:i + 1], (width // 2, width // 2, 0, 0), mode="replicate")
            out[i:i + 1] = F.conv2d(padded, kernel, groups=out.shape[1])
    out = out.clamp(1e-4, 1) ** torch.exp(light * signs[0] * 1.2)[:, None, None, None]
    block = max(2, round(4 * unit))
    blocks = F.interpolate(F.avg_pool2d(out, block, ceil_mode=True), scale_factor=block,
                           mode="nearest")
    out = torch.where((noise > 0.75)[:, None, None, None], blocks[..., :h, :out.shape[-1]], out)
    generator = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    out = out + torch.randn(out.shape, generator=generator) * (noise * 0.06)[:, None, None, None]
    # An occluder (a hand, a cup) that drifts across the face while the severity is high.
    size, room = round(18 * unit), h - round(18 * unit)
    y0, x0 = rng.integers(0, room, size=2)
    colour = torch.tensor(rng.random(out.shape[1]), dtype=torch.float32)[:, None, None]
    for i in np.flatnonzero(occlusion.numpy() > 0.7):
        dy, dx = round(((i % 9) - 4) * unit), round(((i % 7) - 3) * unit)
        y, x = int(np.clip(y0 + dy, 0, room)), int(np.clip(x0 + dx, 0, room))
        out[i, :, y:y + size, x:x + size] = colour
    return out.clamp(0, 1)


def corruption_plan(steps: int, rng: np.random.Generator, degraded_share: float = 0.3
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(severity (T, 5), bad (T,), dropped (T,)). In bursts covering `degraded_share` of the frames
    one degradation is strong and, in a third of them, the detection is dropped; the rest are
    mild."""
    badness, drop_walk = smooth_walk(steps, rng, scale=1.6), smooth_walk(steps, rng, scale=1.6)
    bad = badness >= np.quantile(badness, 1 - degraded_share)
    dropped = bad & (drop_walk >= np.quantile(drop_walk, 2 / 3))
    walks = np.stack([smooth_walk(steps, rng, scale=1.6) for _ in range(5)], 1)
    severity = 0.5 * walks
    kind = walks.argmax(1)  # the degradation that dominates changes slowly, so bursts keep one kind
    severity[bad, kind[bad]] = 0.85 + 0.15 * rng.random(int(bad.sum()))
    return severity, bad, dropped


@dataclass
class Clip:
    """One training sequence before the face tracker has seen it: frames (T, H, W[, 3]) uint8,
    dropped (T,) detections withheld, degraded (T,), targets (T, 2), (T, 12) and (T, 8)."""

    frames: np.ndarray
    dropped: np.ndarray
    degraded: np.ndarray
    target_va: np.ndarray
    target_au: np.ndarray
    target_emotion: np.ndarray


def corrupt(frames: np.ndarray, target_va: np.ndarray, target_au: np.ndarray,
            target_emotion: np.ndarray, rng: np.random.Generator,
            degraded_share: float = 0.3) -> Clip:
    """A Clip of `frames` (T, H, W[, 3]) uint8 seen through a random corruption plan."""
    severity, bad, dropped = corruption_plan(len(frames), rng, degraded_share)
    x = torch.from_numpy(frames.astype(np.float32) / 255)
    x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
    y = (degrade(x, severity, rng) * 255).round().to(torch.uint8)
    y = y[:, 0] if frames.ndim == 3 else y.permute(0, 2, 3, 1)
    return Clip(y.numpy(), dropped, bad, target_va.astype(np.float32), target_au.astype(np.float32),
                target_emotion.astype(np.float32))


def still_clips(images: np.ndarray, target_va: np.ndarray, target_au: np.ndarray,
                target_emotion: np.ndarray, count: int, steps: int = 80,
                degraded_share: float = 0.3, seed: int = 0) -> list[Clip]:
    """`count` corrupted sequences from stills (N, H, W) uint8: a face held, then cut to another."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(count):
        segment = segments(steps, rng)
        pick = rng.integers(0, len(images), size=segment.max() + 1)[segment]
        clips.append(corrupt(images[pick], target_va[pick], target_au[pick], target_emotion[pick],
                             rng, degraded_share))
    return clips


def featurize(clips: list[Clip], net: FrameNet, landmarker=None, workers: int = 2,
              progress: bool = True, batch_size: int = 512) -> Sequences:
    """Run the pipeline's face tracker and the per-frame model on every frame of every clip."""
    from ..frame.data import LabelledFaces, extract_features

    frames = [f for clip in clips for f in clip.frames]
    blank = np.full((len(frames), 2), np.nan)
    faces = LabelledFaces("corrupted-sequences", frames, blank, blank, blank)
    features = extract_features(faces, workers=workers, landmarker=landmarker, progress=progress)
    found = torch.from_numpy(features.found)
    image = torch.from_numpy(features.image.astype(np.float32) / 255)[:, None]
    blend = torch.from_numpy(features.blendshapes)
    shape = (torch.from_numpy(features.shape.astype(np.float32) - 0.5)[:, list(SHAPE_POINTS)]
             .flatten(1))
    net.eval()
    with torch.inference_mode():
        outs = [net(image[i:i + batch_size], blend[i:i + batch_size], shape[i:i + batch_size])
                for i in range(0, len(frames), batch_size)]
    embedding = torch.cat([o["embedding"] for o in outs])
    disfa = [net.aus.index(a) for a in DISFA_AU_NAMES]  # what the temporal models carry
    prediction = torch.cat([torch.cat([o["valence_arousal"], o["au"][:, disfa] / 5], 1)
                            for o in outs])
    emotion = torch.cat([o["emotion"].softmax(-1) for o in outs])
    steps = len(clips[0].frames)
    present = (found
               & ~torch.from_numpy(np.concatenate([c.dropped for c in clips]))).reshape(-1, steps)
    keep = present[..., None].float()

    def stack(name):
        return torch.from_numpy(np.stack([getattr(c, name) for c in clips]))

    return Sequences(embedding=embedding.reshape(len(clips), steps, -1) * keep,
                     shape=shape.reshape(len(clips), steps, -1) * keep,
                     frame_prediction=prediction.reshape(len(clips), steps, -1) * keep,
                     present=present, degraded=stack("degraded") | ~present,
                     target_va=stack("target_va"), target_au=stack("target_au"),
                     frame_emotion=emotion.reshape(len(clips), steps, -1) * keep,
                     target_emotion=stack("target_emotion"))


def _gaussian_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """(T, D) smoothed along T with a centred Gaussian, edges renormalised."""
    radius = int(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    weight = np.convolve(np.ones(len(values)), kernel, mode="same")
    return np.stack([np.convolve(v, kernel, mode="same") / weight for v in values.T], 1)


def face_stretches(rows: list, min_length: int = 16) -> list[list]:
    """Runs of consecutive frames in which track 0 (the first face seen) was detected."""
    first = main_track(rows)
    by_frame = {r.frame: r for r in rows if r.success and r.track_id == first}
    stretches, current = [], []
    for index in sorted(by_frame):
        if current and index != current[-1].frame + 1:
            stretches.append(current)
            current = []
        current.append(by_frame[index])
    stretches.append(current)
    return [s for s in stretches if len(s) >= min_length]


def video_clips(paths: list, count: int, steps: int = 80, degraded_share: float = 0.3,
                seed: int = 0, size: int = 96, sigma: float = 5.0, landmarker=None) -> list[Clip]:
    """`count` corrupted sequences cut from real face video. Pseudo-targets: the per-frame model's
    outputs on the clean video, smoothed with a Gaussian of `sigma` frames (affect changes over
    several frames; the smoothing removes the per-frame model's flicker). Frames are face crops (the
    smoothed box enlarged 1.8×, `size` pixels) so the corruptions land on the face; clips shorter
    than `steps` play back and forth."""
    from ...pipeline import AffectStream
    from ...types import DISFA_AU_NAMES as AU_NAMES  # the AUs the temporal models carry

    rng = np.random.default_rng(seed)
    pieces = []
    with AffectStream(mode="offline", landmarker=landmarker, temporal="none") as pipeline:
        for path in paths:
            rows, images = tracked_video(path, pipeline)
            for stretch in face_stretches(rows):
                va = _gaussian_smooth(np.array([(r.valence, r.arousal) for r in stretch]), sigma)
                au = _gaussian_smooth(np.array([[r.au[a] for a in AU_NAMES] for r in stretch]),
                                      sigma)
                emotion = _gaussian_smooth(np.array([[r.emotion[e] for e in EMOTION_NAMES]
                                                     for r in stretch]), sigma)
                pieces.append((stretch_crops(stretch, images, size), va, au, emotion))
    clips = []
    for i in range(count):
        crops, va, au, emotion = pieces[i % len(pieces)]
        # back and forth
        order = np.concatenate([np.arange(len(crops)), np.arange(len(crops) - 2, 0, -1)])
        index = order[(rng.integers(len(order)) + np.arange(steps)) % len(order)]
        clips.append(corrupt(crops[index], va[index], au[index], emotion[index], rng,
                             degraded_share))
    return clips


def tracked_video(path, pipeline) -> tuple[list, list[np.ndarray]]:
    """(the pipeline's rows for `path`, its decoded RGB frames) — a video file or a frame folder."""
    from ...sources import open_source

    rows = list(pipeline.stream(path))
    return rows, [frame.image for frame in open_source(path)]


def stretch_crops(stretch: list, images: list[np.ndarray], size: int = 96) -> np.ndarray:
    """(len(stretch), size, size, 3) face crops along a stretch of rows, the box smoothed over
    ±2 frames."""
    boxes = _gaussian_smooth(np.array([r.box for r in stretch], np.float64), 2.0)
    return np.stack([_square_crop(images[r.frame], box, size) for r, box in zip(stretch, boxes)])


def _square_crop(image: np.ndarray, box, size: int) -> np.ndarray:
    """A `size`² crop of the square 1.8× around box (x, y, w, h), edge pixels repeated outside
    the image."""
    import cv2

    x, y, w, h = box
    side = 1.8 * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    scale = size / side
    matrix = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]])
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


def concat(parts: list[Sequences]) -> Sequences:
    return Sequences(**{k: torch.cat([getattr(p, k) for p in parts])
                        for k in Sequences.__dataclass_fields__})


def build_sequences(data, split: str, count: int, *, videos: tuple = (), video_count: int = 0,
                    steps: int = 80, degraded_share: float = 0.3, seed: int = 0,
                    video_sigma: float = 5.0, weights=None, landmarker=None, workers: int = 2,
                    log=print) -> Sequences:
    """`count` corrupted sequences from the stills of `data` (read_faces formats) and `video_count`
    from `videos`, featurised by the pipeline's tracker and per-frame model. Each part is cached, as
    the tracker is the slow part (about 11 ms a frame on 2 workers)."""
    from ...models.frame import WEIGHTS, load_frame_net
    from ..frame.training import selection_split, stills_with_face

    weights_path = Path(weights) if weights else WEIGHTS.path
    net = load_frame_net(weights_path)
    common = [steps, degraded_share, seed, _digest(weights_path.read_bytes()), SEQUENCES_VERSION]

    def from_stills() -> Sequences:
        images, va, au, emotion = stills_with_face(data, "train" if split == TUNE else split,
                                                   landmarker=landmarker, workers=workers)
        if split == TUNE:  # the per-frame model's model-selection faces, unseen in its training
            held = selection_split(len(images))[0].numpy()
            images, va, au, emotion = images[held], va[held], au[held], emotion[held]
        log(f"{count} sequences of {steps} frames from {len(images)} images of {data} ({split}); "
            f"running the tracker and the per-frame model on {count * steps} corrupted frames")
        return featurize(still_clips(images, va, au, emotion, count, steps, degraded_share, seed),
                         net, landmarker, workers)

    def from_videos() -> Sequences:
        log(f"{video_count} sequences of {steps} frames from {len(videos)} videos")
        clips = video_clips(list(videos), video_count, steps, degraded_share, seed + 1,
                            sigma=video_sigma, landmarker=landmarker)
        return featurize(clips, net, landmarker, workers)

    parts = [_cached(["stills", str(Path(data).resolve()), split, count, *common], from_stills,
                     log)] if count else []
    if video_count:
        key = ["videos", sorted(Path(v).name for v in videos), video_count, video_sigma, *common]
        parts.append(_cached(key, from_videos, log))
    return concat(parts)


def _digest(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()[:16]


def _cached(key: list, make, log) -> Sequences:
    from ... import assets

    cache = assets.cache_dir() / "sequences" / f"sequences-{_digest(json.dumps(key).encode())}.pt"
    if cache.exists():
        log(f"{key[0]} sequences from the cache {cache}")
        return Sequences(**torch.load(cache))
    sequences = make()
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sequences.__dict__, str(cache) + ".tmp")
    os.replace(str(cache) + ".tmp", cache)
    return sequences
