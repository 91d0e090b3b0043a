import csv
import time

import numpy as np
import pandas as pd
import pytest

import affectstream as af
from affectstream.sources import read_image
from affectstream.writers.csv import (
    AU_COLUMNS,
    BASE_COLUMNS,
    EMOTION_COLUMNS,
    PRESENCE_COLUMNS,
    STD_COLUMNS,
    VA_COLUMNS,
)


@pytest.fixture(scope="module")
def wolfgang_csv(video, tmp_path_factory):
    out = tmp_path_factory.mktemp("wolfgang") / "out.csv"
    summary = af.process(video("WolfgangLanger_Pexels.mp4"), csv=out)
    return summary, pd.read_csv(out)


def test_talking_face_video_to_csv(wolfgang_csv):
    summary, df = wolfgang_csv
    assert list(df.columns) == list(BASE_COLUMNS + AU_COLUMNS + PRESENCE_COLUMNS + VA_COLUMNS
                                    + STD_COLUMNS + EMOTION_COLUMNS)
    detected = df[df.success == 1]
    # the default Affective Process gives its σ
    assert (detected[list(STD_COLUMNS)] > 0).all().all()
    assert len(df) == 472 and summary.frames == 472 and summary.complete
    assert df.success.sum() >= 470
    assert df.timestamp.iloc[0] == 0 and df.timestamp.is_monotonic_increasing
    assert df.timestamp.is_unique
    assert df.timestamp.iloc[-1] == pytest.approx(19.6, abs=0.1)
    aus = df.loc[df.success == 1, list(AU_COLUMNS)]
    assert aus.min().min() >= 0 and aus.max().max() <= 5
    assert (aus.std() > 0.01).sum() >= 8  # AUs move while he talks
    assert aus["AU25_r"].std() > 0.3
    assert set(df.face_id.dropna()) == {0}
    assert df.confidence.dropna().between(0, 1).all()
    faces = df[df.success == 1]
    assert faces[["valence", "arousal"]].notna().all().all() and faces.valence.between(-1, 1).all()
    assert faces.arousal.between(-1, 1).all() and faces.valence.std() > 0.01
    assert np.allclose(faces[list(EMOTION_COLUMNS)].sum(axis=1), 1, atol=1e-3)


def test_no_face_video_gives_one_unsuccessful_row_per_frame(video, tmp_path):
    af.process(video("no_face.mp4"), csv=tmp_path / "n.csv")
    df = pd.read_csv(tmp_path / "n.csv")
    assert len(df) == 95 and (df.success == 0).all()
    assert df.face_id.isna().all() and df[list(AU_COLUMNS)].isna().all().all()


@pytest.mark.parametrize("name, face_first", [
    ("face_noface.mov", True), ("noface_face.mov", False)])
def test_faces_only_where_there_are_faces(video, name, face_first):
    success = [a.success for a in af.stream(video(name))]
    assert len(success) == 169 and 30 < sum(success) < 140
    half = len(success) // 2
    first, second = np.mean(success[:half]), np.mean(success[half:])
    assert (first > second) if face_first else (second > first)
    # One contiguous stretch with a face: the face is there, then it is not (or the other way
    # round).
    changes = sum(a != b for a, b in zip(success, success[1:]))
    assert changes <= 2  # noface_face.mov ends on a black frame


def test_stream_yields_affect_records(video):
    rows = list(af.stream(video("single_face.mp4")))
    assert len(rows) == 72
    a = rows[10]
    assert isinstance(a, af.Affect) and a.success and a.track_id == 0
    assert set(a.au) == set(af.AU_NAMES) - {"AU23"}  # AU23 has no source (blendshape_au.py)
    assert len(a.pose) == 3 and len(a.box) == 4
    assert -1 <= a.valence <= 1 and -1 <= a.arousal <= 1
    assert a.valence_std > 0 and a.au_std["AU12"] > 0
    assert set(a.emotion) == set(af.EMOTION_NAMES) and sum(a.emotion.values()) == pytest.approx(1)
    assert a.latency_ms is not None and a.latency_ms >= 0


def test_without_a_temporal_model_the_std_columns_are_empty(video, tmp_path):
    af.process(video("single_face.mp4"), csv=tmp_path / "raw.csv", temporal="none")
    df = pd.read_csv(tmp_path / "raw.csv")
    assert len(df) == 72 and df.success.all()
    assert df[list(STD_COLUMNS)].isna().all().all()  # none invented


def test_analyze_image_on_paths_and_arrays(media):
    (face,) = af.analyze_image(media / "images" / "single_face.jpg")
    again = af.analyze_image(read_image(media / "images" / "single_face.jpg"))
    assert again[0].au == pytest.approx(face.au, abs=1e-4)
    assert af.analyze_image(media / "images" / "free-mountain-vector-01.jpg") == []
    faces = af.analyze_image(media / "images" / "multi_face.jpg", max_faces=6)
    assert len(faces) >= 4 and len({f.track_id for f in faces}) == len(faces)
    happy = af.analyze_image(media / "images" / "0-f15-hao-ph.jpg")[0].au
    surprised = af.analyze_image(media / "images" / "0-f1-su-ph.jpg")[0].au
    assert happy["AU12"] > 3 > surprised["AU12"] and surprised["AU26"] > happy["AU26"]


def test_image_folders_are_sequences_unless_they_hold_stills(media, tmp_path):
    import shutil
    for name in ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "multi_face.jpg"):
        shutil.copy(media / "images" / name, tmp_path / name)
    ids = [(r.frame, r.track_id)
           for r in af.stream(af.open_source(tmp_path, stills=True), max_faces=6)]
    assert ids[:2] == [(0, 0), (1, 0)]  # two different people, each the first face of its photo
    assert len([i for f, i in ids if f == 2]) >= 4  # the group photo is searched in tiles
    # As a recording, the two posed faces are in the same place, so the second continues the track.
    assert [r.track_id for r in af.stream(tmp_path)][:2] == [0, 0]


