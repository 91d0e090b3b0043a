"""How the temporal models trade steadiness for speed of response, against the per-frame model.

    python benchmarks/temporal_response.py [--video WolfgangLanger_Pexels.mp4]

1. Steadiness: on a talking-face video, the mean absolute frame-to-frame change of valence and
   arousal of the main face (consecutive frames both detected), per model, and its ratio to the
   per-frame model's.
2. Response: a synthetic step — a neutral face held for 2 s, then cut to a smiling face held for
   2 s, both FER+ validation stills placed at the same spot of a 640×360 frame at 30 fps — run
   frame by frame through the live API. Frames after the cut until the estimate covers 90 % of
   the change (from the mean of the last 10 frames before the cut to the mean of the last 15).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

import affectstream as af
from affectstream.train.datasets import read_faces
from affectstream.types import Frame

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTSTREAM_SHARED", ROOT.parent / "shared"))
MODELS = ("none", "affwildnet", "ap")
FPS = 30


def steadiness(video: Path, temporal: str) -> tuple[float, float, int]:
    """(mean |Δvalence|, mean |Δarousal|, pairs) over consecutive detected frames of the first track."""
    with af.AffectStream("offline", temporal=temporal, max_faces=1) as pipeline:
        rows = [r for r in pipeline.stream(video) if r.success and r.box is not None]
    first = min(r.track_id for r in rows)
    by_frame = {r.frame: (r.valence, r.arousal) for r in rows if r.track_id == first}
    pairs = np.array([(by_frame[f], by_frame[f + 1]) for f in by_frame if f + 1 in by_frame])
    change = np.abs(pairs[:, 1] - pairs[:, 0]).mean(0)
    return float(change[0]), float(change[1]), len(pairs)


def step_frames(neutral: np.ndarray, smiling: np.ndarray, seconds: float = 2.0) -> list[np.ndarray]:
    """A 640×360 clip: `neutral` for `seconds`, then `smiling`, each a 200-pixel face at one spot."""
    frames = []
    for face in (neutral, smiling):
        canvas = np.full((360, 640, 3), 128, np.uint8)
        canvas[80:280, 220:420] = cv2.resize(face, (200, 200), interpolation=cv2.INTER_CUBIC)[..., None]
        frames += [canvas] * int(seconds * FPS)
    return frames


def pick_stills() -> tuple[np.ndarray, np.ndarray]:
    """The FER+ validation images with the most votes for neutral and for happiness."""
    faces = read_faces(SHARED / "data" / "ferplus", "valid")
    votes = np.nan_to_num(faces.emotion, nan=-1.0)
    return faces.images[int(np.argmax(votes[:, 0]))], faces.images[int(np.argmax(votes[:, 1]))]


def response(frames: list[np.ndarray], temporal: str, cut: int) -> dict:
    """Frames after the cut to reach 90 % of the change in valence and arousal, live, frame by frame."""
    with af.AffectStream("live", temporal=temporal, max_faces=1) as pipeline:
        rows = [pipeline.analyze(Frame(i, i / FPS, image, 0.0))[0] for i, image in enumerate(frames)]
    tracks = {r.track_id for r in rows if r.success}
    out = {"tracks": len(tracks), "detected": sum(r.success for r in rows)}
    for name in ("valence", "arousal"):
        values = np.array([getattr(r, name) if r.success else np.nan for r in rows])
        before, after = np.nanmean(values[cut - 10:cut]), np.nanmean(values[-15:])
        change = after - before
        reached = np.flatnonzero((values[cut:] - before) / change >= 0.9) if abs(change) > 1e-6 else []
        out[name] = (float(before), float(after), int(reached[0]) + 1 if len(reached) else None)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=SHARED / "media" / "video" / "WolfgangLanger_Pexels.mp4")
    args = p.parse_args(argv)
    if not args.video.is_file():
        print(f"no video at {args.video}; set AFFECTSTREAM_SHARED or pass --video", file=sys.stderr)
        return 1
    print(f"steadiness on {args.video.name}: mean |Δ| between consecutive frames of the main face")
    base = None
    for temporal in MODELS:
        dv, da, n = steadiness(args.video, temporal)
        base = base or (dv, da)
        print(f"  {temporal:10s} valence {dv:.4f} ({dv / base[0]:.2f}× per-frame)  "
              f"arousal {da:.4f} ({da / base[1]:.2f}× per-frame)  [{n} pairs]")
    neutral, happy = pick_stills()
    cut = 2 * FPS
    frames = step_frames(neutral, happy)
    print(f"step response, live: neutral → smiling FER+ still at frame {cut} of {len(frames)} ({FPS} fps); "
          "frames after the cut to 90 % of the change")
    for temporal in MODELS:
        r = response(frames, temporal, cut)
        cells = "  ".join(f"{k} {r[k][0]:+.3f} → {r[k][1]:+.3f} in {r[k][2]} frames" for k in ("valence", "arousal"))
        print(f"  {temporal:10s} {cells}  [{r['detected']}/{len(frames)} frames with a face, {r['tracks']} track(s)]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
