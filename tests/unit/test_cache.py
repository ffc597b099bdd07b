"""One cache folder for every stage, moved by $TINYSLM_CACHE_DIR (tinyslm.cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyslm import cache
from tinyslm.text import distill
from tinyslm.toolchain import host, stm32_image, tflm

PACKAGE = Path(cache.__file__).resolve().parent


def test_cache_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("TINYSLM_CACHE_DIR", raising=False)
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "tinyslm"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "tinyslm"
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_root() == tmp_path / "mine"  # wins over XDG_CACHE_HOME
    monkeypatch.setenv("TINYSLM_CACHE_DIR", "")  # empty means unset, as for XDG_CACHE_HOME
    assert cache.cache_root() == tmp_path / "xdg" / "tinyslm"


def test_every_stage_caches_below_tinyslm_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "cache"
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert host.default_cache_dir() == root / "native"
    assert stm32_image.default_cache_dir() == root / "stm32h7"
    assert distill.default_cache_dir() == root / "teacher"
    assert tflm.default_cache_dir("host") == root / "tflm" / f"{tflm.TFLM_COMMIT}-host"
    assert tflm.default_cache_dir() == root / "tflm" / f"{tflm.TFLM_COMMIT}-cortex-m7"


def test_no_module_but_cache_picks_a_cache_folder() -> None:
    # A fifth helper reading XDG_CACHE_HOME or ~/.cache would ignore TINYSLM_CACHE_DIR again.
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "cache.py"
        and any(word in path.read_text() for word in ("XDG_CACHE_HOME", '".cache"', "'.cache'"))
    ]
    assert offenders == []