def test_two_faces_keep_their_ids_over_a_video(media):
    # the two women on the right
    two = read_image(media / "images" / "multi_face.jpg")[220:520, 470:850]
    # a slow pan
    frames = [np.ascontiguousarray(np.roll(two, shift, axis=1)) for shift in range(0, 20, 2)]
    rows = [r for r in af.stream(af.open_source(frames, fps=10)) if r.track_id in (0, 1)]
    assert len(rows) == 20  # both faces in every frame
    for track in (0, 1):
        xs = [r.box[0] for r in rows if r.track_id == track]
        assert np.allclose(np.diff(xs), 2, atol=1.5)  # each id follows its own face as it pans


def test_csv_rows_are_on_disk_as_they_are_produced(video, tmp_path):
    out = tmp_path / "live.csv"
    seen = []

    def check(affect):
        # mid-run: the file (still .partial) already holds this row and all before
        if affect.frame == 20:
            with open(tmp_path / "live.csv.partial") as f:
                seen.extend(csv.reader(f))
    with af.AffectStream() as pipeline:
        pipeline.run(video("single_face.mp4"), csv=out, on_result=check)
    assert len(seen) == 1 + 21 and [r[0] for r in seen[1:]] == [str(i) for i in range(21)]
    assert out.exists() and not (tmp_path / "live.csv.partial").exists()


def test_interrupted_run_keeps_finished_rows_under_a_partial_name(video, tmp_path):
    def interrupt(affect):
        if affect.frame == 30:
            raise KeyboardInterrupt
    with af.AffectStream() as pipeline, pytest.raises(KeyboardInterrupt):
        pipeline.run(video("single_face.mp4"), csv=tmp_path / "x.csv", on_result=interrupt)
    assert not (tmp_path / "x.csv").exists()
    df = pd.read_csv(tmp_path / "x.csv.partial")
    # the CSV sink wrote frame 30 before the callback raised
    assert list(df.frame) == list(range(31))


def test_truncated_video_keeps_rows_and_reports_where_it_stopped(video, tmp_path):
    data = video("WolfgangLanger_Pexels.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with af.AffectStream() as pipeline, pytest.raises(af.SourceError) as info:
        pipeline.run(tmp_path / "cut.mp4", csv=tmp_path / "cut.csv")
    summary = info.value.summary
    df = pd.read_csv(tmp_path / "cut.csv")
    assert not summary.complete and summary.stopped_at == len(df) - 1 == df.frame.iloc[-1]
    assert 100 < len(df) < 472 and "INCOMPLETE" in str(summary)


def test_a_source_that_dies_mid_stream_keeps_earlier_rows(model, tmp_path):
    def camera():
        for _ in range(5):
            yield np.zeros((120, 160, 3), np.uint8)
        raise OSError("device unplugged")
    jsonl = tmp_path / "rows.jsonl"
    with af.AffectStream() as pipeline, pytest.raises(af.AffectStreamError, match="unplugged"):
        pipeline.run(af.open_source(camera(), fps=30), jsonl=jsonl)
    assert len(jsonl.read_text().splitlines()) == 5


def test_live_mode_drops_stale_frames_instead_of_falling_behind(media):
    face = read_image(media / "images" / "single_face.jpg")

    def camera():  # 200 fps: faster than the tracker, as any camera is when the machine is busy
        for _ in range(100):
            time.sleep(0.005)
            yield face

    with af.AffectStream(mode="live") as pipeline:
        rows = list(pipeline.stream(af.open_source(camera(), fps=200, live=True)))
        summary = pipeline.summary
    assert summary.dropped > 0 and summary.frames + summary.dropped == 100
    frames = [r.frame for r in rows]
    assert frames == sorted(frames) and frames[-1] == 99  # the newest frame always gets through
    assert max(r.latency_ms for r in rows) < 1000 and all(r.success for r in rows)


def test_offline_mode_processes_every_frame_even_when_slow(model):
    frames = [np.zeros((90, 160, 3), np.uint8)] * 30
    with af.AffectStream(mode="offline") as pipeline:
        rows = list(pipeline.stream(af.open_source(frames, fps=30, live=True)))
    assert [r.frame for r in rows] == list(range(30)) and pipeline.summary.dropped == 0


def test_bad_settings_are_clear_errors():
    with pytest.raises(af.AffectStreamError, match="mode"):
        af.AffectStream(mode="fast")
    with pytest.raises(af.AffectStreamError, match="au_source"):
        af.AffectStream(au_source="cnn")


def test_au_source_blendshapes_keeps_the_transparent_estimator(media):
    from affectstream.models.blendshape_au import au_from_blendshapes
    image = read_image(media / "images" / "0-f15-hao-ph.jpg")
    with af.AffectStream(au_source="blendshapes") as pipeline:
        (row,) = pipeline.analyze(af.Frame(0, 0.0, image), still=True)
        (face,) = pipeline._still_tracker.track(af.Frame(0, 0.0, image))
    expected = au_from_blendshapes(face.blendshapes, face.landmarks)
    given = [k for k, v in zip(af.AU_NAMES, expected) if not np.isnan(v)]  # all but AU23
    assert [row.au[k] for k in given] == pytest.approx(expected[~np.isnan(expected)].tolist(),
                                                        abs=1e-5)
    assert given == [k for k in af.AU_NAMES if k != "AU23"]
    assert row.valence is not None  # valence/arousal and emotions still come from the model
