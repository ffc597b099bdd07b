"""What the tests of pasted commands and offline builds share: a command's words as bash
reads them back (the bytes a paste runs), and an ESP32 project whose PlatformIO platform
is not installed and whose registry is unreachable (build's and flash's offline refusal,
which suggests a command to paste)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tinyslm.toolchain import build as build_mod


def bash_words(command: str, locale: str | None = None) -> list[bytes]:
    """``command`` as bash splits it: the bytes of each word, under ``LC_ALL=locale``
    where given (bash reads some escapes by the locale)."""
    env = None if locale is None else {**os.environ, "LC_ALL": locale}
    done = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {command}"],
        capture_output=True,
        check=True,
        timeout=30,
        env=env,
    )
    return done.stdout.split(b"\0")[:-1]


def offline_project(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ESP32 project at ``root``, a ``pio`` that does nothing on PATH, PlatformIO's
    platform not installed and its registry unreachable."""
    root.mkdir(parents=True)
    (root / "tinyslm.json").write_text(
        json.dumps({"board": "esp32", "model_sha256": "0" * 64, "tinyslm_version": "0.1.0"})
    )
    (root / "platformio.ini").write_text("[env:esp32]\nplatform = espressif32@6.9.0\n")
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "pio").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "pio").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(build_mod, "_installed", lambda *_: False)
    monkeypatch.setattr(build_mod, "_reachable", lambda *_: False)
    return root
