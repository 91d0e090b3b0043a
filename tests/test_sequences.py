import numpy as np
import pytest

from affectstream import AffectStreamError
from affectstream.train.temporal.labels import read_affwild2_va, read_bp4d, read_disfa
from affectstream.types import DISFA_AU_NAMES as AU_NAMES  # the temporal models' AUs


def test_affwild2_va(tmp_path):
    path = tmp_path / "video1.txt"
    path.write_text("valence,arousal\n0.25,-0.1\n-5,-5\n0.5,0.75\n-1.0,1.0\n")
    va = read_affwild2_va(path)
    assert va.shape == (4, 2) and va[0] == pytest.approx([0.25, -0.1]) and np.isnan(va[1]).all()
    assert va[3] == pytest.approx([-1, 1])
    (tmp_path / "bad.txt").write_text("0.1,0.2\n")
    with pytest.raises(AffectStreamError, match="valence,arousal"):
        read_affwild2_va(tmp_path / "bad.txt")


def test_disfa_subject(tmp_path):
    subject = tmp_path / "SN001"
    subject.mkdir()
    for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26):
        lines = [f"{frame},{(frame * au) % 6}" for frame in range(1, 6)]
        (subject / f"SN001_au{au}.txt").write_text("\n".join(lines) + "\n")
    au = read_disfa(tmp_path, "SN001")
    assert au.shape == (5, 12) and not np.isnan(au).any()
    assert au[0, AU_NAMES.index("AU12")] == 0
    assert au[1, AU_NAMES.index("AU05")] == 4  # frame 2: (2·5) % 6
    with pytest.raises(AffectStreamError, match="SN002"):
        read_disfa(tmp_path, "SN002")


def test_bp4d_intensity_csvs(tmp_path):
    for au, values in (("AU06", [0, 2, 9]), ("AU10", [1, 1, 1]), ("AU12", [3, 9, 4])):
        (tmp_path / au).mkdir()
        rows = [f"{frame},{v}" for frame, v in enumerate(values, start=1)]
        (tmp_path / au / f"F001_T1_{au}.csv").write_text("\n".join(rows) + "\n")
    au = read_bp4d(tmp_path, "F001_T1")
    assert au.shape == (3, 12)
    assert au[:, AU_NAMES.index("AU06")][:2] == pytest.approx([0, 2])
    assert np.isnan(au[2, AU_NAMES.index("AU06")])
    assert np.isnan(au[1, AU_NAMES.index("AU12")]) and au[2, AU_NAMES.index("AU12")] == 4
    # BP4D does not code AU01; AU10 is not in the 12
    assert np.isnan(au[:, AU_NAMES.index("AU01")]).all()
