"""The per-frame model: a small CNN on the aligned grey face fused with an MLP on blendshapes and
shape.

As AffWildNet concatenates landmarks with CNN features, the two branches meet in one embedding,
from which three heads read valence/arousal (−1…1), AU intensities (0–5) and 8 emotion logits.
Trained with modality dropout, so either branch alone still predicts. `train frame` trains the
network on the 12 DISFA AUs; `train frame-au` then adds rows to the AU head for OpenFace's other
five, on the frozen embedding (au_head.py), so the temporal models trained on it stay valid.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..geometry import aligned_landmarks
from ..registry import Weights, register
from ..types import AU_NAMES, DISFA_AU_NAMES, EMOTION_NAMES, Face, FrameOutput
from .blendshape_au import au_from_blendshapes
from .weights import load_net

INPUT_SIZE = 48  # FER+'s resolution: training images carry no more detail than this
# a 117-point subset of the mesh, enough for expression shape
SHAPE_POINTS = tuple(range(0, 468, 4))
GEOMETRY_DIM = 52 + 2 * len(SHAPE_POINTS)


def grey_input(crop: np.ndarray) -> np.ndarray:
    """(48, 48) uint8 grey face from an aligned (S, S, 3) RGB or (S, S) grey crop."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    if grey.shape[0] != INPUT_SIZE:
        grey = cv2.resize(grey, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    return grey


def shape_input(landmarks: np.ndarray) -> np.ndarray:
    """(234,) float32: the SHAPE_POINTS of the aligned shape, centred on the crop."""
    return (aligned_landmarks(landmarks)[list(SHAPE_POINTS)] - 0.5).ravel()


def _conv(c_in: int, c_out: int, separable: bool) -> list[nn.Module]:
    """A 3×3 convolution, or its depthwise-separable form: a per-channel 3×3, then a 1×1 (about a
    third of the training time at the same widths; the grey input's single channel keeps a full
    one)."""
    if not separable or c_in == 1:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    return [nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False)]


