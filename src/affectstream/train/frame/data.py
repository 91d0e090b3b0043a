"""Labelled face datasets, and their conversion into exactly what the pipeline feeds the per-frame
model.

Readers return `LabelledFaces`: images (uint8, any size, grey or RGB) or image paths, plus targets,
with NaN where a corpus has no label of that kind. `extract_features` runs the runtime's FaceTracker
(IMAGE mode, with its small-face retries) on every image and caches crops, blendshapes and shapes.
"""
from __future__ import annotations

import csv
import hashlib
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# the numbers of shared/data/emotion_va_prototypes.csv, so a user's install needs no data folder
from ...circumplex import PROTOTYPES
from ...errors import AffectStreamError
from ...types import AU_NAMES, EMOTION_NAMES

FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                   "contempt", "unknown", "NF")
# AffectNet's expression codes: 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger,
# 7 Contempt; 8 None, 9 Uncertain and 10 No-Face carry no emotion label.
AFFECTNET_EXPRESSIONS = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger",
                         "contempt")
FEATURES_VERSION = 1  # bump when the preprocessing changes, so caches are rebuilt


@dataclass
class LabelledFaces:
    """N images and their targets; NaN marks a missing label.

    images: list of (H, W[, 3]) uint8 arrays or paths; valence_arousal (N, 2) −1…1; au (N, 12) 0–5;
    emotion (N, 8) probability distribution over EMOTION_NAMES.
    """

    name: str
    images: list
    valence_arousal: np.ndarray
    au: np.ndarray
    emotion: np.ndarray
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> LabelledFaces:
        index = np.asarray(index)
        return LabelledFaces(f"{self.name}[{len(index)}]", [self.images[i] for i in index],
                             self.valence_arousal[index], self.au[index], self.emotion[index],
                             [self.ids[i] for i in index] if self.ids else [])


def emotion_prototypes(path: str | os.PathLike | None = None) -> np.ndarray:
    """(8, 2) valence/arousal of each emotion on the circumplex (Scherer 2005, after Russell
    1980)."""
    if path is None:
        return np.array(PROTOTYPES, np.float32)
    with open(path, newline="") as f:
        table = {row["emotion"]: (float(row["valence"]), float(row["arousal"]))
                 for row in csv.DictReader(f)}
    return np.array([table[e] for e in EMOTION_NAMES], np.float32)


def ferplus_distribution(votes: np.ndarray) -> np.ndarray | None:
    """The FER+ 'probability' label of one image's 10 votes, or None when it is unknown/not a face.

    As the FER+ authors' preparation: single votes are dropped as outliers, then the top classes are
    taken until they hold 75 % of the votes (at most three); an image whose top classes include
    `unknown` or `NF` is skipped.
    """
    raw = np.where(votes > 1, votes, 0).astype(np.float64)
    total = raw.sum()
    if total == 0:
        return None
    kept, held = np.zeros(10), 0.0
    for _ in range(3):
        if held >= 0.75 * total:
            break
        top = int(np.argmax(raw))
        if top >= 8:
            return None
        for i in np.flatnonzero(raw == raw[top]):
            if i >= 8:
                return None
            kept[i], held, raw[i] = raw[i], held + raw[i], 0
    return (kept[:8] / kept[:8].sum()).astype(np.float32)


def read_ferplus(folder: str | os.PathLike, split: str = "train") -> LabelledFaces:
    """FER2013 images with FER+ votes from `ferplus_{split}.npz` (images, votes, vote_columns,
    names).

    valence/arousal = the emotion distribution × the circumplex prototypes (soft targets).
    """
    path = Path(folder) / f"ferplus_{split}.npz"
    if not path.exists():
        raise AffectStreamError(f"{path}: no such file; "
                                f"--data must be a folder with ferplus_{split}.npz")
    data = np.load(path)
    if tuple(data["vote_columns"]) != FERPLUS_COLUMNS:
        raise AffectStreamError(f"{path}: unexpected vote columns {list(data['vote_columns'])}")
    keep, dists = [], []
    for i, votes in enumerate(data["votes"]):
        dist = ferplus_distribution(votes)
        if dist is not None:
            keep.append(i)
            dists.append(dist)
    emotion = np.stack(dists)
    va = emotion @ emotion_prototypes()
    au = np.full((len(keep), len(AU_NAMES)), np.nan, np.float32)  # AU targets come from the teacher
    return LabelledFaces(f"ferplus_{split}", list(data["images"][keep]), va.astype(np.float32), au,
                         emotion, [str(n) for n in data["names"][keep]])


def read_affectnet(folder: str | os.PathLike, table: str | os.PathLike) -> LabelledFaces:
    """AffectNet's layout: image folders plus a CSV with subDirectory_filePath, expression, valence,
    arousal.

    Expressions 8–10 (none, uncertain, no face) keep their valence/arousal but no emotion label;
    valence/arousal of −2 (AffectNet's "not annotated") become NaN.
    """
    folder, rows = Path(folder), _read_csv(table)
    images, va, emotion, ids = [], [], [], []
    for row in rows:
        images.append(folder / row["subDirectory_filePath"])
        ids.append(row["subDirectory_filePath"])
        pair = [float(row["valence"]), float(row["arousal"])]
        va.append([np.nan if v < -1.5 else v for v in pair])
        code, onehot = int(row["expression"]), np.full(8, np.nan, np.float32)
        if code < 8:
            onehot[:] = 0
            onehot[EMOTION_NAMES.index(AFFECTNET_EXPRESSIONS[code])] = 1
        emotion.append(onehot)
    au = np.full((len(images), len(AU_NAMES)), np.nan, np.float32)
    return LabelledFaces(Path(table).stem, images, np.array(va, np.float32), au, np.stack(emotion),
                         ids)


