"""`affectstream plot` (a picture per CSV, both formats) and `affectstream process --annotate`
(the annotated video, one frame per input frame), on real clips through the real CLI."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the plot extra is not installed")
pytest.importorskip("pandas", reason="the plot extra is not installed")
import av  # noqa: E402
import matplotlib.image  # noqa: E402
import pandas as pd  # noqa: E402

from affectstream.annotate import TRACK_COLOURS, track_rgb  # noqa: E402


def cli(*args):
    return subprocess.run([sys.executable, "-m", "affectstream.cli", *map(str, args)],
                          capture_output=True, text=True, env=dict(os.environ), timeout=300)


def one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("affectstream: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def results(media, video, tmp_path_factory) -> Path:
    """single_face.mp4 (72 frames, one face) and multi_face.jpg (four faces), processed once
    into one folder, with their annotated videos."""
    out = tmp_path_factory.mktemp("plot") / "out"
    result = cli("process", video("single_face.mp4"), media / "images" / "multi_face.jpg",
                 "-o", out, "--annotate", out, "-q")
    assert result.returncode == 0, result.stderr
    assert f"annotated video -> {out / 'single_face_annotated.mp4'}" in result.stdout
    return out


def pixels(png: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PNG."""
    image = matplotlib.image.imread(png)
    return np.round(image[..., :3] * 255).astype(np.uint8)


def near(image: np.ndarray, rgb, tolerance: int) -> int:
    """How many pixels are within `tolerance` of `rgb` in every channel."""
    return int((np.abs(image.astype(int) - np.array(rgb)) <= tolerance).all(axis=-1).sum())


def band(rgb, alpha: float = 0.2) -> tuple[int, ...]:
    """`rgb` at `alpha` over white: a ±1σ band's colour."""
    return tuple(round(255 + alpha * (c - 255)) for c in rgb)


def test_plot_draws_each_file(results, tmp_path):
    pictures = tmp_path / "pictures"
    result = cli("plot", results / "single_face.csv", results / "multi_face.csv", "-o", pictures)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in pictures.iterdir()) == ["multi_face.png", "single_face.png"]
    image = pixels(pictures / "single_face.png")
    assert image.shape == (800, 1300, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 500  # lines, bands, a heat strip
    assert 0.05 < (image.sum(axis=-1) < 600).mean() < 0.9  # drawn on, not blank, not filled
    assert near(image, track_rgb(0), 12) > 500  # face 0's lines and path
    timelines = image[:450, :850]  # valence and arousal over time (the top left)
    assert near(timelines, band(track_rgb(0)), 3) > 2000  # ±1σ bands (the AP gives stds)
    multi = pixels(pictures / "multi_face.png")
    for face in range(4):  # every face of the photo has its colour in the circumplex
        assert near(multi, track_rgb(face), 12) > 20, TRACK_COLOURS[face]


def test_no_bands_where_the_std_columns_are_empty(results, tmp_path):
    """A model without uncertainty leaves valence_std/arousal_std empty: lines, no bands."""
    table = pd.read_csv(results / "single_face.csv", keep_default_na=False, dtype=str)
    table[["valence_std", "arousal_std"]] = ""
    table.to_csv(tmp_path / "no_std.csv", index=False)
    assert cli("plot", tmp_path / "no_std.csv").returncode == 0  # beside the CSV by default
    image = pixels(tmp_path / "no_std.png")
    assert near(image, track_rgb(0), 12) > 500
    assert near(image[:450, :850], band(track_rgb(0)), 3) < 400  # only the lines' smoothed edges


def test_plot_reads_the_openface_format(video, tmp_path):
    result = cli("process", video("single_face.mp4"), "--format", "openface",
                 "-o", tmp_path / "openface.csv", "-q")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "openface.csv").read_text().startswith("frame, face_id")
    result = cli("plot", tmp_path / "openface.csv", "-o", tmp_path / "openface.png")
    assert result.returncode == 0, result.stderr
    image = pixels(tmp_path / "openface.png")
    # the AU heat strip of face 0 (OpenFace's CSV has no valence or arousal to draw)
    assert image.shape == (800, 1300, 3) and len(np.unique(image.reshape(-1, 3), axis=0)) > 200


def test_plot_errors_are_one_line(tmp_path):
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    assert "no frame and timestamp columns" in one_line_error(cli("plot", tmp_path / "notes.csv"))
    assert "no such file" in one_line_error(cli("plot", tmp_path / "missing.csv"))
    assert not (tmp_path / "notes.png").exists()


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_annotated_video_has_every_frame_with_the_faces_drawn(results, video):
    frames = decoded(results / "single_face_annotated.mp4")
    originals = decoded(video("single_face.mp4"))
    assert len(frames) == len(originals) == 72
    assert frames[0].shape == originals[0].shape
    x, y, w, h = (int(round(v)) for v in pd.read_csv(results / "single_face.csv").loc[
        0, ["face_x", "face_y", "face_w", "face_h"]])
    edge = frames[0][y + h - 2:y + h + 3, x:x + w]  # the box's bottom edge, in face 0's colour
    assert near(edge, track_rgb(0), 40) > 0.8 * w
    away = np.s_[y + h + 20:, :]  # below the box nothing is drawn: the frame as it was
    assert np.abs(frames[0][away].astype(int) - originals[0][away]).mean() < 4
    still = decoded(results / "multi_face_annotated.mp4")
    assert len(still) == 1
    for face in range(4):
        assert near(still[0], track_rgb(face), 40) > 100, TRACK_COLOURS[face]


def test_annotate_names_a_folder_for_several_inputs(media, video, tmp_path):
    line = one_line_error(cli("process", video("single_face.mp4"), media / "images" /
                              "multi_face.jpg", "-o", tmp_path, "--annotate", tmp_path / "a.mp4"))
    assert "give a folder (--annotate videos/)" in line
    assert list(tmp_path.iterdir()) == []  # refused before any work
    line = one_line_error(cli("process", video("single_face.mp4"), "-o", tmp_path / "x.csv",
                              "--annotate", video("single_face.mp4")))
    assert "would overwrite the input" in line
