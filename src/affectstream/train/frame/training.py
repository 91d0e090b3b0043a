"""Training and evaluating the per-frame model.

Training runs on features the pipeline's own face tracker extracted (see datasets.extract_features),
with batch-level augmentation on the 48×48 crops, modality dropout, and model selection on a
seeded held-out part of the training split. Evaluation goes through `analyze_image`, exactly as
users' stills do, and counts images where no face is found as failures.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ... import assets
from ...errors import AffectStreamError
from ...face import BLENDSHAPE_NAMES
from ...models.blendshape_au import au_from_blendshapes
from ...models.frame import INPUT_SIZE, SHAPE_POINTS, FrameNet
from ...models.weights import save_net
from ...pipeline import AffectStream
from ...sources import load_image
from ...types import AU_NAMES, DISFA_AU_NAMES, EMOTION_NAMES, Frame
from .. import metrics
from ..losses import ccc_loss, soft_cross_entropy
from .data import FaceFeatures, LabelledFaces, extract_features, features_cache_name, read_faces

# Blendshape index of each one's mirror image (…Left ↔ …Right), for horizontal flips.
BLEND_MIRROR = [BLENDSHAPE_NAMES.index(n.replace("Left", "#").replace("Right", "Left")
                                       .replace("#", "Right"))
                for n in BLENDSHAPE_NAMES]


@dataclass
class Tensors:
    """A training set in memory: image (N, 1, 48, 48) 0–1, blend (N, 52), shape (N, 478, 2) centred,
    targets va (N, 2), au (N, 12), emotion (N, 8), each with NaN rows where unlabelled."""

    image: torch.Tensor
    blend: torch.Tensor
    shape: torch.Tensor
    va: torch.Tensor
    au: torch.Tensor
    emotion: torch.Tensor

    def __len__(self) -> int:
        return len(self.image)

    def take(self, index) -> Tensors:
        return Tensors(*(t[index] for t in self.__dict__.values()))


def labelled_features(faces: LabelledFaces, landmarker=None,
                      workers: int = 2) -> tuple[FaceFeatures, np.ndarray]:
    """The tracker's reading of every image (cached) and the AU targets: labelled AUs win over the
    blendshape teacher, computed on the same reading the pipeline makes."""
    cache = (assets.cache_dir() / "features"
             / features_cache_name(faces, assets.MODELS["face_landmarker"].sha256))
    features = extract_features(faces, cache, workers=workers, landmarker=landmarker)
    teacher = au_from_blendshapes(features.blendshapes, features.shape.astype(np.float32))
    return features, np.where(np.isnan(faces.au), teacher, faces.au)


def build_tensors(faces: LabelledFaces, landmarker=None, workers: int = 2,
                  aus: tuple[str, ...] = DISFA_AU_NAMES) -> tuple[Tensors, float]:
    """(training tensors of the images where a face was found, with the AU targets `aus`,
    detection rate)."""
    features, au = labelled_features(faces, landmarker, workers)
    au = au[:, [AU_NAMES.index(a) for a in aus]]
    found = features.found
    return Tensors(
        image=torch.from_numpy(features.image[found].astype(np.float32) / 255.0)[:, None],
        blend=torch.from_numpy(features.blendshapes[found]),
        shape=torch.from_numpy(features.shape[found].astype(np.float32) - 0.5),
        va=torch.from_numpy(faces.valence_arousal[found]),
        au=torch.from_numpy(au[found].astype(np.float32)),
        emotion=torch.from_numpy(faces.emotion[found]),
    ), float(found.mean())


def stills_with_face(data, split: str, landmarker=None, workers: int = 2, size: int = 112
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(images (N, H, W[, 3]) uint8, valence/arousal (N, 2), the 12 DISFA AUs (N, 12), emotion
    distributions (N, 8)) of the images of `data` in which the tracker finds a face; images of
    mixed sizes are resized to `size`²."""
    faces = read_faces(data, split)
    features, au = labelled_features(faces, landmarker, workers)
    au = au[:, [AU_NAMES.index(a) for a in DISFA_AU_NAMES]]
    found = np.flatnonzero(features.found)
    images = [np.asarray(faces.images[i]) if not isinstance(faces.images[i], (str, Path))
              else load_image(faces.images[i]) for i in found]
    if len({im.shape for im in images}) > 1:
        images = [cv2.resize(load_image(im), (size, size), interpolation=cv2.INTER_AREA)
                  for im in images]
    return np.stack(images), faces.valence_arousal[found], au[found], faces.emotion[found]


