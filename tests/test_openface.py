"""`--format openface` (OpenFace 2.2's CSV), the default CSV's geometry columns and JSONL's arrays.

py-feat's `read_openface` is rebuilt here with pandas alone (its `feat/utils` column groups), so
the OpenFace file is read exactly as py-feat reads an OpenFace file.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import affectstream as af
from affectstream.cli import main
from affectstream.geometry import euler_from_matrix
from affectstream.types import Affect
from affectstream.writers.csv import csv_columns, csv_row
from affectstream.writers.jsonl import affect_dict
from affectstream.writers.openface import (
    EMPTY_COLUMNS,
    OMITTED_COLUMNS,
    OPENFACE_COLUMNS,
    OpenFaceWriter,
    openface_line,
    openface_rotation,
    openface_row,
)

# py-feat's OpenFace groups (feat/utils/__init__.py), spelled out again
AU_NUMBERS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
PYFEAT_AUS = ([f"AU{n:02d}_r" for n in AU_NUMBERS]
              + sorted(f"AU{n:02d}_c" for n in AU_NUMBERS + (28,)))
PYFEAT_LANDMARKS = [f"{a}_{i}" for a in "xy" for i in range(68)]
PYFEAT_LANDMARKS_3D = [f"{a}_{i}" for a in "XYZ" for i in range(68)]
PYFEAT_POSES = ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
PYFEAT_GAZES = [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"]
PYFEAT_TIME = ["frame", "timestamp", "confidence", "success"]
GAZE = PYFEAT_GAZES + ["gaze_angle_x", "gaze_angle_y"]
WIDTH, HEIGHT = 640, 360  # WolfgangLanger_Pexels.mp4


def in_frame(points: pd.DataFrame, size: int) -> bool:
    """Pixel coordinates in the frame; a chin at its edge may be placed a little past it."""
    values = points.stack().dropna()
    return values.between(-0.05 * size, 1.05 * size).all() and values.between(0, size).mean() > 0.98


def read_openface(path) -> pd.DataFrame:
    """What py-feat's read_openface does before it picks columns: pandas' defaults, names
    stripped."""
    d = pd.read_csv(path, sep=",")
    d.columns = d.columns.str.strip(" ")
    return d


def openface_matrix(rx: float, ry: float, rz: float) -> np.ndarray:
    """OpenFace's Euler2RotationMatrix: R = Rx Ry Rz."""
    s1, s2, s3, c1, c2, c3 = (math.sin(rx), math.sin(ry), math.sin(rz), math.cos(rx),
                              math.cos(ry), math.cos(rz))
    return np.array([[c2 * c3, -c2 * s3, s2],
                     [c1 * s3 + c3 * s1 * s2, c1 * c3 - s1 * s2 * s3, -c2 * s1],
                     [s1 * s3 - c1 * c3 * s2, c3 * s1 + c1 * s2 * s3, c1 * c2]])


