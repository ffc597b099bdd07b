"""Round 46: what a newcomer's install gets.

- A ``build/`` left in the checkout by ``pip install .`` (an in-tree build) shipped a
  module deleted since in the next wheel.
- ``tensorflow-cpu>=2.16`` admitted TensorFlow 2.16, whose converter aborts the process on
  every Keras 3 model with nothing printed: the floor and the converter's own check agree.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from cli_support import REPO
from test_packaging import _run

from tinyslm import quantize
from tinyslm.errors import ToolchainError

SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "LICENSE", "README.md", "tinyslm")
HOOK = "import setuptools.build_meta as b, sys; b.build_wheel(sys.argv[1])"


def _copy_sources(tmp_path: Path) -> Path:
    """The files a build reads, copied to ``tmp_path/src`` (no build output)."""
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "_bundled", "*.egg-info", "*.pyc")
    for name in (*SOURCES, "templates", "boards", "firmware"):  # setup.py bundles the last 3
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    return src


def _clean_env() -> dict[str, str]:
    """This environment without the paths that would point a build at the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _wheel_names(src: Path, out: Path) -> set[str]:
    _run([sys.executable, "-c", HOOK, str(out)], src, _clean_env())
    (wheel,) = out.glob("tinyslm-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


@pytest.mark.slow
def test_a_module_deleted_since_the_last_in_tree_build_is_not_in_the_wheel(
    tmp_path: Path,
) -> None:
    src = _copy_sources(tmp_path)
    stale = src / "tinyslm" / "zz_removed.py"
    stale.write_text("X = 1\n")
    first = _wheel_names(src, tmp_path / "w1")
    assert "tinyslm/zz_removed.py" in first  # the in-tree build/ now holds it
    assert (src / "build" / "lib" / "tinyslm" / "zz_removed.py").is_file()
    stale.unlink()
    second = _wheel_names(src, tmp_path / "w2")
    assert "tinyslm/zz_removed.py" not in second
    assert "tinyslm/cli.py" in second and "tinyslm/_bundled/boards/esp32.yaml" in second


def test_a_build_into_the_sources_themselves_deletes_nothing(tmp_path: Path) -> None:
    """`setup.py build_py -d .` names the checkout as the build folder: the stale-copy
    cleanup removed the source package there."""
    src = _copy_sources(tmp_path)
    _run([sys.executable, "setup.py", "-q", "build_py", "-d", "."], src, _clean_env())
    assert (src / "tinyslm" / "__init__.py").is_file()
    assert (src / "tinyslm" / "cli.py").is_file()


def test_the_tensorflow_floor_is_the_first_version_whose_converter_works() -> None:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (floor,) = re.findall(r'"tensorflow-cpu>=(\d+)\.(\d+)"', text)
    assert tuple(int(part) for part in floor) == quantize.MIN_TENSORFLOW


@pytest.mark.parametrize("version", ["2.16.2", "2.16.0rc1", "2.15.1", "1.15.0"])
def test_a_tensorflow_whose_converter_aborts_is_refused_in_one_line(version: str) -> None:
    with pytest.raises(ToolchainError) as info:
        quantize.check_tensorflow_version(version)
    message = str(info.value)
    assert "\n" not in message
    assert f"TensorFlow {version}'s TFLite converter" in message
    assert "pip install 'tensorflow-cpu>=2.17'" in message


@pytest.mark.parametrize("version", ["2.17.1", "2.21.0", "3.0.0", "2.20.0-dev20260101"])
def test_a_working_tensorflow_passes(version: str) -> None:
    quantize.check_tensorflow_version(version)


class _Converter:
    calls = 0

    def convert(self) -> bytes:
        _Converter.calls += 1
        return b"flat"


def test_the_converter_is_not_run_under_a_refused_tensorflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tensorflow as tf

    monkeypatch.setattr(tf, "__version__", "2.16.2")
    with pytest.raises(ToolchainError, match=r"2\.16\.2"):
        quantize.run_converter(_Converter())
    assert _Converter.calls == 0
    monkeypatch.setattr(tf, "__version__", "2.17.1")
    assert quantize.run_converter(_Converter()) == b"flat"
