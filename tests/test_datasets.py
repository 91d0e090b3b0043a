import csv

import numpy as np
import pytest

from affectstream import AffectStreamError
from affectstream.train.frame.data import (
    emotion_prototypes,
    ferplus_distribution,
    read_affectnet,
    read_faces,
    read_table,
)
from affectstream.types import AU_NAMES


def write_png(path, value=128):
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 8, 8, "rgb24"
        frame = av.VideoFrame.from_ndarray(np.full((8, 8, 3), value, np.uint8), format="rgb24")
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_ferplus_votes_follow_the_papers_rule():
    # votes: neutral happiness surprise sadness anger disgust fear contempt unknown NF
    assert (ferplus_distribution(np.array([0, 10, 0, 0, 0, 0, 0, 0, 0, 0]))
            == pytest.approx([0, 1, 0, 0, 0, 0, 0, 0]))
    # single votes are outliers; 6 + 3 of 9 votes: both kept (75 % rule), renormalised
    mixed = ferplus_distribution(np.array([6, 1, 3, 0, 0, 0, 0, 0, 0, 0]))
    assert mixed == pytest.approx([6 / 9, 0, 3 / 9, 0, 0, 0, 0, 0])
    assert ferplus_distribution(np.array([2, 0, 0, 0, 0, 0, 0, 0, 0, 8])) is None  # not a face
    # no vote survives
    assert ferplus_distribution(np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1])) is None


def test_prototypes_match_the_shared_table(shared):
    assert emotion_prototypes() == pytest.approx(
        emotion_prototypes(shared / "data" / "emotion_va_prototypes.csv"))


def test_ferplus_reader(shared):
    faces = read_faces(shared / "data" / "ferplus", "valid")
    assert 3000 < len(faces) < 3579 and faces.images[0].shape == (48, 48)
    assert np.allclose(faces.emotion.sum(1), 1)
    # valence/arousal are the vote distribution times the prototypes
    assert faces.valence_arousal == pytest.approx(faces.emotion @ emotion_prototypes(), abs=1e-6)


def test_affectnet_layout(tmp_path):
    """AffectNet's Manually_Annotated_file_lists/training.csv columns, with its codes for no label.
    """
    header = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
              "facial_landmarks", "expression", "valence", "arousal"]
    rows = [["689/a.jpg", 0, 0, 8, 8, "", 1, 0.8, 0.2],     # happy
            ["689/b.png", 0, 0, 8, 8, "", 6, -0.5, 0.7],    # anger
            ["12/c.png", 0, 0, 8, 8, "", 9, 0.1, -2]]       # uncertain; arousal not annotated
    with open(tmp_path / "training.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    for row in rows:
        write_png(tmp_path / row[0])
    faces = read_faces(tmp_path, "train")
    assert len(faces) == 3 and faces.images[1] == tmp_path / "689/b.png"
    assert faces.emotion[0].argmax() == 1 and faces.emotion[1].argmax() == 4  # happiness, anger
    assert np.isnan(faces.emotion[2]).all()
    assert faces.valence_arousal[1] == pytest.approx([-0.5, 0.7])
    assert np.isnan(faces.valence_arousal[2, 1])
    assert read_affectnet(tmp_path, tmp_path / "training.csv").ids[2] == "12/c.png"


def test_own_csv(tmp_path):
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "valence", "arousal", "AU01", "AU12", "emotion"])
        w.writerow(["img/one.png", 0.5, 0.1, 0, 3.5, "happiness"])
        w.writerow(["img/two.png", "", "", 2, "", ""])
    faces = read_table(tmp_path / "labels.csv")
    assert faces.images[0] == tmp_path / "img/one.png"
    au12 = AU_NAMES.index("AU12")
    assert faces.au[0, au12] == 3.5 and np.isnan(faces.au[0, 1]) and faces.au[1, 0] == 2
    assert faces.emotion[0].argmax() == 1 and np.isnan(faces.emotion[1]).all()
    assert np.isnan(faces.valence_arousal[1]).all()
    with open(tmp_path / "bad.csv", "w") as f:
        f.write("path,emotion\nx.png,joy\n")
    with pytest.raises(AffectStreamError, match="joy"):
        read_table(tmp_path / "bad.csv")
