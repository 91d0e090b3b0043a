"""`--format parquet`: the CSV's rows and columns, typed, readable by pandas, polars and DuckDB."""
import subprocess
import sys

import numpy as np
import pytest

import affectstream as af

pytest.importorskip("pyarrow", reason="the [parquet] extra is not installed")


def run(*args):
    return subprocess.run([sys.executable, "-m", "affectstream.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def both(video, tmp_path_factory):
    """single_face.mp4 then a clip with and without a face, as CSV and Parquet in one run."""
    out = tmp_path_factory.mktemp("parquet")
    result = run("process", video("single_face.mp4"), video("face_noface.mov"), "-o", out,
                 "--format", "csv,parquet", "--quiet", "--gaze")
    assert result.returncode == 0, result.stderr
    return out


def test_parquet_holds_the_csv_rows_with_their_types(both):
    import pandas as pd

    for stem in ("single_face", "face_noface"):
        csv, parquet = af.read_csv(both / f"{stem}.csv"), pd.read_parquet(both / f"{stem}.parquet")
        assert list(parquet.columns) == list(csv.columns) and len(parquet) == len(csv)
        assert str(parquet.frame.dtype) == "int64" and str(parquet.success.dtype) == "bool"
        assert parquet.face_id.isna().equals(csv.face_id.isna())  # no-face rows: null ids
        assert (parquet.face_id.dropna().astype(int) == csv.face_id.dropna().astype(int)).all()
        numbers = [c for c in csv.columns if str(csv[c].dtype) == "float64"]
        # the CSV rounds (boxes and millimetres to 0.1); Parquet keeps full precision
        assert np.allclose(parquet[numbers].to_numpy(float), csv[numbers].to_numpy(float),
                           rtol=0, atol=0.0501, equal_nan=True)
        assert not np.allclose(parquet.valence, csv.valence, rtol=0, atol=1e-9)  # not rounded
    assert not pd.read_parquet(both / "face_noface.parquet").success.all()


def test_polars_and_duckdb_read_it(both):
    polars = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    path = both / "single_face.parquet"
    frame = polars.read_parquet(path)
    assert frame.height == 72 and frame.schema["frame"] == polars.Int64
    ((count, faces),) = duckdb.sql(f"select count(*), count(distinct face_id) from '{path}' "
                                   "where success").fetchall()
    assert (count, faces) == (72, 1)


def test_parquet_bytes_repeat(video, tmp_path):
    for name in ("a", "b"):
        result = run("process", video("single_face.mp4"), "-o", tmp_path / f"{name}.parquet",
                     "--format", "parquet", "--quiet", "--temporal", "none")
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
