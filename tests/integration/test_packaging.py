"""The wheel carries everything: templates/, boards/, firmware/ and the emulator shim.

Builds an sdist from a copy of the sources, then the wheel from that sdist alone (as
pip does for a release tarball, and as distributions do), installs the wheel
(non-editable, no dependencies) into a fresh venv whose dependencies come from this environment
through a ``.pth`` file (so TensorFlow is not downloaded again), then runs that
venv's ``tinyslm generate`` and ``tinyslm emulate`` from a folder outside the
repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
from cli_support import REPO

from tinyslm.resources import firmware_files

SOURCES = (
    "pyproject.toml", "setup.py", "MANIFEST.in", "LICENSE", "README.md",
    "tinyslm", "templates", "boards", "firmware",
)  # fmt: skip


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{argv}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path, fixture_model: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"

    # 1. Wheel from a clean copy of the sources (no stale build/ from elsewhere).
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "_bundled", "*.egg-info", "*.pyc")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    # Build output a working checkout may hold: never part of a release.
    stray = ("templates/esp32/.pio/build/firmware.elf", "tinyslm/emulate/glue/native_main.o")
    for rel in stray:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(b"build output")

    # 1a. The sdist, through the PEP 517 hook pip and `build` call.
    sdists = tmp_path / "sdist"
    hook = f"import setuptools.build_meta as b; b.build_sdist({str(sdists)!r})"
    built = _run([sys.executable, "-c", hook], src, env)
    # setuptools announces the end of deprecated metadata (the license table stops
    # building on 2027-02-18): the README's 'pip install .' takes the newest setuptools.
    assert "SetuptoolsDeprecationWarning" not in built.stderr, built.stderr
    (sdist,) = sdists.glob("tinyslm-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
        # 3.10's tarfile has no filter= (guarded as tinyslm.toolchain does)
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp_path / "unpacked", **kwargs)  # type: ignore[arg-type]
    for needed in (
        "LICENSE",
        "MANIFEST.in",
        "templates/common/platformio.ini.j2",
        "boards/schema.json",
        "firmware/audio/tinyslm_kws_app.c",
    ):
        assert needed in members, f"{needed} missing from {sdist.name}"
    assert not [m for m in members if ".pio" in m or m.endswith(".o")], sorted(members)
    (unpacked,) = (tmp_path / "unpacked").iterdir()

    # 1b. The wheel from the unpacked sdist only (nothing of the checkout beside it).
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(wheels)],
        unpacked,
        env,
    )  # fmt: skip
    (wheel,) = wheels.glob("tinyslm-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert any(n.endswith("licenses/LICENSE") for n in names), "LICENSE missing from the wheel"
    # every file of the emulator's glue (a new one must not be left out by a pattern)
    glue = REPO / "tinyslm" / "emulate" / "glue"
    for path in sorted(glue.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(REPO).as_posix()
            assert rel in names, f"{rel} missing from the wheel"
    for needed in (
        "tinyslm/_bundled/templates/common/platformio.ini.j2",
        "tinyslm/_bundled/templates/starters/text/src/tinyslm_actions.c.j2",
        "tinyslm/_bundled/templates/starters/audio/src/tinyslm_actions.c.j2",
        "tinyslm/_bundled/boards/esp32.yaml",
        "tinyslm/_bundled/boards/schema.json",
        "tinyslm/_bundled/firmware/common/tinyslm_json.c",
        "tinyslm/_bundled/firmware/common/tinyslm_gate.h",
        "tinyslm/_bundled/firmware/common/tinyslm_mean.cc",
        "tinyslm/_bundled/firmware/common/tinyslm_tflm.cc",
        "tinyslm/_bundled/firmware/text/tinyslm_core.c",
        "tinyslm/_bundled/firmware/text/tinyslm_core.h",
        "tinyslm/_bundled/firmware/text/tinyslm_tokenizer.c",
        "tinyslm/_bundled/firmware/audio/tinyslm_audio_frontend.c",
        "tinyslm/_bundled/firmware/audio/tinyslm_audio_tables.h",
        "tinyslm/emulate/glue/host_shim.c",
        "tinyslm/emulate/glue/stm32h7/STM32H743ZITX_FLASH.ld",
        "tinyslm/data/demo_commands.csv",
    ):
        assert needed in names, f"{needed} missing from {wheel.name}"
    # every hand-written firmware file a project of either modality gets (setup.py's
    # FIRMWARE_SUBDIRS must name each folder tinyslm.resources.firmware_files reads)
    for modality in ("text", "audio"):
        for path in firmware_files(modality, REPO / "firmware").values():
            rel = path.relative_to(REPO / "firmware").as_posix()
            assert f"tinyslm/_bundled/firmware/{rel}" in names, f"{rel} missing from the wheel"

    # 2. A fresh venv; dependencies from this environment, tinyslm only from the wheel.
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    py = target / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.check_output([py, "-c", purelib], text=True).strip())
    (site / "deps_from_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
         "-q", str(wheel)],
        tmp_path,
        env,
    )  # fmt: skip

    # 3. Run it from outside the checkout.
    work = tmp_path / "work"
    work.mkdir()
    where = _run([str(py), "-c", "import tinyslm; print(tinyslm.__file__)"], work, env)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
    tinyslm = str(target / "bin" / "tinyslm")
    env["TINYSLM_CACHE_DIR"] = str(tmp_path / "cache")
    _run([tinyslm, "generate", "--board", "esp32", "--model", str(fixture_model)], work, env)
    project = work / "projects" / "esp32"
    assert (project / "src" / "tinyslm_core.c").is_file()
    assert (project / "platformio.ini").is_file()
    assert b"tinyslm_on_answer" in (project / "src" / "tinyslm_actions.c").read_bytes()
    out = _run([tinyslm, "emulate", "projects/esp32", "--text", "turn off the kitchen lights"],
               work, env)  # fmt: skip
    answer = json.loads(out.stdout)
    assert answer["intent"] == "lights_off"
    assert list(answer)[:4] == ["intent", "score", "route", "us"]
    boards = _run([tinyslm, "boards"], work, env)
    assert "esp32" in boards.stdout and "stm32h7" in boards.stdout


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text().splitlines()
    fences = [i for i, line in enumerate(readme) if line == "```"]
    blocks = [readme[i + 1] for i in fences[:4:2]]
    demo, tests = blocks  # the first two code blocks: the demo and the test command
    assert "tinyslm generate --board esp32" in demo and "tinyslm emulate projects/esp32" in demo
    assert tests.startswith("python3 -m venv .venv") and tests.endswith("pytest -q")
    ci = [ln for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln.strip()]
    assert ci[-1] == tests  # the last command: its status is the script's
    assert ci[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in ci
