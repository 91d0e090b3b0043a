"""Pictures of a whole run, drawn from its table (`tables.read_csv` or `to_dataframe`) with
matplotlib's Agg canvas (no display, no pyplot state): valence and arousal over time per face with
±1σ bands, an AU heat strip (AUs × time) of the main face, and the valence × arousal circumplex
with each face's trajectory. `affectstream plot` and the demo's video tab draw with these.

Works on both CSV formats: only `frame`, `timestamp`, `face_id` and whichever of `valence`,
`arousal`, `*_std` and `AUxx_r` the file has are read.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from .annotate import track_colour
from .errors import WriteError
from .tables import read_csv

AU_COLUMN = re.compile(r"AU\d\d_r")
QUADRANTS = ((0.72, 0.72, "excited"), (-0.72, 0.72, "tense"), (-0.72, -0.72, "sad"),
             (0.72, -0.72, "calm"))
FEW_POINTS = 30  # below this many frames a face's points are marked, or one frame would not show


def render(figure: Figure) -> np.ndarray:
    """The figure as an (H, W, 3) uint8 RGB array."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def face_ids(table) -> list[int]:
    """The faces of a run, in id order (held rows count: they carry values)."""
    return sorted(int(i) for i in table["face_id"].dropna().unique())


def main_face(table) -> int | None:
    """The main face: the lowest id among detected rows (types.main_track's rule)."""
    detected = table.loc[table["success"], "face_id"].dropna()
    return int(detected.min()) if len(detected) else None


def frame_times(table):
    """Series frame -> timestamp, one entry per frame of the run, in frame order."""
    return table.groupby("frame", sort=True)["timestamp"].first()


def face_values(table, face: int, column: str, times) -> np.ndarray:
    """(len(times),) float: the face's `column` at every frame, NaN where it has no row (so
    lines break where the face was not seen) or the cell is empty."""
    rows = table.loc[table["face_id"] == face, ["frame", column]].drop_duplicates("frame")
    return rows.set_index("frame")[column].reindex(times.index).to_numpy(float, na_value=np.nan)


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color="#888", transform=ax.transAxes)


def draw_timeline(ax, table, name: str) -> None:
    """`name` ('valence' or 'arousal') over time, one line per face in its colour, with a ±1σ
    band where the file has `name_std` values."""
    ax.axhline(0, color="#bbb", lw=0.8)
    ax.set(ylim=(-1.05, 1.05), ylabel=name)
    if name not in table or not table[name].notna().any():
        _empty(ax, f"no {name} in this file")
        return
    times = frame_times(table)
    t = times.to_numpy(float)
    marker = "o" if len(t) < FEW_POINTS else None
    for face in face_ids(table):
        values = face_values(table, face, name, times)
        colour = track_colour(face)
        ax.plot(t, values, color=colour, lw=1.3, marker=marker, ms=4, label=f"face {face}")
        if f"{name}_std" in table:
            std = face_values(table, face, f"{name}_std", times)
            ax.fill_between(t, values - std, values + std, where=np.isfinite(std),
                            color=colour, alpha=0.2, linewidth=0)
    ax.legend(loc="upper right", fontsize=7, ncols=4)


def draw_au_strip(ax, table, face: int | None):
    """The face's AU intensities (rows, in the file's order) over time (columns), 0–5; frames
    without the face are blank. Returns the mesh (for a colour bar), or None when there is
    nothing to draw."""
    names = [c for c in table.columns if AU_COLUMN.fullmatch(c) and table[c].notna().any()]
    if face is None or not names:
        _empty(ax, "no action-unit intensities in this file" if not names else "no face")
        return None
    times = frame_times(table)
    values = np.array([face_values(table, face, c, times) for c in names])
    cmap = colormaps["magma"].with_extremes(bad="#f4f4f4")
    mesh = ax.pcolormesh(_edges(times.to_numpy(float)), np.arange(len(names) + 1) - 0.5,
                         np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=5)
    ax.set_yticks(range(len(names)), [c.removesuffix("_r") for c in names], fontsize=7)
    ax.set(ylim=(len(names) - 0.5, -0.5), xlabel="seconds")
    ax.set_title(f"face {face}: action-unit intensity 0–5", fontsize=10)
    return mesh


def _edges(t: np.ndarray) -> np.ndarray:
    """Cell edges around the frame times: halfway between frames, a frame step at both ends."""
    if len(t) == 1:
        return np.array([t[0] - 0.5, t[0] + 0.5])
    middle = (t[1:] + t[:-1]) / 2
    return np.concatenate([[2 * t[0] - middle[0]], middle, [2 * t[-1] - middle[-1]]])