def _stage(c_in: int, c_out: int, separable: bool) -> list[nn.Module]:
    return [*_conv(c_in, c_out, separable), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            *_conv(c_out, c_out, separable), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class FrameNet(nn.Module):
    """image (B, 1, 48, 48) 0–1, blendshapes (B, 52) 0–1, shape (B, 234) → dict of
    embedding (B, embed), valence_arousal (B, 2) −1…1, au (B, len(aus)) 0–5 in the order of
    `aus`, emotion (B, 8) logits.

    crop < 48: the CNN sees the centre crop×crop of the face (trained on random crops of that
    size); an image already crop×crop wide passes as it is.

    separable: each 3×3 convolution after the first is depthwise-separable.

    keep_image / keep_geometry (B,) 0/1 zero a branch per sample (modality dropout; all ones at
    inference).
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 192), hidden: int = 128,
                 embed: int = 256, aus: tuple[str, ...] = DISFA_AU_NAMES,
                 crop: int = INPUT_SIZE, separable: bool = False):
        super().__init__()
        if not 16 <= crop <= INPUT_SIZE:
            raise ValueError(f"crop {crop} must be 16–{INPUT_SIZE}")
        self.crop = crop
        layers, c = [], 1
        for k, width in enumerate(channels):
            layers += _stage(c, width, separable)
            c = width
            if k < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
        self.cnn = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.geometry = nn.Sequential(nn.Linear(GEOMETRY_DIM, hidden), nn.ReLU(inplace=True),
                                      nn.Dropout(0.1), nn.Linear(hidden, hidden),
                                      nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(nn.Dropout(0.3), nn.Linear(c + hidden, embed),
                                  nn.ReLU(inplace=True))
        self.valence_arousal = nn.Linear(embed, 2)
        unknown = set(aus) - set(AU_NAMES)
        if unknown:
            raise ValueError(f"unknown AU name(s) {sorted(unknown)}")
        self.aus = tuple(aus)
        self.au = nn.Linear(embed, len(self.aus))
        self.emotion = nn.Linear(embed, len(EMOTION_NAMES))
        self.config = {"channels": list(channels), "hidden": hidden, "embed": embed,
                       "aus": list(self.aus)}
        if crop != INPUT_SIZE:  # files without it keep reading as before
            self.config["crop"] = crop
        if separable:  # likewise
            self.config["separable"] = True

    @classmethod
    def from_config(cls, config: dict) -> FrameNet:
        # v0.4 files have no "aus": their head holds the 12 DISFA AUs
        return cls(**{"aus": DISFA_AU_NAMES, **config})

    def forward(self, image, blendshapes, shape, keep_image=None,
                keep_geometry=None) -> dict[str, torch.Tensor]:
        if image.shape[-1] > self.crop:
            top = (image.shape[-1] - self.crop) // 2
            image = image[..., top:top + self.crop, top:top + self.crop]
        # Per-image standardisation: lighting and contrast vary far more in video than in FER+.
        mean = image.mean(dim=(1, 2, 3), keepdim=True)
        std = image.std(dim=(1, 2, 3), keepdim=True).clamp_min(0.02)
        visual = self.cnn((image - mean) / std)
        geometric = self.geometry(torch.cat([blendshapes, shape], dim=1))
        if keep_image is not None:
            visual = visual * keep_image[:, None]
        if keep_geometry is not None:
            geometric = geometric * keep_geometry[:, None]
        embedding = self.fuse(torch.cat([visual, geometric], dim=1))
        return {
            "embedding": embedding,
            "valence_arousal": torch.tanh(self.valence_arousal(embedding)),
            "au": 5.0 * torch.sigmoid(self.au(embedding)),
            "emotion": self.emotion(embedding),
        }


def fold_batch_norm(net: FrameNet) -> FrameNet:
    """`net` (in eval mode) with each BatchNorm folded into the convolution before it: the same
    function in fewer passes over the activations (outputs equal to float rounding)."""
    layers, folded = list(net.cnn), []
    for layer in layers:
        if isinstance(layer, nn.BatchNorm2d) and folded and isinstance(folded[-1], nn.Conv2d):
            folded[-1] = fuse_conv_bn_eval(folded[-1], layer)
        else:
            folded.append(layer)
    net.cnn = nn.Sequential(*folded)
    return net


def in_au_order(aus: tuple[str, ...], values: np.ndarray) -> np.ndarray:
    """(N, 17) float32 in AU_NAMES order from (N, len(aus)) values in the order of `aus`; NaN for
    the AUs not in `aus`."""
    wide = np.full((len(values), len(AU_NAMES)), np.nan, np.float32)
    wide[:, [AU_NAMES.index(a) for a in aus]] = values
    return wide


def face_tensors(faces: list[Face]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The network's three inputs for a list of tracked faces."""
    images = np.stack([grey_input(f.crop) for f in faces]).astype(np.float32) / 255.0
    blend = np.stack([f.blendshapes for f in faces]).astype(np.float32)
    shape = np.stack([shape_input(f.landmarks) for f in faces]).astype(np.float32)
    return torch.from_numpy(images[:, None]), torch.from_numpy(blend), torch.from_numpy(shape)


WEIGHTS = Weights("frame.safetensors", card="MODEL_CARD.md")


def load_frame_net(path=None) -> FrameNet:
    """The FrameNet stored at `path` (default: the shipped weights), with `presence`: the AU
    presence thresholds its file records ({} when none)."""
    net, header = load_net(FrameNet, path or WEIGHTS.path, "per-frame",
                           "train one with `affectstream train frame` or pass --weights PATH")
    net.presence = json.loads(header.get("presence_thresholds", "{}"))
    return net


@register("frame", "fusion", weights=WEIGHTS)
class FusionModel:
    """Per-frame stage: faces -> FrameOutput with embedding, valence, arousal, AUs and emotion
    logits. An AU the network's head lacks (AU14; all five non-DISFA AUs for v0.4 weights) comes
    from the blendshape estimator, its teacher."""

    produces = ("au", "valence", "emotion")

    def __init__(self, net: FrameNet):
        self.net = fold_batch_norm(net.eval()).to(memory_format=torch.channels_last)
        # AU presence thresholds fitted with the AU head (au_head.py); {} for weights without them
        self.presence: dict[str, dict[str, float]] = getattr(net, "presence", {})

    @classmethod
    def from_options(cls, options) -> FusionModel:
        torch.set_flush_denormal(True)  # denormals in tiny activations slow CPU inference manyfold
        return cls(load_frame_net(options.weights))

    @torch.inference_mode()
    def __call__(self, faces: list[Face]) -> list[FrameOutput]:
        if not faces:
            return []
        image, blend, shape = face_tensors(faces)
        out = self.net(image.contiguous(memory_format=torch.channels_last), blend, shape)
        va, au = out["valence_arousal"].numpy(), in_au_order(self.net.aus, out["au"].numpy())
        if len(self.net.aus) < len(AU_NAMES):  # the AUs the network lacks, from its teacher
            teacher = au_from_blendshapes(blend.numpy(), np.stack([f.landmarks for f in faces]))
            au = np.where(np.isnan(au), teacher, au)
        embedding, emotion, shape = out["embedding"].numpy(), out["emotion"].numpy(), shape.numpy()
        return [FrameOutput(embedding=embedding[i], shape=shape[i], valence=float(va[i, 0]),
                            arousal=float(va[i, 1]), au=au[i], emotion=emotion[i])
                for i in range(len(faces))]
