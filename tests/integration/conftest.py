"""Shared fixtures for the CLI end-to-end tests: a fake ``pio``, generated projects.

The fake ``pio`` (cli_support.FAKE_PIO) is a small Python script put first on
PATH; its behaviour is chosen with ``FAKE_PIO_MODE`` (``ok``, ``offline``,
``fail``) and it records its arguments in ``FAKE_PIO_LOG`` so tests can check
what tinyslm asked for.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from cli_support import FAKE_PIO, FIXTURE_MODEL

# What PlatformIO installs for the two boards' builds (as named in its packages/).
INSTALLED_PACKAGES = (
    "tool-scons",
    "toolchain-xtensa-esp32",
    "framework-espidf",
    "toolchain-gccarmnoneeabi",
    "framework-stm32cubeh7",
)


@pytest.fixture()
def fake_pio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``pio`` first on PATH; returns the log file it appends its argv to."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    script = bindir / "pio"
    script.write_text(FAKE_PIO.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "pio.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_PIO_LOG", str(log))
    monkeypatch.delenv("FAKE_PIO_MODE", raising=False)
    # A PlatformIO core with the platforms "installed", so that tinyslm does not try
    # the registry first (tests that want the first-build case empty it).
    core = tmp_path / "pio-core"
    for platform in ("espressif32", "ststm32"):
        (core / "platforms" / platform).mkdir(parents=True)
    for package in INSTALLED_PACKAGES:
        (core / "packages" / package).mkdir(parents=True)
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(core))
    return log


@pytest.fixture()
def minimal_project(tmp_path: Path) -> Path:
    """A folder that passes as a project for build/flash (tinyslm.json + platformio.ini)."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tinyslm.json").write_text(
        json.dumps({"board": "esp32", "model_sha256": "0" * 64, "tinyslm_version": "0.1.0"})
    )
    (root / "platformio.ini").write_text("[env:esp32]\nplatform = espressif32@6.9.0\n")
    return root


@pytest.fixture(scope="session")
def fixture_model() -> Path:
    """The committed tiny model (tests/fixtures/model, made by make_fixture.py)."""
    if not (FIXTURE_MODEL / "model.tflite").is_file():
        pytest.fail(f"missing {FIXTURE_MODEL}; run tests/fixtures/make_fixture.py")
    return FIXTURE_MODEL


@pytest.fixture(scope="session")
def esp32_project(fixture_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An esp32 project generated from the fixture model (shared, treat as read-only)."""
    from tinyslm.pipeline import run_generate

    out = tmp_path_factory.mktemp("gen") / "esp32"
    run_generate("esp32", out, model_dir=fixture_model)
    return out


@pytest.fixture(scope="session")
def emulator_cache() -> Path:
    """The session's cache folder (tests/conftest.py isolates it from ~/.cache)."""
    from tinyslm.cache import cache_root

    return cache_root()