def circumplex_axes(ax) -> None:
    """The valence × arousal plane: unit circle, axes through 0, the quadrants' names."""
    ax.add_patch(Circle((0, 0), 1, fill=False, color="#999", lw=1))
    ax.axhline(0, color="#bbb", lw=0.8)
    ax.axvline(0, color="#bbb", lw=0.8)
    for x, y, text in QUADRANTS:
        ax.text(x, y, text, ha="center", va="center", color="#888", fontsize=9)
    ax.set(xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), xlabel="valence", ylabel="arousal",
           aspect="equal")


def draw_circumplex(ax, table) -> None:
    """Each face's path through the plane (fading from its start) and its last point."""
    circumplex_axes(ax)
    ax.set_title("circumplex: each face's path", fontsize=10)
    if not {"valence", "arousal"} <= set(table.columns) or not table["valence"].notna().any():
        _empty(ax, "no valence/arousal in this file")
        return
    for face in face_ids(table):
        rows = table.loc[table["face_id"] == face, ["valence", "arousal"]].dropna()
        if rows.empty:
            continue
        v, a = rows["valence"].to_numpy(float), rows["arousal"].to_numpy(float)
        colour = track_colour(face)
        ax.plot(v, a, color=colour, lw=0.8, alpha=0.45)
        ax.scatter(v, a, s=8, color=colour, alpha=np.linspace(0.15, 0.8, len(v)), linewidths=0)
        ax.scatter(v[-1:], a[-1:], s=50, color=colour, edgecolors="black", linewidths=0.8,
                   zorder=3, label=f"face {face}")
    ax.legend(loc="lower left", fontsize=7)


def _summary(ax, table, title: str) -> None:
    ax.axis("off")
    times = frame_times(table)
    seen = table.loc[table["success"], "frame"].nunique()
    ids = face_ids(table)
    std = any(c in table and table[c].notna().any() for c in ("valence_std", "arousal_std"))
    lines = [title, f"{len(times)} frame{'s' * (len(times) != 1)}, {seen} with a face",
             f"{times.iloc[-1] - times.iloc[0]:.1f} s" if len(times) else "no frames",
             f"faces: {', '.join(map(str, ids)) or 'none'}",
             "bands: ±1σ of the temporal model" if std else "no standard deviations (no bands)"]
    ax.text(0.02, 0.95, "\n".join(lines), va="top", fontsize=9, transform=ax.transAxes)


def run_figure(table, title: str = "") -> Figure:
    """The picture of one run: valence, arousal and the AU strip over time (left), the
    circumplex and a few numbers (right)."""
    figure = Figure(figsize=(13, 8), dpi=100, layout="constrained")
    grid = figure.add_gridspec(3, 2, width_ratios=(2.3, 1), height_ratios=(1, 1, 1.3))
    valence = figure.add_subplot(grid[0, 0])
    arousal = figure.add_subplot(grid[1, 0], sharex=valence)
    strip = figure.add_subplot(grid[2, 0], sharex=valence)
    draw_timeline(valence, table, "valence")
    valence.set_title("valence and arousal per face (band: ±1σ)", fontsize=10)
    draw_timeline(arousal, table, "arousal")
    mesh = draw_au_strip(strip, table, main_face(table))
    if mesh is not None:
        figure.colorbar(mesh, ax=strip, pad=0.01)
    draw_circumplex(figure.add_subplot(grid[0:2, 1]), table)
    _summary(figure.add_subplot(grid[2, 1]), table, title)
    return figure


def timeline_figure(table) -> Figure:
    """Valence over arousal, per face, over time (the demo's video tab)."""
    figure = Figure(figsize=(8, 3.6), dpi=80, layout="constrained")
    valence = figure.add_subplot(2, 1, 1)
    draw_timeline(valence, table, "valence")
    valence.set_title("valence and arousal per face (band: ±1σ)", fontsize=10)
    draw_timeline(figure.add_subplot(2, 1, 2, sharex=valence), table, "arousal")
    figure.axes[-1].set_xlabel("seconds")
    return figure


def au_figure(table) -> Figure:
    """The main face's AU heat strip (the demo's video tab)."""
    figure = Figure(figsize=(8, 2.8), dpi=80, layout="constrained")
    ax = figure.add_subplot()
    mesh = draw_au_strip(ax, table, main_face(table))
    if mesh is not None:
        figure.colorbar(mesh, ax=ax, pad=0.01)
    return figure


def plot_csv(csv: str | os.PathLike, png: str | os.PathLike) -> Path:
    """Read a result CSV (either format) and write its run picture to `png`."""
    table = read_csv(csv)
    png = Path(png)
    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        FigureCanvasAgg(run_figure(table, Path(csv).name)).print_png(str(png))
    except OSError as e:
        raise WriteError(f"{png}: cannot write here ({e.strerror or e}); choose another output "
                         "path") from None
    return png
