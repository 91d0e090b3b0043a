"""`train frame-au`: OpenFace's 17 AUs from a per-frame network trained on the 12 DISFA ones.

The backbone and embedding stay frozen (the temporal models were trained on that embedding); a
linear 5·sigmoid row per new AU is fitted on the embeddings of the training faces against the
blendshape teacher, and the presence thresholds (AUxx_c) are fitted on the same faces (presence.py).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from ...models.blendshape_au import NO_SOURCE
from ...models.frame import SHAPE_POINTS, FrameNet, in_au_order, load_frame_net
from ...models.weights import save_net
from ...presence import LIP_SUCK, fit_thresholds, lip_suck, prototype_rates
from ...types import AU_NAMES, EMOTION_NAMES
from .. import metrics
from .data import read_faces
from .training import labelled_features

# AU14: a row fitted on the frozen embedding reproduced its teacher with ICC 0.05 on FER+ valid
# (the embedding does not carry the dimple), so FusionModel reads it from the teacher itself.
TEACHER_ONLY = ("AU14",)


def embed(net: FrameNet, image: np.ndarray, blendshapes: np.ndarray, shape: np.ndarray,
          batch_size: int = 512) -> dict[str, torch.Tensor]:
    """The network's outputs for features as `extract_features` stores them, batched."""
    image_t = torch.from_numpy(image.astype(np.float32) / 255)[:, None]
    blend_t = torch.from_numpy(blendshapes.astype(np.float32))
    shape_t = (torch.from_numpy(shape.astype(np.float32) - 0.5)[:, list(SHAPE_POINTS)]
               .flatten(1))
    net.eval()
    with torch.inference_mode():
        outs = [net(image_t[i:i + batch_size], blend_t[i:i + batch_size],
                    shape_t[i:i + batch_size]) for i in range(0, len(image_t), batch_size)]
    return {"embedding": torch.cat([o["embedding"] for o in outs]),
            "au": in_au_order(net.aus, torch.cat([o["au"] for o in outs]).numpy())}


