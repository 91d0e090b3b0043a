"""Results as DataFrames: `af.read_csv` (both CSV formats) and `af.to_dataframe` give the same
table, with one dtype per column; pandas stays an optional extra."""
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas", reason="the pandas extra is not installed")

import affectstream as af  # noqa: E402
from affectstream.writers.csv import CSVWriter, csv_columns  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(video, tmp_path_factory):
    """single_face.mp4 once: its records, the pipeline's columns and its CSV."""
    folder = tmp_path_factory.mktemp("tables")
    rows = []
    with af.AffectStream() as stream:
        stream.run(video("single_face.mp4"), csv=folder / "clip.csv", on_result=rows.append)
        columns = stream.columns
    return rows, columns, folder / "clip.csv"


def decimals(path: Path) -> dict[str, int]:
    """Column -> the most decimals any of its cells has in the file: the rounding to allow."""
    most: dict[str, int] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for name, cell in row.items():
                places = len(cell.split(".")[1]) if "." in cell else 0
                most[name] = max(most.get(name, 0), places)
    return most


def test_records_and_their_csv_are_the_same_table(run):
    rows, columns, path = run
    table, read = af.to_dataframe(rows, columns), af.read_csv(path)
    assert list(table.columns) == list(read.columns) == list(columns)
    assert table.dtypes.to_dict() == read.dtypes.to_dict()
    assert len(table) == len(read) == 72
    places = decimals(path)
    for name in columns:
        if read[name].dtype == "float64":  # the CSV rounds: half its last digit
            np.testing.assert_allclose(table[name], read[name], rtol=0, equal_nan=True,
                                       atol=0.5 * 10 ** -places[name] + 1e-9, err_msg=name)
        else:
            pd.testing.assert_series_equal(table[name], read[name])
    # without columns: those of the default CSV for what the records hold
    assert list(af.to_dataframe(rows).columns) == list(columns)


def test_dtypes_and_empty_cells(tmp_path):
    """A frame without a face: face_id <NA>, success False, its numbers NaN; file is text."""
    records = [af.Affect(frame=0, timestamp=0.0, file="a.jpg"),
               af.Affect(frame=1, timestamp=0.5, track_id=3, box=(1.0, 2.0, 30.0, 40.0),
                         score=0.9, pose=(1.0, -2.0, 3.5), valence=0.25, arousal=-0.5,
                         au={"AU01": 1.5, "AU12": 4.0}, emotion={"happiness": 1.0},
                         file="b.jpg")]
    columns = csv_columns(("au", "valence", "emotion"))
    writer = CSVWriter()
    writer.open(tmp_path / "rows.csv", columns)
    writer.write(records)
    writer.close()
    for table in (af.read_csv(tmp_path / "rows.csv"), af.to_dataframe(records)):
        assert table["frame"].dtype == "int64" and table["face_id"].dtype == "Int64"
        assert table["success"].dtype == bool and table["success"].tolist() == [False, True]
        assert table["face_id"].isna().tolist() == [True, False] and table["face_id"][1] == 3
        assert table["file"].tolist() == ["a.jpg", "b.jpg"]
        floats = [c for c in table.columns if c not in ("frame", "face_id", "success", "file")]
        assert all(table[c].dtype == "float64" for c in floats)
        assert table.loc[0, floats[1:]].isna().all()  # all but the timestamp empty
        assert table.loc[1, "AU12_r"] == 4.0 and np.isnan(table.loc[1, "AU04_r"])
        assert np.isnan(table.loc[1, "valence_std"])  # no model gave it
    assert pd.isna(af.to_dataframe([af.Affect(frame=0, timestamp=0.0)], ("frame", "file"))
                   .loc[0, "file"])


def test_openface_csv_is_read_with_clean_names(run, tmp_path):
    from affectstream import registry

    rows, columns, path = run
    openface = tmp_path / "openface.csv"
    writer = registry.get("writer", "openface").cls()  # `--format openface`, on the same rows
    writer.open(openface, columns)
    writer.write(rows)
    writer.close()
    assert openface.read_text().startswith("frame, face_id, ")  # the file's own separators
    table, default = af.read_csv(openface), af.read_csv(path)
    assert all(name == name.strip() for name in table.columns)
    assert table["frame"].dtype == "int64" and table["frame"].tolist() == list(range(1, 73))
    assert table["face_id"].dtype == "Int64" and table["success"].dtype == bool
    assert table["success"].all() and (table["face_id"] == 0).all()
    assert table["AU12_r"].dtype == "float64"
    # the same run in both files: timestamps and AU intensities agree up to the rounding
    np.testing.assert_allclose(table["timestamp"], default["timestamp"], atol=5.1e-4)
    np.testing.assert_allclose(table["AU12_r"], default["AU12_r"], atol=5.1e-3)


def test_what_is_not_a_result_csv_is_one_error(tmp_path):
    with pytest.raises(af.AffectStreamError, match="no such file"):
        af.read_csv(tmp_path / "missing.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(af.AffectStreamError, match="no frame and timestamp columns"):
        af.read_csv(tmp_path / "other.csv")
    (tmp_path / "bad.csv").write_text("frame,timestamp,face_id\nzero,0.0,\n")
    with pytest.raises(af.AffectStreamError, match="does not fit its column"):
        af.read_csv(tmp_path / "bad.csv")


def test_without_pandas_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails, as uninstalled
    with pytest.raises(af.AffectStreamError, match=r"pip install 'affectstream\[pandas\]'"):
        af.to_dataframe([])
    with pytest.raises(af.AffectStreamError, match=r"affectstream\[pandas\]"):
        af.read_csv(tmp_path / "any.csv")


def test_pandas_is_an_extra_not_a_dependency():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("pandas") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    for extra in ("pandas", "plot", "demo", "test"):
        assert any(d.startswith("pandas") for d in extras[extra]), extra
    # importing the package, and the module, loads no pandas
    code = "import sys, affectstream, affectstream.tables; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
