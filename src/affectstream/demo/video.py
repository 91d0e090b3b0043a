"""The video tab's outputs: the annotated video (PyAV, H.264 that browsers play) and the
valence/arousal timeline and AU heat strip of a whole file (matplotlib)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import av
import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..types import AU_NAMES, Affect, main_track


def annotate_video(source, rows: list[Affect], out: Path, draw, frames: int | None = None) -> Path:
    """`source` re-encoded with `draw(image, rows of that frame)` on every frame (the first
    `frames` of them, when the analysis stopped at the length limit)."""
    by_frame = defaultdict(list)
    for r in rows:
        by_frame[r.frame].append(r)
    with av.open(str(source)) as container, av.open(str(out), "w") as output:
        stream_in = container.streams.video[0]
        rate = stream_in.average_rate or 30
        stream = output.add_stream("libx264", rate=rate,
                                   options={"preset": "veryfast", "crf": "23"})
        stream.pix_fmt = "yuv420p"
        for index, frame in enumerate(container.decode(stream_in)):
            if frames is not None and index >= frames:
                break
            image = frame.to_ndarray(format="rgb24")
            if index == 0:
                stream.width, stream.height = image.shape[1] // 2 * 2, image.shape[0] // 2 * 2
            image = draw(image, by_frame.get(index, []))[:stream.height, :stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image),
                                                                   format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return out


def save_png(image: np.ndarray, path: Path) -> str:
    """Write an (H, W, 3) RGB image; the path, as an output component takes it."""
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return str(path)


def _render(figure: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _first_face(rows: list[Affect]) -> list[Affect]:
    first = main_track(rows)
    return [r for r in rows if r.track_id == first and r.valence is not None]


def va_timeline(rows: list[Affect]) -> np.ndarray:
    """Valence and arousal of the first face over the video, with ±1σ bands where there are stds."""
    figure = Figure(figsize=(8, 2.8), dpi=80, layout="constrained")
    ax = figure.add_subplot()
    face = _first_face(rows)
    t = np.array([r.timestamp for r in face])
    for name, c in (("valence", "#1f77b4"), ("arousal", "#d62728")):
        values = np.array([getattr(r, name) for r in face])
        ax.plot(t, values, color=c, label=name)
        stds = [getattr(r, f"{name}_std") for r in face]
        if face and all(s is not None for s in stds):
            ax.fill_between(t, values - np.array(stds), values + np.array(stds), color=c,
                            alpha=0.15, linewidth=0)
    ax.axhline(0, color="#bbb", lw=0.8)
    ax.set(ylim=(-1.05, 1.05), xlabel="seconds",
           title="first face: valence and arousal (band: ±1σ)")
    ax.legend(loc="upper right", fontsize=8, ncols=2)
    return _render(figure)


def au_strip(rows: list[Affect]) -> np.ndarray:
    """A heat strip: the 12 AU intensities of the first face (rows) over time (columns)."""
    figure = Figure(figsize=(8, 2.8), dpi=80, layout="constrained")
    ax = figure.add_subplot()
    face = _first_face(rows)
    values = (np.array([[r.au[a] for a in AU_NAMES] for r in face]).T if face
              else np.zeros((len(AU_NAMES), 1)))
    end = face[-1].timestamp if face else 1.0
    image = ax.imshow(values, aspect="auto", cmap="magma", vmin=0, vmax=5, interpolation="nearest",
                      extent=(0, end, len(AU_NAMES) - 0.5, -0.5))
    ax.set(yticks=range(len(AU_NAMES)), xlabel="seconds", title="first face: AU intensity 0–5")
    ax.set_yticklabels(AU_NAMES, fontsize=7)
    figure.colorbar(image, ax=ax, pad=0.01)
    return _render(figure)
