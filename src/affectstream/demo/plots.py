"""The demo's live plots, drawn with matplotlib (Agg) into RGB arrays: the valence/arousal
circumplex with the current point, its ±1σ ellipse and a fading trail; valence and arousal over the
last seconds; the AU intensities. One LivePlots per browser session; figures are built once and
their artists updated, which keeps a redraw to a few milliseconds."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from ..annotate import TRACK_COLOURS, track_colour, track_rgb
from ..plotting import circumplex_axes
from ..types import AU_NAMES, Affect

__all__ = ["TRACK_COLOURS", "LivePlots", "Reading", "colour", "colour_rgb"]
# the names the demo has used; one palette for the frames, the live plots and the pictures
colour, colour_rgb = track_colour, track_rgb


@dataclass
class Reading:
    """One face at one moment, as the plots need it."""

    time: float
    track_id: int
    valence: float
    arousal: float
    valence_std: float | None
    arousal_std: float | None
    au: np.ndarray

    @classmethod
    def of(cls, time: float, affect: Affect) -> Reading:
        au = affect.au or {}  # a model gives some of AU_NAMES; the others stay blank (NaN)
        return cls(time, affect.track_id, affect.valence, affect.arousal, affect.valence_std,
                   affect.arousal_std, np.array([au.get(a, np.nan) for a in AU_NAMES]))


def _canvas(width: float, height: float) -> tuple[Figure, FigureCanvasAgg]:
    figure = Figure(figsize=(width, height), dpi=80)
    return figure, FigureCanvasAgg(figure)


class _Blit:
    """A figure whose static parts are drawn once; each frame restores them and draws only the
    changing artists (created with animated=True), a few ms instead of a full redraw."""

    def __init__(self, figure: Figure, canvas: FigureCanvasAgg):
        self.figure, self.canvas, self.background = figure, canvas, None

    def pixels(self, artists) -> np.ndarray:
        if self.background is None:
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.canvas.restore_region(self.background)
        for artist in artists:
            artist.axes.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


class LivePlots:
    """History of readings (`seconds` long) and the three figures drawn from it."""

    def __init__(self, seconds: float = 10.0, trail_seconds: float = 3.0):
        self.seconds, self.trail_seconds = seconds, trail_seconds
        self.history: deque[Reading] = deque()
        self._circumplex()
        self._timeline()
        self._bars()

    def _circumplex(self) -> None:
        self.circle_figure, self.circle_canvas = _canvas(4, 4)
        ax = self.circle_axes = self.circle_figure.add_axes((0.19, 0.12, 0.78, 0.8))
        circumplex_axes(ax)
        ax.set_title("circumplex: now, ±1σ, last 3 s", fontsize=10)
        self.trail = ax.scatter([], [], s=12, linewidths=0, animated=True)
        self.points = ax.scatter([], [], s=60, edgecolors="black", linewidths=0.8, zorder=3,
                                 animated=True)
        self.ellipses: list[Ellipse] = []
        self.circle_blit = _Blit(self.circle_figure, self.circle_canvas)

    def _timeline(self) -> None:
        self.time_figure, self.time_canvas = _canvas(6, 2.6)
        ax = self.time_axes = self.time_figure.add_axes((0.08, 0.2, 0.9, 0.66))
        ax.set(ylim=(-1.05, 1.05), xlim=(-self.seconds, 0), xlabel="seconds ago")
        ax.axhline(0, color="#bbb", lw=0.8)
        self.valence_line, = ax.plot([], [], color="#1f77b4", label="valence", animated=True)
        self.arousal_line, = ax.plot([], [], color="#d62728", label="arousal", animated=True)
        self.bands = []
        ax.legend(loc="upper left", fontsize=8, ncols=2)
        ax.set_title("first face, last 10 s (band: ±1σ)", fontsize=10)
        self.time_blit = _Blit(self.time_figure, self.time_canvas)

    def _bars(self) -> None:
        self.au_figure, self.au_canvas = _canvas(6, 2.6)
        ax = self.au_axes = self.au_figure.add_axes((0.1, 0.22, 0.88, 0.64))
        self.au_bars = ax.bar(range(len(AU_NAMES)), np.zeros(len(AU_NAMES)), color="#2ca02c",
                              animated=True)
        ax.set(ylim=(0, 5), xticks=range(len(AU_NAMES)), ylabel="intensity 0–5")
        ax.set_xticklabels(AU_NAMES, fontsize=8, rotation=45)
        ax.set_title("action units, first face", fontsize=10)
        self.au_blit = _Blit(self.au_figure, self.au_canvas)

    def add(self, time: float, rows: list[Affect]) -> None:
        """The readings of one frame (faces with a track id; held rows included)."""
        self.history.extend(Reading.of(time, r) for r in rows
                            if r.track_id is not None and r.valence is not None)
        while self.history and time - self.history[0].time > self.seconds:
            self.history.popleft()

    def draw(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(circumplex, timeline, AU bars) as RGB arrays."""
        latest = {}
        for r in self.history:
            if now - r.time < 0.5:  # a face not seen for half a second is no longer "now"
                latest[r.track_id] = r
        first = min(latest, default=None)  # the main face: the lowest id in view
        return (self._draw_circumplex(now, latest), self._draw_timeline(now, first),
                self._draw_bars(latest.get(first)))

    def _draw_circumplex(self, now: float, latest: dict[int, Reading]) -> np.ndarray:
        trail = [r for r in self.history if now - r.time <= self.trail_seconds]
        if trail:
            rgba = np.array([to_rgba(colour(r.track_id),
                                     0.08 + 0.5 * (1 - (now - r.time) / self.trail_seconds))
                             for r in trail])
            self.trail.set_offsets([(r.valence, r.arousal) for r in trail])
            self.trail.set_facecolors(rgba)
        else:
            self.trail.set_offsets(np.empty((0, 2)))
        for e in self.ellipses:
            e.remove()
        self.ellipses = []
        now_points = list(latest.values())
        self.points.set_offsets([(r.valence, r.arousal) for r in now_points] or np.empty((0, 2)))
        self.points.set_facecolors([colour(r.track_id) for r in now_points] or "none")
        for r in now_points:
            if r.valence_std is not None:
                e = Ellipse((r.valence, r.arousal), 2 * r.valence_std, 2 * r.arousal_std, alpha=0.2,
                            color=colour(r.track_id), animated=True)
                self.circle_axes.add_patch(e)
                self.ellipses.append(e)
        return self.circle_blit.pixels([*self.ellipses, self.trail, self.points])

    def _draw_timeline(self, now: float, track_id: int | None) -> np.ndarray:
        rows = [r for r in self.history if r.track_id == track_id]
        t = np.array([r.time - now for r in rows])
        v = np.array([r.valence for r in rows])
        a = np.array([r.arousal for r in rows])
        self.valence_line.set_data(t, v)
        self.arousal_line.set_data(t, a)
        for band in self.bands:
            band.remove()
        self.bands = []
        if rows and rows[-1].valence_std is not None:
            for values, stds, c in ((v, [r.valence_std for r in rows], "#1f77b4"),
                                    (a, [r.arousal_std for r in rows], "#d62728")):
                stds = np.array(stds, float)
                self.bands.append(self.time_axes.fill_between(t, values - stds, values + stds,
                                                              color=c, alpha=0.15, linewidth=0,
                                                              animated=True))
        return self.time_blit.pixels([*self.bands, self.valence_line, self.arousal_line])

    def _draw_bars(self, reading: Reading | None) -> np.ndarray:
        values = reading.au if reading is not None else np.zeros(len(AU_NAMES))
        for bar, value in zip(self.au_bars, values):
            bar.set_height(0.0 if np.isnan(value) else float(value))  # NaN: not given
        return self.au_blit.pixels(self.au_bars)