def shape_mirror(shape: torch.Tensor) -> torch.Tensor:
    """(478,) index of each landmark's mirror partner, from the mean aligned shape (the mesh is
    symmetric)."""
    mean = shape.mean(0)
    mirrored = mean * torch.tensor([-1.0, 1.0])
    return torch.cdist(mirrored, mean).argmin(1)


def augment(batch: Tensors, mirror: torch.Tensor, generator: torch.Generator,
            crop: int = INPUT_SIZE) -> Tensors:
    """Flips (with left/right swapped in blendshapes and shape), small affine jitter, blur, noise,
    light changes and occlusion patches on the crops; small noise on the geometric inputs; with
    `crop` < 48, a random crop×crop window of each face (the network sees the centre one at run
    time)."""
    n = len(batch)
    image, blend, shape = batch.image.clone(), batch.blend.clone(), batch.shape.clone()

    def rand(*size):
        return torch.rand(*size, generator=generator)

    flip = rand(n) < 0.5
    image[flip] = image[flip].flip(-1)
    blend[flip] = blend[flip][:, BLEND_MIRROR]
    shape[flip] = (shape[flip] * torch.tensor([-1.0, 1.0]))[:, mirror]
    # Alignment jitter: ±10°, ±10 % scale, ±3 px.
    angle = (rand(n) - 0.5) * math.radians(20)
    scale = 1 + (rand(n) - 0.5) * 0.2
    shift = (rand(n, 2) - 0.5) * (6 / 24)
    theta = torch.stack([
        torch.stack([torch.cos(angle) / scale, -torch.sin(angle) / scale, shift[:, 0]], 1),
        torch.stack([torch.sin(angle) / scale, torch.cos(angle) / scale, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, image.shape, align_corners=False)
    image = F.grid_sample(image, grid, padding_mode="border", align_corners=False)
    # Blur (as from motion or a webcam's optics) on a quarter of the batch.
    blurred = F.avg_pool2d(F.pad(image, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    image = torch.where((rand(n) < 0.25)[:, None, None, None], blurred, image)
    # Light: gamma and contrast; sensor noise.
    image = image.clamp(1e-4, 1) ** torch.exp((rand(n, 1, 1, 1) - 0.5) * 0.8)
    image = image + torch.randn(image.shape, generator=generator) * rand(n, 1, 1, 1) * 0.04
    # Occlusion patches (hands, hair, microphones) on 30 % of the crops.
    for i in torch.nonzero(rand(n) < 0.3).ravel().tolist():
        h, w = (8 + rand(2) * 14).long().tolist()
        y, x = (rand(2) * torch.tensor([48 - h, 48 - w])).long().tolist()
        image[i, :, y:y + h, x:x + w] = rand(1).item()
    blend = (blend + torch.randn(blend.shape, generator=generator) * 0.02).clamp(0, 1)
    shape = shape + torch.randn(shape.shape, generator=generator) * 0.003
    if crop < image.shape[-1]:  # drawn last, so crop 48 keeps the random stream it always had
        image = random_crops(image, crop, generator)
    return Tensors(image.clamp(0, 1), blend, shape, batch.va, batch.au, batch.emotion)


def random_crops(image: torch.Tensor, crop: int, generator: torch.Generator) -> torch.Tensor:
    """(N, 1, crop, crop): a window of each (N, 1, S, S) image at a uniform random offset."""
    n, size = len(image), image.shape[-1]
    top, left = torch.randint(0, size - crop + 1, (2, n, 1), generator=generator)
    rows, cols = top + torch.arange(crop), left + torch.arange(crop)
    return image[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]


def mixup(batch: Tensors, alpha: float, rng: np.random.Generator,
          generator: torch.Generator) -> Tensors:
    """Mixup (Zhang et al., ICLR 2018): each sample blended with another of the batch, inputs and
    targets alike (FER+'s vote distributions mix into vote distributions), by λ ~ Beta(α, α), the
    larger share kept by the sample itself; a target either one lacks stays missing (NaN)."""
    n = len(batch)
    share = torch.from_numpy(rng.beta(alpha, alpha, n).astype(np.float32))
    share = torch.maximum(share, 1 - share)
    other = torch.randperm(n, generator=generator)

    def mix(values: torch.Tensor) -> torch.Tensor:
        w = share.view(-1, *([1] * (values.dim() - 1)))
        return w * values + (1 - w) * values[other]

    return Tensors(*(mix(t) for t in (batch.image, batch.blend, batch.shape, batch.va, batch.au,
                                      batch.emotion)))


def shape_features(shape: torch.Tensor) -> torch.Tensor:
    """(N, 478, 2) centred aligned shape → the model's (N, 234) input."""
    return shape[:, list(SHAPE_POINTS)].reshape(len(shape), -1)


def losses(out: dict, batch: Tensors) -> dict[str, torch.Tensor]:
    """Masked losses: soft cross-entropy (emotion), MSE + 1−CCC (valence/arousal), MSE on AU/5."""
    result = {}
    has_emotion = ~torch.isnan(batch.emotion[:, 0])
    if has_emotion.any():
        result["emotion"] = soft_cross_entropy(out["emotion"][has_emotion].float(),
                                               batch.emotion[has_emotion])
    has_va = ~torch.isnan(batch.va).any(1)
    if has_va.sum() > 2:
        va, target = out["valence_arousal"][has_va].float(), batch.va[has_va]
        result["va"] = F.mse_loss(va, target) + 0.5 * ccc_loss(va, target)
    has_au = ~torch.isnan(batch.au)
    if has_au.any():
        result["au"] = F.mse_loss(out["au"].float()[has_au] / 5, batch.au[has_au] / 5) * 4
    return result


def bf16_supported() -> bool:
    """bf16 autocast is only a speed-up on CPUs with native bf16 (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@torch.no_grad()
def predict(net: FrameNet, data: Tensors, batch_size: int = 512) -> dict[str, np.ndarray]:
    net.eval()
    parts = []
    for start in range(0, len(data), batch_size):
        b = data.take(slice(start, start + batch_size))
        out = net(b.image.contiguous(memory_format=torch.channels_last), b.blend,
                  shape_features(b.shape))
        parts.append({k: v.float().numpy() for k, v in out.items() if k != "embedding"})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def score(pred: dict, data: Tensors) -> dict[str, float]:
    """Held-out figures: accuracy against the top vote, valence/arousal CCC, AU MAE against the
    teacher."""
    result = {}
    has_emotion = ~torch.isnan(data.emotion[:, 0]).numpy()
    if has_emotion.any():
        truth = data.emotion.numpy()[has_emotion].argmax(1)
        result["accuracy"] = metrics.accuracy(truth, pred["emotion"][has_emotion].argmax(1))
    has_va = ~torch.isnan(data.va).any(1).numpy()
    if has_va.any():
        result["ccc_valence"] = metrics.ccc(data.va.numpy()[has_va, 0],
                                            pred["valence_arousal"][has_va, 0])
        result["ccc_arousal"] = metrics.ccc(data.va.numpy()[has_va, 1],
                                            pred["valence_arousal"][has_va, 1])
    has_au = ~torch.isnan(data.au).numpy()
    if has_au.any():
        result["au_mae"] = metrics.mae(data.au.numpy()[has_au], pred["au"][has_au])
    return result


def selection_score(figures: dict) -> float:
    return (sum(figures.get(k, 0.0) for k in ("accuracy", "ccc_valence", "ccc_arousal"))
            - figures.get("au_mae", 0) / 5)


def selection_split(count: int, seed: int = 0, share: float = 0.1
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(held, train) indices of the faces found in the training split: a seeded `share` held out
    for model selection, never used for gradient steps (the temporal models' tuning sequences are
    built from it, as the per-frame model's errors there are those of unseen faces)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    n_held = max(1, int(count * share))
    return order[:n_held], order[n_held:]


def flipped(data: Tensors, mirror: torch.Tensor) -> Tensors:
    """The mirror image of every face: crop flipped, left/right blendshapes and landmarks
    swapped."""
    return Tensors(data.image.flip(-1), data.blend[:, BLEND_MIRROR],
                   (data.shape * torch.tensor([-1.0, 1.0]))[:, mirror], data.va, data.au,
                   data.emotion)


@torch.no_grad()
def ensemble_prediction(paths, data: Tensors, mirror: torch.Tensor) -> dict[str, np.ndarray]:
    """Mean valence/arousal and emotion probabilities of the networks at `paths`, each on the
    face and its mirror image (the distillation targets)."""
    from ...models.frame import load_frame_net

    va, emotion = [], []
    for path in paths:
        net = load_frame_net(path).to(memory_format=torch.channels_last)
        for view in (data, flipped(data, mirror)):
            out = predict(net, view)
            va.append(out["valence_arousal"])
            emotion.append(torch.softmax(torch.from_numpy(out["emotion"]), 1).numpy())
    return {"valence_arousal": np.mean(va, 0), "emotion": np.mean(emotion, 0)}


def distilled(train: Tensors, teachers, mirror: torch.Tensor, weight: float) -> Tensors:
    """`train` with its emotion and valence/arousal targets moved `weight` of the way to the
    teachers' ensemble (knowledge distillation, Hinton et al. 2015): the ensemble's soft output
    carries the similarity between classes that ten crowd votes only sample."""
    teacher = ensemble_prediction(teachers, train, mirror)
    emotion = torch.from_numpy(teacher["emotion"]).float()
    va = torch.from_numpy(teacher["valence_arousal"]).float()
    return Tensors(train.image, train.blend, train.shape,
                   torch.lerp(train.va, va, weight),  # NaN (unlabelled) stays NaN
                   train.au, torch.lerp(train.emotion, emotion, weight))


def one_cycle(optimizer: torch.optim.Optimizer, lr: float,
              total_steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """The one-cycle schedule: warm-up over 10 % of the steps, then cosine annealing. Short runs
    warm up for two steps at least: OneCycleLR divides by the warm-up's length less one."""
    if total_steps < 4:
        raise AffectStreamError(f"{total_steps} optimiser step(s) are too few for the "
                                "learning-rate schedule (at least 4): give more --epochs or "
                                "more images")
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps,
                                               pct_start=max(0.1, 2 / total_steps))


def train_frame(data: str | Path, out: str | Path, *, epochs: int = 40, batch_size: int = 128,
                lr: float = 3e-3, seed: int = 0, limit: int | None = None, holdout: float = 0.1,
                threads: int = 2, teachers=(), distill: float = 0.5, ema: float = 0.0,
                channels: tuple[int, ...] = (32, 64, 128, 192), mixup_alpha: float = 0.0,
                crop: int = INPUT_SIZE, separable: bool = False, landmarker=None,
                log=print) -> dict:
    """Train a FrameNet on `data` (read_faces formats) and save it to `out`; returns the held-out
    figures. `teachers`: networks whose ensemble the targets are distilled from (`distill` of the
    way); `ema` > 0 selects among exponential moving averages of the weights (that decay per step);
    `channels`: the CNN's width at each of its stages; `mixup_alpha` > 0: mixup with that α;
    `crop` < 48: trained on random crop×crop windows of the faces, the centre one at run time.
    `separable`: depthwise-separable convolutions (models/frame.py), for more epochs in the same
    time.

    Seeded: the same data, seed and epochs give the same weights on the same machine. The held-out
    share is always seed 0's, so every network (teachers included) leaves the same faces unseen.
    """
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    faces = read_faces(data, "train")
    if limit:
        faces = faces.subset(np.random.default_rng(seed).permutation(len(faces))[:limit])
    tensors, found_rate = build_tensors(faces, landmarker=landmarker, workers=threads)
    log(f"{faces.name}: {len(faces)} images, face found on {found_rate:.1%} "
        "by the pipeline's tracker")
    held_index, train_index = selection_split(len(tensors), 0, holdout)
    held, train = tensors.take(held_index), tensors.take(train_index)
    mirror = shape_mirror(train.shape)
    if teachers:
        train = distilled(train, teachers, mirror, distill)
        log(f"targets distilled {distill:.0%} from the ensemble of {len(teachers)} network(s)")

    net = FrameNet(channels=tuple(channels), crop=crop,
                   separable=separable).to(memory_format=torch.channels_last)
    averaged = (torch.optim.swa_utils.AveragedModel(
        net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(ema), use_buffers=True)
        if ema else None)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    schedule = one_cycle(optimizer, lr, epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed + 1)
    mixing = np.random.default_rng(seed + 2)  # mixup's shares
    use_bf16 = bf16_supported()
    best, best_state, started = -math.inf, None, time.perf_counter()
    for epoch in range(epochs):
        net.train()
        permutation = torch.randperm(len(train), generator=generator)
        totals: dict[str, float] = {}
        for step in range(steps_per_epoch):
            batch = augment(train.take(permutation[step * batch_size:(step + 1) * batch_size]),
                            mirror, generator, crop)
            if mixup_alpha:
                batch = mixup(batch, mixup_alpha, mixing, generator)
            n = len(batch)
            # Modality dropout: 15 % of samples lose the image branch, 15 % the geometric one, never
            # both.
            drop = torch.rand(n, generator=generator)
            keep_image, keep_geometry = ((drop >= 0.15).float(),
                                         ((drop < 0.15) | (drop >= 0.30)).float())
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                outputs = net(batch.image.contiguous(memory_format=torch.channels_last),
                              batch.blend, shape_features(batch.shape), keep_image, keep_geometry)
            parts = losses(outputs, batch)
            loss = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if averaged is not None:
                averaged.update_parameters(net)
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + float(v.detach()) / steps_per_epoch
        chosen = net if averaged is None else averaged.module
        figures = score(predict(chosen, held), held)
        line = " ".join(f"{k} {v:.3f}" for k, v in {**totals, **figures}.items())
        log(f"epoch {epoch + 1}/{epochs} [{time.perf_counter() - started:.0f} s] {line}")
        if selection_score(figures) > best:
            best, best_figures = selection_score(figures), figures
            best_state = {k: v.detach().clone() for k, v in chosen.state_dict().items()}
    net.load_state_dict(best_state)
    recipe = {"teachers": ", ".join(Path(t).name for t in teachers), "distill": str(distill),
              "ema": str(ema), "mixup": str(mixup_alpha)} if teachers or ema or mixup_alpha else {}
    save_net(net.eval(), out, data=str(data), images=len(faces), seed=seed, epochs=epochs,
             face_found=f"{found_rate:.4f}", holdout=json_figures(best_figures), **recipe)
    log(f"saved {out} (held-out: {json_figures(best_figures)}) "
        f"in {time.perf_counter() - started:.0f} s")
    return best_figures


def json_figures(figures: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in figures.items())


def evaluate_frame(data: str | Path, *, split: str = "valid", weights=None,
                   limit: int | None = None, au_source: str = "model", log=print) -> dict:
    """Run `analyze_image` on every image of `data`'s `split` and print the figures.

    Images with no face count as failures: no emotion (wrong) and the neutral origin for
    valence/arousal.
    """
    faces = read_faces(data, split)
    if limit:
        faces = faces.subset(np.arange(min(limit, len(faces))))
    va = np.zeros((len(faces), 2), np.float32)
    au = np.full((len(faces), len(AU_NAMES)), np.nan, np.float32)
    emotion = np.full(len(faces), -1)
    with AffectStream(mode="offline", weights=weights, au_source=au_source,
                      max_faces=1) as pipeline:
        for i, image in enumerate(faces.images):
            rows = [r for r in pipeline.analyze(Frame(0, 0.0, load_image(image)), still=True)
                    if r.success]
            if rows:
                a = rows[0]
                va[i] = (a.valence, a.arousal)
                au[i] = [a.au.get(k, np.nan) for k in AU_NAMES]
                emotion[i] = EMOTION_NAMES.index(max(a.emotion, key=a.emotion.get))
    found = emotion >= 0
    figures = {"images": len(faces), "face_found": float(found.mean())}
    has_emotion = ~np.isnan(faces.emotion[:, 0])
    truth = faces.emotion.argmax(1)
    figures["accuracy"] = metrics.accuracy(truth[has_emotion], emotion[has_emotion])
    figures["macro_f1"] = metrics.macro_f1(truth[has_emotion], emotion[has_emotion], classes=8)
    has_va = ~np.isnan(faces.valence_arousal).any(1)
    for k, name in enumerate(("valence", "arousal")):
        t, p = faces.valence_arousal[has_va, k], va[has_va, k]
        figures[f"ccc_{name}"], figures[f"pcc_{name}"] = metrics.ccc(t, p), metrics.pcc(t, p)
        figures[f"rmse_{name}"] = metrics.rmse(t, p)
    log(f"{faces.name}: {len(faces)} images, face found on {figures['face_found']:.1%} "
        "(misses count as failures: no emotion, valence/arousal at the neutral origin)")
    log(f"emotion accuracy against the top vote {figures['accuracy']:.4f}, "
        f"macro-F1 {figures['macro_f1']:.4f}")
    for name in ("valence", "arousal"):
        log(f"{name:8s} CCC {figures[f'ccc_{name}']:.4f}  PCC {figures[f'pcc_{name}']:.4f}  "
            f"RMSE {figures[f'rmse_{name}']:.4f}")
    table = au_by_emotion(au[found & has_emotion], truth[found & has_emotion])
    log("mean AU intensity (0–5) by top-voted emotion (faces found):")
    log("            " + " ".join(f"{a:>5s}" for a in AU_NAMES) + "      n")
    for e, (row, n) in table.items():
        log(f"{e:11s} " + " ".join(f"{v:5.2f}" for v in row) + f" {n:6d}")
    figures["au_by_emotion"] = {e: row.tolist() for e, (row, _) in table.items()}
    return figures


def au_by_emotion(au: np.ndarray, labels: np.ndarray) -> dict[str, tuple[np.ndarray, int]]:
    """{emotion: (mean of each AU over images of that emotion, count)}."""
    return {e: (au[labels == k].mean(0) if (labels == k).any() else np.full(len(AU_NAMES), np.nan),
                int((labels == k).sum())) for k, e in enumerate(EMOTION_NAMES)}
