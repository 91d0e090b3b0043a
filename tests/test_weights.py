"""Weight files are checked at load: shipped ones against weights/SHA256SUMS, every one for NaN/Inf,
for fitting the network and for being safetensors at all; each failure is one line."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from affectstream import AffectStream, registry
from affectstream.errors import AffectStreamError
from affectstream.models.affective_process import AffectiveProcessStage
from affectstream.models.frame import FrameNet, load_frame_net
from affectstream.models.weights import save_net

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
CLIP = "codecs/h264_aac.mp4"  # 31 frames: the CLI's checks, quickly


def read(path: Path) -> tuple[dict, dict]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


def altered(name: str, out: Path, change) -> Path:
    """A copy of the shipped `name` with `change(tensors)` applied, header kept."""
    header, tensors = read(WEIGHTS / name)
    change(tensors)
    save_file(tensors, str(out), metadata=header)
    return out


def with_nan(tensors: dict) -> None:
    tensors["fuse.1.weight" if "fuse.1.weight" in tensors else "decoder.2.weight"][0, 0] = torch.nan


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_checksums_list_every_shipped_file():
    sums = (WEIGHTS / registry.CHECKSUMS).read_text().splitlines()
    recorded = registry.recorded_sha256(WEIGHTS)
    assert len(recorded) == len(sums)  # every line in sha256sum's format
    assert sorted(recorded) == sorted(p.name for p in WEIGHTS.glob("*.safetensors"))
    for name, digest in recorded.items():
        assert hashlib.sha256((WEIGHTS / name).read_bytes()).hexdigest() == digest, name
    for entry in registry.entries("frame") + registry.entries("temporal"):
        if entry.weights:
            assert entry.weights.recorded_sha256() == entry.weights.sha256(), entry.name


@pytest.mark.parametrize("name", ["frame.safetensors", "affective_process.safetensors"])
def test_nan_weights_fail_at_construction(model, tmp_path, name):
    bad = altered(name, tmp_path / name, with_nan)
    setting = {"weights": bad} if name.startswith("frame") else {"temporal_weights": bad}
    with pytest.raises(AffectStreamError) as error:
        AffectStream(**setting)
    message = one_line(error)
    assert str(bad) in message and "NaN or Inf" in message
    assert ("'fuse.1.weight'" if name.startswith("frame") else "'decoder.2.weight'") in message


def test_inf_in_a_buffer_is_refused(tmp_path):
    def change(tensors):
        tensors["cnn.1.running_var"][3] = torch.inf

    bad = altered("frame.safetensors", tmp_path / "inf.safetensors", change)
    with pytest.raises(AffectStreamError, match=r"NaN or Inf in tensor 'cnn.1.running_var'"):
        load_frame_net(bad)


@pytest.mark.parametrize("option, name", [("--weights", "frame.safetensors"),
                                          ("--temporal-weights", "affective_process.safetensors")])
def test_cli_says_nan_weights_in_one_line(video, tmp_path, option, name):
    bad = altered(name, tmp_path / name, with_nan)
    out = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "affectstream.cli", "process", str(video(CLIP)),
                           option, str(bad), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("affectstream: error: ")
    assert str(bad) in lines[0] and "NaN or Inf" in lines[0]
    assert not out.exists()


@pytest.fixture
def weights_copy(tmp_path, monkeypatch) -> Path:
    """A copy of weights/ that AFFECTSTREAM_WEIGHTS points at."""
    folder = shutil.copytree(WEIGHTS, tmp_path / "weights")
    monkeypatch.setenv("AFFECTSTREAM_WEIGHTS", str(folder))
    return folder


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # inside the last tensor: still a valid file, other numbers
    path.write_bytes(bytes(data))


def test_modified_shipped_weights_fail_their_checksum(model, weights_copy):
    flip_a_byte(weights_copy / "frame.safetensors")
    with pytest.raises(AffectStreamError) as error:
        AffectStream()
    message = one_line(error)
    assert str(weights_copy / "frame.safetensors") in message
    assert "damaged or modified" in message and "sha256sum" in message
    flip_a_byte(weights_copy / "affective_process.safetensors")
    with pytest.raises(AffectStreamError, match="damaged or modified"):
        AffectiveProcessStage.load_network()
    load_frame_net(WEIGHTS / "frame.safetensors")  # a file given by path is not in that list


def test_shipped_weights_without_a_recorded_checksum_fail(weights_copy):
    (weights_copy / registry.CHECKSUMS).unlink()
    with pytest.raises(AffectStreamError, match="no checksum for it"):
        load_frame_net()


def test_a_shipped_file_is_hashed_once(weights_copy, monkeypatch):
    calls = []
    sha256 = hashlib.sha256
    monkeypatch.setattr(registry.hashlib, "sha256", lambda *a: calls.append(1) or sha256(*a))
    load_frame_net()
    load_frame_net()
    assert len(calls) == 1
    (weights_copy / "frame.safetensors").touch()  # a new mtime: hashed again
    load_frame_net()
    assert len(calls) == 2


def test_saving_into_the_weights_folder_records_the_checksum(weights_copy):
    tiny = FrameNet(channels=(8, 16, 16, 32), hidden=16, embed=32)
    save_net(tiny, registry.weights_dir() / "frame.safetensors")
    assert load_frame_net().config == tiny.config
    recorded = registry.recorded_sha256(weights_copy)
    assert sorted(recorded) == sorted(p.name for p in weights_copy.glob("*.safetensors"))


def drop_one(tensors):
    del tensors["au.bias"]


def add_one(tensors):
    tensors["extra"] = torch.zeros(3)


def reshape_one(tensors):
    tensors["au.weight"] = torch.zeros(11, tensors["au.weight"].shape[1])


@pytest.mark.parametrize("change, words", [
    (drop_one, "1 tensor(s) missing, the first 'au.bias'"),
    (add_one, "the network does not have, the first 'extra'"),
    (reshape_one, "tensor 'au.weight' of shape (11, 256) where the network has (15, 256)"),
])
def test_tensors_that_do_not_fit_the_network(tmp_path, change, words):
    bad = altered("frame.safetensors", tmp_path / "bad.safetensors", change)
    with pytest.raises(AffectStreamError) as error:
        load_frame_net(bad)
    assert words in one_line(error)


def truncated(data: bytes) -> bytes:
    return data[:len(data) // 2]


@pytest.mark.parametrize("content", [lambda _: bytes(range(256)) * 64, lambda _: b"", truncated,
                                     lambda data: data[:6]],
                         ids=["random", "empty", "truncated", "truncated-header"])
def test_not_a_safetensors_file(tmp_path, content):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content((WEIGHTS / "frame.safetensors").read_bytes()))
    with pytest.raises(AffectStreamError) as error:
        load_frame_net(bad)
    message = one_line(error)
    assert str(bad) in message and "unreadable weights" in message


def test_weights_of_another_model_are_refused():
    with pytest.raises(AffectStreamError) as error:
        AffectiveProcessStage.load_network(WEIGHTS / "frame.safetensors")
    assert "not affectstream AffectiveProcess weights" in one_line(error)


def test_the_same_weights_save_to_the_same_bytes(tmp_path):
    """safetensors writes its metadata in hash order; save_net sorts it, so a rerun of a training
    command reproduces the shipped file's bytes and checksum."""
    net = FrameNet()
    metadata = {f"key{i}": str(i) for i in range(12)}
    first, second = (save_net(net, tmp_path / f"{i}.safetensors", **metadata).read_bytes()
                     for i in (0, 1))
    assert first == second
    with safe_open(str(tmp_path / "0.safetensors"), framework="pt") as f:
        assert f.metadata()["key7"] == "7" and set(f.keys()) == set(net.state_dict())