def read_table(table: str | os.PathLike) -> LabelledFaces:
    """Your own labels: a CSV with `path` (relative to the CSV) and any of valence, arousal, AU01 …
    AU26 (0–5) and emotion (one of EMOTION_NAMES); empty cells are missing labels."""
    table = Path(table)
    rows = _read_csv(table)
    images, va, au, emotion = [], [], [], []
    for row in rows:
        images.append(table.parent / row["path"])
        va.append([_number(row.get("valence")), _number(row.get("arousal"))])
        au.append([_number(row.get(name)) for name in AU_NAMES])
        onehot = np.full(8, np.nan, np.float32)
        if row.get("emotion"):
            if row["emotion"] not in EMOTION_NAMES:
                raise AffectStreamError(f"{table}: emotion {row['emotion']!r} is not one of "
                                        f"{', '.join(EMOTION_NAMES)}")
            onehot[:] = 0
            onehot[EMOTION_NAMES.index(row["emotion"])] = 1
        emotion.append(onehot)
    return LabelledFaces(table.stem, images, np.array(va, np.float32), np.array(au, np.float32),
                         np.stack(emotion), [r["path"] for r in rows])


def read_faces(data: str | os.PathLike, split: str = "train") -> LabelledFaces:
    """Any supported corpus: a FER+ folder, an AffectNet folder (with training.csv/validation.csv),
    or a CSV."""
    data = Path(data)
    if data.suffix.lower() == ".csv":
        return read_table(data)
    if (data / f"ferplus_{split}.npz").exists():
        return read_ferplus(data, split)
    affectnet = data / ("training.csv" if split == "train" else "validation.csv")
    if affectnet.exists():
        return read_affectnet(data, affectnet)
    raise AffectStreamError(f"{data}: not a dataset affectstream reads (FER+ npz folder, "
                            "AffectNet folder with training.csv/validation.csv, or a CSV with a "
                            "path column)")


def _read_csv(path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        raise AffectStreamError(f"{path}: cannot read ({e.strerror})") from None


def _number(text) -> float:
    return float(text) if text not in (None, "") else np.nan


@dataclass
class FaceFeatures:
    """What the pipeline gives the per-frame model, for each image: found (N,) bool; image
    (N, 48, 48) uint8; blendshapes (N, 52); shape (N, 478, 2) aligned landmarks (0–1 across
    the crop)."""

    found: np.ndarray
    image: np.ndarray
    blendshapes: np.ndarray
    shape: np.ndarray


def _extract_chunk(args) -> dict:
    images, landmarker = args
    from ...face import FaceTracker
    from ...geometry import aligned_landmarks
    from ...models.frame import grey_input
    from ...sources import load_image
    from ...types import Frame

    n = len(images)
    out = {"found": np.zeros(n, bool), "image": np.zeros((n, 48, 48), np.uint8),
           "blendshapes": np.zeros((n, 52), np.float32), "shape": np.zeros((n, 478, 2), np.float16)}
    with FaceTracker(landmarker, mode="image", max_faces=1) as tracker:
        for i, image in enumerate(images):
            faces = tracker.track(Frame(0, 0.0, load_image(image)))
            tracker.tracks.reset()
            if faces:
                face = faces[0]
                out["found"][i] = True
                out["image"][i] = grey_input(face.crop)
                out["blendshapes"][i] = face.blendshapes
                out["shape"][i] = aligned_landmarks(face.landmarks)
    return out


def extract_features(faces: LabelledFaces, cache: str | os.PathLike | None = None,
                     workers: int = 2, landmarker=None, progress: bool = True) -> FaceFeatures:
    """Run the pipeline's face tracker on every image (cached in `cache` when given)."""
    if cache is not None and Path(cache).exists():
        with np.load(cache) as data:
            return FaceFeatures(**{k: data[k] for k in FaceFeatures.__dataclass_fields__})
    chunks = [faces.images[i:i + 500] for i in range(0, len(faces), 500)]
    parts = []
    context = multiprocessing.get_context("spawn")  # MediaPipe's threads do not survive fork
    with context.Pool(max(1, workers)) as pool:
        jobs = pool.imap(_extract_chunk, [(c, landmarker) for c in chunks])
        if progress:
            from tqdm import tqdm
            jobs = tqdm(jobs, total=len(chunks), desc=f"faces in {faces.name}", unit="chunk")
        parts = list(jobs)
    features = FaceFeatures(**{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(cache) + ".tmp.npz")
        np.savez(tmp, **features.__dict__)
        os.replace(tmp, cache)
    return features


def features_cache_name(faces: LabelledFaces, landmarker_sha: str) -> str:
    """A cache file name that changes with the images, the landmarker and the preprocessing
    version."""
    digest = hashlib.sha256(
        f"{FEATURES_VERSION}:{landmarker_sha}:{faces.name}:{len(faces)}".encode())
    for image in faces.images[:: max(1, len(faces) // 200)]:
        digest.update(np.asarray(image).tobytes() if not isinstance(image, (str, Path))
                      else str(image).encode())
    return f"features-{faces.name}-{digest.hexdigest()[:12]}.npz"
