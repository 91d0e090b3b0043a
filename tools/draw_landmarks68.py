"""Draw the 68 iBUG points (MESH_TO_68) numbered on real faces: regenerates
docs/landmarks68_multi_face.png and docs/landmarks68_wolfgang.png.

    python tools/draw_landmarks68.py [--shared ../shared] [--frame 300]

Each face is cut out with a margin and enlarged so the numbers can be read; points are coloured by
region (jaw, brows, nose, eyes, mouth) and the iris centres (mesh 468, 473) are drawn as rings.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from affectstream.face import FaceTracker
from affectstream.landmarks68 import to_68
from affectstream.sources import read_image
from affectstream.types import Frame

ROOT = Path(__file__).resolve().parents[1]
# iBUG's regions: (first, last + 1, RGB colour).
REGIONS = ((0, 17, (255, 210, 0)), (17, 27, (255, 80, 200)), (27, 36, (0, 220, 255)),
           (36, 48, (80, 255, 80)), (48, 68, (255, 70, 70)))
PANEL = 800  # side of each enlarged face, pixels


def face_panel(image: np.ndarray, landmarks: np.ndarray, title: str) -> np.ndarray:
    """(PANEL, PANEL, 3) RGB: the face around `landmarks` (478, 3) px, enlarged, points
    numbered."""
    lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    centre, side = (lo + hi) / 2, (hi - lo).max() * 1.35  # margin: the jaw line and labels
    scale = PANEL / side
    shift = PANEL / 2 - scale * centre
    warp = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]], np.float32)
    panel = cv2.warpAffine(image, warp, (PANEL, PANEL), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_CONSTANT)
    panel = (panel * 0.75).astype(np.uint8)  # darker, so the labels stand out
    points = to_68(landmarks)[:, :2] * scale + shift
    for first, last, colour in REGIONS:
        centre = points[first:last].mean(0)
        for k in range(first, last):
            x, y = (int(round(v)) for v in points[k])
            cv2.circle(panel, (x, y), 3, colour, -1, cv2.LINE_AA)
            # labels away from their region's centre; the inner lips' towards it, so the two lip
            # contours' labels do not overlap
            away = points[k] - centre
            away *= (-1 if k >= 60 else 1) * 11 / max(np.linalg.norm(away), 1e-6)
            (w, h), _ = cv2.getTextSize(str(k), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
            at = (int(x + away[0] - w / 2), int(y + away[1] + h / 2))
            for ink, weight in (((0, 0, 0), 3), (colour, 1)):  # outlined, legible on skin
                cv2.putText(panel, str(k), at, cv2.FONT_HERSHEY_SIMPLEX, 0.4, ink, weight,
                            cv2.LINE_AA)
    for iris in (468, 473):
        x, y = (int(round(v)) for v in landmarks[iris, :2] * scale + shift)
        cv2.circle(panel, (x, y), 5, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(panel, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1,
                cv2.LINE_AA)
    return panel


def sheet(panels: list[np.ndarray], columns: int = 3) -> np.ndarray:
    """Panels in rows of `columns`, black where a row is short."""
    rows = [panels[i:i + columns] for i in range(0, len(panels), columns)]
    blank = np.zeros_like(panels[0])
    return np.vstack([np.hstack(row + [blank] * (columns - len(row))) for row in rows])


def save(image: np.ndarray, path: Path) -> None:
    """Write RGB `image` as a 256-colour PNG (a quarter of the size) that keeps the label colours
    exact."""
    inks = [c for _, _, c in REGIONS] + [(255, 255, 255), (0, 0, 0)]
    photo = Image.fromarray(image).quantize(256 - len(inks), dither=Image.Dither.NONE)
    palette = Image.new("P", (1, 1))
    palette.putpalette(photo.getpalette()[: 3 * (256 - len(inks))] + [v for c in inks for v in c])
    Image.fromarray(image).quantize(palette=palette, dither=Image.Dither.NONE).save(
        path, optimize=True)


def video_frame(path: Path, index: int) -> np.ndarray:
    """(H, W, 3) RGB frame `index` of the video at `path`."""
    with av.open(str(path)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k == index:
                return frame.to_ndarray(format="rgb24")
    raise SystemExit(f"{path} has fewer than {index + 1} frames")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--frame", type=int, default=300, help="WolfgangLanger frame to draw")
    args = parser.parse_args()
    model = args.shared / "models" / "face_landmarker.task"
    media = args.shared / "media"
    with FaceTracker(model, mode="image", max_faces=8) as tracker:
        image = read_image(media / "images" / "multi_face.jpg")
        faces = sorted(tracker.track(Frame(0, 0.0, image)), key=lambda f: f.box[0])
        panels = [face_panel(image, f.landmarks, f"multi_face.jpg, face {k} (left to right)")
                  for k, f in enumerate(faces)]
        save(sheet(panels), ROOT / "docs" / "landmarks68_multi_face.png")
        image = video_frame(media / "video" / "WolfgangLanger_Pexels.mp4", args.frame)
        face = tracker.track(Frame(args.frame, 0.0, image))[0]
        panel = face_panel(image, face.landmarks, f"WolfgangLanger_Pexels.mp4, frame {args.frame}")
        save(panel, ROOT / "docs" / "landmarks68_wolfgang.png")


if __name__ == "__main__":
    main()
