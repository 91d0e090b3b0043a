"""The src layout: run from a clone's parent folder, `import affectstream` is the installed package,
never the clone's folder taken for a namespace package."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import affectstream

ROOT = Path(__file__).resolve().parents[1]
PRINT_FILE = "import affectstream; print(affectstream.__file__)"


def _imported_from(cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-c", PRINT_FILE], cwd=cwd, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_from_the_repository_parent_is_the_installed_package():
    assert affectstream.__file__ is not None
    assert _imported_from(ROOT.parent) == affectstream.__file__


def test_a_clone_folder_named_affectstream_does_not_shadow_it(tmp_path):
    (tmp_path / "affectstream").symlink_to(ROOT)  # as `git clone .../affectstream.git` leaves it
    assert _imported_from(tmp_path) == affectstream.__file__


def test_the_shipped_weights_are_inside_the_package():
    from affectstream.registry import weights_dir

    assert weights_dir() == Path(affectstream.__file__).parent / "weights"
    assert (weights_dir() / "frame.safetensors").is_file()