@pytest.fixture(scope="module")
def clip(video, tmp_path_factory):
    """The first 60 frames of WolfgangLanger_Pexels.mp4 (a talking head, turned ~14°)."""
    import av

    path = tmp_path_factory.mktemp("clip") / "wolfgang60.mp4"
    with av.open(str(video("WolfgangLanger_Pexels.mp4"))) as src, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=src.streams.video[0].average_rate)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 60:
                break
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"),
                                                             format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def openface_alone(clip, tmp_path_factory):
    """`affectstream process clip -o out.csv --format openface`: no other flag."""
    out = tmp_path_factory.mktemp("openface") / "out.csv"
    assert main(["process", str(clip), "-o", str(out), "--format", "openface", "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def with_68_and_gaze(clip, tmp_path_factory):
    """`--format csv,openface --landmarks 68 --gaze --jsonl` into a folder."""
    folder = tmp_path_factory.mktemp("both")
    assert main(["process", str(clip), "-o", str(folder), "--format", "csv,openface",
                 "--landmarks", "68", "--gaze", "--jsonl", "-q"]) == 0
    return folder


@pytest.fixture(scope="module")
def with_478(clip, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mesh")
    with af.AffectStream(landmarks="478") as pipeline:
        pipeline.run(clip, csv=folder / "out.csv", jsonl=folder / "out.jsonl")
    return folder


# --- the OpenFace file ----------------------------------------------------------------------

def test_header_is_openface_2_2(media):
    reference = (media / "reference" / "OpenFace_Test.csv").open().readline().rstrip("\n")
    columns = [c.strip() for c in reference.split(",")]
    assert len(OPENFACE_COLUMNS) == 714 and len(set(OPENFACE_COLUMNS)) == 714
    # OpenFace 2.0's file (the reference) is 2.2's without face_id, gaze angles and eye points
    added_in_2_2 = ("face_id", "gaze_angle_x", "gaze_angle_y")
    assert [c for c in OPENFACE_COLUMNS
            if c not in added_in_2_2 and not c.startswith("eye_lmk_")] == columns
    kept = [c for c in columns if c not in OMITTED_COLUMNS]
    assert [c for c in OPENFACE_COLUMNS if c in kept] == kept  # all there, in the same order
    assert list(OPENFACE_COLUMNS[:5]) == ["frame", "face_id", "timestamp", "confidence",
                                          "success"]
    assert sum(c.startswith("eye_lmk_") for c in OPENFACE_COLUMNS) == 5 * 56


def test_py_feat_reads_the_groups_as_numbers(openface_alone):
    assert openface_alone.read_text().splitlines()[0] == ", ".join(OPENFACE_COLUMNS)
    df = read_openface(openface_alone)
    assert len(df) == 60 and list(df.columns) == list(OPENFACE_COLUMNS)
    groups = {"aus": PYFEAT_AUS, "landmarks": PYFEAT_LANDMARKS, "3d": PYFEAT_LANDMARKS_3D,
              "poses": PYFEAT_POSES, "gazes": PYFEAT_GAZES, "time": PYFEAT_TIME}
    sizes = {name: df[cols].shape[1] for name, cols in groups.items()}
    assert sizes == {"aus": 35, "landmarks": 136, "3d": 204, "poses": 6, "gazes": 6, "time": 4}
    assert all(pd.api.types.is_numeric_dtype(df[c]) for c in df.columns)


def test_values_in_openface_units(openface_alone):
    df = read_openface(openface_alone)
    assert df.frame.tolist() == list(range(1, 61)) and (df.success == 1).all()
    assert (df.face_id == 0).all() and df.confidence.between(0, 1).all()
    assert df.timestamp.iloc[0] == 0 and df.timestamp.is_monotonic_increasing
    assert df.timestamp.iloc[-1] == pytest.approx(59 * 1001 / 24000, abs=0.001)
    filled = GAZE + PYFEAT_POSES + PYFEAT_LANDMARKS + PYFEAT_LANDMARKS_3D
    assert df[filled].notna().all().all()
    assert (df[["pose_Rx", "pose_Ry", "pose_Rz"]].abs() < math.pi).all().all()
    assert df.pose_Ry.mean() > 0.15  # he turns to his right, towards the image's left (~14°)
    assert df.pose_Tz.between(200, 2000).all()
    assert in_frame(df[[f"x_{i}" for i in range(68)]], WIDTH)
    assert in_frame(df[[f"y_{i}" for i in range(68)]], HEIGHT)
    assert df[[f"Z_{i}" for i in range(68)]].stack().between(100, 3000).all()
    for eye in (0, 1):
        norm = np.linalg.norm(df[[f"gaze_{eye}_{a}" for a in "xyz"]].to_numpy(), axis=1)
        assert np.allclose(norm, 1, atol=1e-5)
    assert (df[[f"gaze_{e}_z" for e in (0, 1)]] < 0).all().all()  # towards the camera
    for axis in "xyXYZ":  # the points MediaPipe has are there in every row; the others never
        eye = df[[f"eye_lmk_{axis}_{i}" for i in range(56)]]
        assert eye.notna().sum(axis=1).min() >= 40
        assert (eye.notna().all() | eye.isna().all()).all()
    assert in_frame(df[[f"eye_lmk_x_{i}" for i in range(56)]], WIDTH)
    assert df[list(EMPTY_COLUMNS)].isna().all().all()
    given = df[[c for c in PYFEAT_AUS if c.endswith("_r")]].dropna(axis=1, how="all")
    assert given.shape[1] >= 12 and given.stack().between(0, 5).all()
    presence = df[[c for c in PYFEAT_AUS if c.endswith("_c")]].stack()
    assert set(presence.dropna().unique()) <= {0.0, 1.0}


def test_pose_agrees_with_the_3d_landmarks(openface_alone):
    """Turned back by pose_R* (OpenFace's R = Rx Ry Rz), the 3-D face (back-projected from the
    mesh, independently of MediaPipe's pose) is frontal and upright; a sign error would leave it
    turned by twice the angle (~28° here): mean depth asymmetry 0.33 instead of 0.09."""
    df = read_openface(openface_alone)
    yaw, roll = [], []
    for _, row in df.iterrows():
        points = np.stack([row[[f"{a}_{i}" for i in range(68)]].to_numpy(float)
                           for a in "XYZ"], axis=1)
        rotation = openface_matrix(row.pose_Rx, row.pose_Ry, row.pose_Rz)
        face = (points - points.mean(0)) @ rotation  # R^T (p - centre), row by row
        width = face[16, 0] - face[0, 0]
        assert width > 0  # the jaw's image-left end (0) is at smaller x
        yaw.append(abs(face[16, 2] - face[0, 2]) / width)  # jaw ends at one depth
        roll.append(abs(face[45, 1] - face[36, 1]) / width)  # outer eye corners at one height
        assert face[30, 2] < min(face[0, 2], face[16, 2])  # the nose towards the camera
        assert face[8, 1] > face[27, 1]  # the chin below the bridge of the nose (y down)
    assert max(yaw) < 0.15 and np.mean(yaw) < 0.12
    assert max(roll) < 0.08 and np.mean(roll) < 0.06


def test_rotation_convention():
    assert openface_rotation((0, 0, 0)) == pytest.approx((0, 0, 0))
    # pitch: both positive when the head tilts down; yaw and roll change sign (y and z flip)
    assert openface_rotation((10, 0, 0)) == pytest.approx((math.radians(10), 0, 0))
    assert openface_rotation((0, 20, 0)) == pytest.approx((0, -math.radians(20), 0))
    assert openface_rotation((0, 0, 15)) == pytest.approx((0, 0, -math.radians(15)))
    flip = np.diag([1.0, -1.0, -1.0])  # OpenGL axes (MediaPipe) to OpenCV axes (OpenFace)
    rng = np.random.default_rng(0)
    for pitch, yaw, roll in rng.uniform(-60, 60, (50, 3)):
        p, y, r = np.radians([pitch, yaw, roll])
        rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
        ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
        mediapipe = np.eye(4)
        mediapipe[:3, :3] = rz @ ry @ rx
        assert euler_from_matrix(mediapipe) == pytest.approx((pitch, yaw, roll))  # ours
        assert openface_matrix(*openface_rotation((pitch, yaw, roll))) == pytest.approx(
            flip @ mediapipe[:3, :3] @ flip, abs=1e-9)


def _write(tmp_path, frames: list[list[Affect]]):
    writer = OpenFaceWriter()
    writer.open(tmp_path / "of.csv")
    for rows in frames:
        writer.write(rows)
    return writer.close()


def test_frames_without_a_face_and_held_rows(tmp_path):
    path = _write(tmp_path, [[Affect(frame=0, timestamp=0.0)],
                             [Affect(frame=1, timestamp=0.0417, track_id=3,
                                     au={"AU12": 1.5, "AU25": 0.25}, valence=0.2)]])
    lines = path.read_text().splitlines()
    assert lines[1] == "1,, 0.000,, 0" + "," * (714 - 5)
    df = read_openface(path)
    assert all(pd.api.types.is_numeric_dtype(df[c]) for c in df.columns)
    assert df.frame.tolist() == [1, 2] and df.success.tolist() == [0, 0]
    assert df.iloc[0].drop(["frame", "timestamp", "success"]).isna().all()
    held = df.iloc[1]
    assert held.face_id == 3 and held.timestamp == 0.042
    assert held.AU12_r == 1.5 and held.AU25_r == 0.25
    assert held.drop(["frame", "face_id", "timestamp", "success", "AU12_r", "AU25_r"]).isna().all()


def test_cells_have_openface_decimals_and_nan_is_empty():
    landmarks = np.linspace(10.0, 300.0, 478 * 3).reshape(478, 3).astype(np.float32)
    a = Affect(frame=4, timestamp=1.23456, track_id=0, box=(1, 2, 3, 4), score=0.9876,
               pose=(10.0, -5.0, 2.0), translation=(12.34, -5.0, 612.0), landmarks=landmarks,
               landmarks_3d=landmarks * 0.5, gaze=np.array([[0.1, 0.2, -0.9747], [0, 0, -1.0]]),
               gaze_angle=(0.12345, float("nan")), au={"AU01": 1.234},
               au_presence={"AU01": 1, "AU28": 0})
    row = dict(zip(OPENFACE_COLUMNS, openface_row(a)))
    assert (row["frame"], row["timestamp"], row["confidence"], row["success"]) == (
        "5", "1.235", "0.99", "1")
    assert (row["gaze_0_z"], row["gaze_angle_x"], row["gaze_angle_y"]) == ("-0.974700", "0.123",
                                                                           "")
    assert (row["pose_Tx"], row["pose_Tz"]) == ("12.3", "612.0")
    assert row["pose_Ry"] == f"{openface_rotation(a.pose)[1]:.3f}"
    assert row["x_0"] == f"{landmarks[127, 0]:.1f}"  # iBUG point 0 is mesh point 127
    assert row["Z_8"] == f"{landmarks[152, 2] * 0.5:.1f}"
    assert (row["AU01_r"], row["AU02_r"], row["AU01_c"], row["AU28_c"]) == ("1.23", "", "1.0",
                                                                          "0.0")
    assert all(row[c] == "" for c in EMPTY_COLUMNS)
    line = openface_line(list(row.values()))
    assert line.startswith("5, 0, 1.235, 0.99, 1, 0.100000,") and ",," in line


def test_outputs_do_not_depend_on_the_flags_and_sit_beside_the_csv(openface_alone,
                                                                    with_68_and_gaze):
    names = sorted(p.name for p in with_68_and_gaze.iterdir())
    assert names == ["affectstream-batch.csv", "wolfgang60.csv", "wolfgang60.jsonl",
                     "wolfgang60.openface.csv"]
    # two runs, other flags: the same bytes
    assert (with_68_and_gaze / "wolfgang60.openface.csv").read_bytes() == \
        openface_alone.read_bytes()


# --- the default CSV and JSONL ----------------------------------------------------------------

def _plain_header(columns: list[str], extra: list[str]) -> list[str]:
    assert columns[-len(extra):] == extra  # the geometry comes last
    return columns[:-len(extra)]


def test_default_csv_geometry_columns(with_68_and_gaze, with_478, tmp_path):
    both = pd.read_csv(with_68_and_gaze / "wolfgang60.csv")
    mesh = pd.read_csv(with_478 / "out.csv")
    points68 = [f"{a}_{i}" for a in "xyXYZ" for i in range(68)]
    points478 = [f"{a}_{i}" for a in "xyz" for i in range(478)]
    plain = _plain_header(list(both.columns), GAZE + points68)
    assert _plain_header(list(mesh.columns), points478) == plain
    assert plain[:3] == ["frame", "timestamp", "file"]
    pose = plain.index("pose_Rx")
    assert plain[pose:pose + 6] == PYFEAT_POSES[3:] + PYFEAT_POSES[:3]
    assert [c for c in plain if c.startswith("AU")] == PYFEAT_AUS
    for df in (both, mesh):
        assert len(df) == 60 and df.file.isna().all()  # a video: no file names
        assert df.pose_Tz.between(200, 2000).all()
    assert both[points68].notna().all().all()
    assert in_frame(both[[f"y_{i}" for i in range(68)]], HEIGHT)
    assert both[[f"Z_{i}" for i in range(68)]].stack().between(100, 3000).all()
    assert np.allclose(np.linalg.norm(both[PYFEAT_GAZES[:3]].to_numpy(), axis=1), 1, atol=1e-3)
    assert mesh[points478].notna().all().all()
    assert in_frame(mesh[[f"y_{i}" for i in range(478)]], HEIGHT)
    # the iBUG points are mesh points (pixels, 2 decimals both)
    assert np.allclose(both.x_8, mesh.x_152, atol=0.011)
    presence = both[[f"AU{n:02d}_c" for n in AU_NUMBERS + (28,)]]
    assert set(presence.stack().dropna().unique()) <= {0, 1} and presence.notna().any().any()


def test_jsonl_carries_the_arrays_asked_for(with_68_and_gaze, with_478):
    records = [json.loads(line, parse_constant=pytest.fail)
               for line in (with_68_and_gaze / "wolfgang60.jsonl").read_text().splitlines()]
    assert len(records) == 60 and len({tuple(r) for r in records}) == 1
    first = records[0]
    assert np.shape(first["landmarks_68"]) == (68, 2) and np.shape(first["gaze"]) == (2, 3)
    assert np.shape(first["landmarks_68_3d"]) == (68, 3) and "landmarks" not in first
    assert len(first["translation"]) == 3 and first["file"] is None
    mesh = json.loads((with_478 / "out.jsonl").read_text().splitlines()[0])
    assert np.shape(mesh["landmarks"]) == (478, 3) and "gaze" not in mesh


def test_file_column_names_the_image(media, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("single_face.jpg", "multi_face.jpg"):
        (folder / name).write_bytes((media / "images" / name).read_bytes())
    assert main(["process", str(folder), "--stills", "-o", str(tmp_path / "out.csv"), "-q"]) == 0
    df = pd.read_csv(tmp_path / "out.csv")
    assert {Path(f).name for f in df.file} == {"multi_face.jpg", "single_face.jpg"}


def test_rows_without_arrays_write_empty_cells():
    a = Affect(frame=0, timestamp=0.0)
    columns = csv_columns(("au",), af.PipelineOptions(landmarks="478", gaze=True))
    row = dict(zip(columns, csv_row(a, columns)))
    assert row["frame"] == "0" and row["x_0"] == row["z_477"] == row["gaze_angle_y"] == ""
    assert row["AU28_c"] == row["pose_Tx"] == row["file"] == ""
    d = affect_dict(a, af.PipelineOptions(landmarks="68", gaze=True))
    assert d["landmarks_68"] is None and d["gaze"] is None and d["success"] is False
    assert "landmarks_68" not in affect_dict(a)