def fit_rows(embedding: torch.Tensor, target: torch.Tensor, *, epochs: int, seed: int,
             lr: float = 0.01, batch_size: int = 256) -> torch.nn.Linear:
    """A linear layer whose 5·sigmoid reproduces `target` (N, K) 0–5 from `embedding` (N, D)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = torch.nn.Linear(embedding.shape[1], target.shape[1])
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    for _ in range(epochs):
        order = torch.randperm(len(embedding), generator=generator)
        for i in range(0, len(order), batch_size):
            batch = order[i:i + batch_size]
            loss = ((torch.sigmoid(head(embedding[batch])) - target[batch] / 5) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return head


def widened(net: FrameNet, rows: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> FrameNet:
    """A copy of `net` whose AU head holds every AU of AU_NAMES: its own rows, then `rows`
    ({AU: (weight (D,), bias ())}) for the others."""
    aus = tuple(a for a in AU_NAMES if a in net.aus or a in rows)
    wide = FrameNet(**{**net.config, "aus": aus})
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("au.")}
    weight = torch.stack([net.au.weight[net.aus.index(a)] if a in net.aus else rows[a][0]
                          for a in aus])
    bias = torch.stack([net.au.bias[net.aus.index(a)] if a in net.aus else rows[a][1]
                        for a in aus])
    wide.load_state_dict({**state, "au.weight": weight, "au.bias": bias})
    return wide.eval()


def agreement(predicted: np.ndarray, teacher: np.ndarray) -> dict[str, dict[str, float]]:
    """Per AU of AU_NAMES: MAE, Pearson r and ICC(3,1) of the model against its teacher."""
    return {a: {"mae": metrics.mae(teacher[:, k], predicted[:, k]),
                "pcc": metrics.pcc(teacher[:, k], predicted[:, k]),
                "icc": metrics.icc3_1(teacher[:, k], predicted[:, k])}
            for k, a in enumerate(AU_NAMES) if not np.isnan(predicted[:, k]).all()}


def train_au_head(data: str | Path, base: str | Path | None, out: str | Path, *,
                  limit: int | None = 6000, epochs: int = 30, seed: int = 0, threads: int = 2,
                  landmarker=None, valid_limit: int | None = None, log=print) -> dict:
    """Extend the per-frame network at `base` (default: the shipped one) to AU_NAMES, fit the
    presence thresholds, save to `out`; returns the figures on `data`'s valid split (its first
    `valid_limit` images when given)."""
    started = time.perf_counter()
    torch.set_num_threads(threads)
    net = load_frame_net(base)
    new = [a for a in AU_NAMES if a not in net.aus and a not in NO_SOURCE + TEACHER_ONLY]
    faces = read_faces(data, "train")
    if limit:
        faces = faces.subset(np.random.default_rng(seed).permutation(len(faces))[:limit])
    features, teacher = labelled_features(faces, landmarker, threads)
    found = features.found
    outs = embed(net, features.image[found], features.blendshapes[found], features.shape[found])
    target = torch.from_numpy(teacher[found][:, [AU_NAMES.index(a) for a in new]])
    head = fit_rows(outs["embedding"], target, epochs=epochs, seed=seed)
    wide = widened(net, {a: (head.weight[k].detach(), head.bias[k].detach())
                         for k, a in enumerate(new)})
    log(f"{faces.name}: {int(found.sum())} faces; rows fitted for {', '.join(new)} "
        f"in {time.perf_counter() - started:.0f} s")

    # Presence thresholds from the training faces' top-voted emotions (presence.py says how).
    top = np.where(np.isnan(faces.emotion[found]).any(1), -1, faces.emotion[found].argmax(1))
    with torch.inference_mode():  # the widened head on the embeddings already computed
        model_au = in_au_order(wide.aus, (5 * torch.sigmoid(wide.au(outs["embedding"]))).numpy())
    model_au = np.where(np.isnan(model_au), teacher[found], model_au)  # as FusionModel does
    suck = lip_suck(features.blendshapes[found])
    thresholds = {"model": fit_thresholds(model_au, suck, top),
                  "blendshapes": fit_thresholds(teacher[found], suck, top)}
    figures = evaluate_au_head(wide, thresholds, data, landmarker, threads, valid_limit)
    figures["thresholds"] = thresholds
    log(json.dumps({k: v for k, v in figures.items() if k != "agreement"}, indent=1))
    save_net(wide, out, data=str(data), images=len(faces), seed=seed, epochs=epochs,
             base=str(base or "shipped frame.safetensors"), new_aus=",".join(new),
             presence_thresholds=json.dumps(thresholds, sort_keys=True),
             au_agreement=json.dumps(figures["agreement"], sort_keys=True))
    log(f"saved {out} in {time.perf_counter() - started:.0f} s")
    return figures


def evaluate_au_head(net: FrameNet, thresholds: dict, data: str | Path, landmarker=None,
                     threads: int = 2, limit: int | None = None) -> dict:
    """On `data`'s valid split (its first `limit` images): agreement with the teacher per AU,
    and how often each AU is present by the thresholds, per top-voted emotion."""
    faces = read_faces(data, "valid")
    if limit:
        faces = faces.subset(np.arange(min(limit, len(faces))))
    features, teacher = labelled_features(faces, landmarker, threads)
    found = features.found
    predicted = embed(net, features.image[found], features.blendshapes[found],
                      features.shape[found])["au"]
    teacher = teacher[found]
    given = [a for a in AU_NAMES if a in thresholds["model"]]
    agree = agreement(predicted, teacher)
    predicted = np.where(np.isnan(predicted), teacher, predicted)  # as FusionModel does
    present = predicted[:, [AU_NAMES.index(a) for a in given]] >= np.array(
        [thresholds["model"][a] for a in given])
    top = faces.emotion[found].argmax(1)
    rates = {e: {a: round(float(present[top == k, j].mean()), 3) for j, a in enumerate(given)}
             for k, e in enumerate(EMOTION_NAMES) if (top == k).sum() >= 20}
    prototypes = prototype_rates({a: present[:, j] for j, a in enumerate(given)}, top)
    suck = lip_suck(features.blendshapes[found]) >= thresholds["model"][LIP_SUCK]
    return {"faces": int(found.sum()), "agreement": agree,
            "presence_by_emotion": rates, "prototype_presence": prototypes,
            "AU28_rate": round(float(suck.mean()), 3)}
