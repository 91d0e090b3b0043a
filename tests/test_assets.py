import dataclasses
import functools
import hashlib
import http.server
import socket
import threading

import pytest

from affectstream import AffectStreamError, assets

PAYLOAD = b"not really a model, but bytes with a known checksum\n" * 1000
SPEC = assets.ModelFile("toy", "toy.bin", hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD), "http://unused/")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AFFECTSTREAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AFFECTSTREAM_MODEL_DIR", raising=False)
    monkeypatch.setitem(assets.MODELS, "toy", SPEC)
    return tmp_path / "cache"


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_and_caches_atomically(cache, server):
    root, url = server
    (root / "toy.bin").write_bytes(PAYLOAD)
    path = assets.fetch(SPEC, f"{url}/toy.bin", use_wheel=False)
    assert path == cache / "toy.bin" and path.read_bytes() == PAYLOAD
    assert [p.name for p in cache.iterdir()] == ["toy.bin"]  # no temporary file left behind


def test_corrupted_download_is_rejected_and_nothing_is_cached(cache, server):
    root, url = server
    (root / "toy.bin").write_bytes(PAYLOAD[:-10] + b"corrupted!")
    with pytest.raises(AffectStreamError, match="checksum"):
        assets.fetch(SPEC, f"{url}/toy.bin", use_wheel=False)
    assert not any(cache.iterdir())


def test_server_down_is_a_clear_error(cache):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AffectStreamError, match="unreachable"):
        assets.fetch(SPEC, f"http://127.0.0.1:{port}/toy.bin", use_wheel=False, timeout=2)


def test_resolution_order(cache, tmp_path, monkeypatch, server):
    root, url = server
    (root / "toy.bin").write_bytes(PAYLOAD)
    explicit = tmp_path / "mine.bin"
    explicit.write_bytes(PAYLOAD)
    assert assets.resolve("toy", explicit) == explicit
    # Nothing local: offline refuses, online downloads into the cache.
    monkeypatch.setenv("AFFECTSTREAM_OFFLINE", "1")
    with pytest.raises(AffectStreamError, match="not found"):
        assets.resolve("toy")
    monkeypatch.delenv("AFFECTSTREAM_OFFLINE")
    monkeypatch.setitem(assets.MODELS, "toy", dataclasses.replace(SPEC, url=f"{url}/toy.bin"))
    assert assets.resolve("toy") == cache / "toy.bin"
    # AFFECTSTREAM_MODEL_DIR comes before the cache.
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "toy.bin").write_bytes(PAYLOAD)
    monkeypatch.setenv("AFFECTSTREAM_MODEL_DIR", str(folder))
    assert assets.resolve("toy") == folder / "toy.bin"


def test_bad_files_are_refused_with_advice(cache, tmp_path, monkeypatch):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"junk")
    with pytest.raises(AffectStreamError, match="checksum mismatch.*models fetch"):
        assets.resolve("toy", bad)
    with pytest.raises(AffectStreamError, match="not found"):
        assets.resolve("toy", tmp_path / "nowhere.bin")
    # A damaged cache entry is dropped, not used.
    cache.mkdir()
    (cache / "toy.bin").write_bytes(b"junk")
    monkeypatch.setenv("AFFECTSTREAM_OFFLINE", "1")
    with pytest.raises(AffectStreamError, match="not found"):
        assets.resolve("toy")
    assert not (cache / "toy.bin").exists()


def test_the_landmarker_in_shared_verifies(shared):
    path = shared / "models" / "face_landmarker.task"
    assets.verify(assets.MODELS["face_landmarker"], path)
    assert path.stat().st_size == assets.MODELS["face_landmarker"].size
