"""Round 52 (review of F1): which file ``board_build.esp-idf.sdkconfig_path`` names.

PlatformIO (6.1.6 on: ``ProjectConfig.walk_options``) looks an option up in the section,
then in the sections it ``extends``, the LAST listed first (a later one overrides an
earlier one), then in ``[env]`` and the sections ``[env]`` extends. tinyslm took the first
listed, and never followed ``[env]``'s own ``extends``: it checked a file the build does
not read, and said nothing of the one it does. ``${PROJECT_DIR}`` is pio's working
folder, absolute: joined to a relative project folder (``tinyslm build proj``) it named
``proj/proj/...``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tinyslm.boards import load_board
from tinyslm.toolchain.sdkconfig import board_stale_options, pio_configs, unchecked_configs

PATH = "board_build.esp-idf.sdkconfig_path"

# Each a platformio.ini with one env, and the file PlatformIO's build reads for it.
CASES = {
    "the last extends wins": (
        f"[a]\n{PATH} = a.cfg\n[b]\n{PATH} = b.cfg\n[env:x]\nextends = a, b\n",
        "b.cfg",
    ),
    "depth first, last first": (
        f"[a]\n{PATH} = a.cfg\n[b]\nextends = c\n[c]\n{PATH} = c.cfg\n[env:x]\nextends = a, b\n",
        "c.cfg",
    ),
    "[env]'s own extends": (
        f"[common]\n{PATH} = common.cfg\n[env]\nextends = common\n[env:x]\n",
        "common.cfg",
    ),
    "${this.__env__} from [env]'s extends": (
        f"[common]\n{PATH} = cfg/${{this.__env__}}.cfg\n[env]\nextends = common\n[env:x]\n",
        "cfg/x.cfg",
    ),
    "an extends before [env]": (
        f"[a]\n{PATH} = a.cfg\n[env]\n{PATH} = env.cfg\n[env:x]\nextends = a\n",
        "a.cfg",
    ),
    "${this.x} through extends": (
        f"[a]\nd = A\n[b]\nd = B\n[env:x]\nextends = a, b\n{PATH} = ${{this.d}}.cfg\n",
        "B.cfg",
    ),
    "${env:y.x} through extends": (
        f"[a]\nd = A\n[b]\nd = B\n[env:y]\nextends = a, b\n[env:x]\n{PATH} = ${{env:y.d}}.cfg\n"
        "[platformio]\ndefault_envs = x\n",
        "B.cfg",
    ),
    # Unset, PlatformIO reads it as empty (before: said unchecked, 'tinyslm does not know
    # which file it names', where PlatformIO names this one).
    "an unset ${sysenv.X} is empty": (
        f"[env:x]\n{PATH} = ${{sysenv.TINYSLM_T_UNSET}}cfg/x.cfg\n",
        "cfg/x.cfg",
    ),
}


@pytest.fixture(autouse=True)
def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINYSLM_T_UNSET", raising=False)


@pytest.mark.parametrize(("ini", "expected"), CASES.values(), ids=list(CASES))
def test_the_file_is_the_one_platformio_names(tmp_path: Path, ini: str, expected: str) -> None:
    """Before: ``a.cfg``, ``a.cfg``, ``sdkconfig.x`` (twice), (same), ``A.cfg``, ``A.cfg``."""
    assert pio_configs(tmp_path, ini) == [tmp_path / expected]
    assert unchecked_configs(tmp_path, ini) == []


@pytest.mark.parametrize(("ini", "expected"), CASES.values(), ids=list(CASES))
def test_platformio_itself_names_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ini: str, expected: str
) -> None:
    """The expectations above are PlatformIO's own (the installed platformio package,
    read offline), so they are not this test's guesses."""
    config_module = pytest.importorskip("platformio.project.config")
    (tmp_path / "platformio.ini").write_text(ini, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = config_module.ProjectConfig(str(tmp_path / "platformio.ini"))
    assert config.get("env:x", PATH) == expected


def test_project_dir_is_absolute_for_a_relative_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tinyslm build proj``: before, ``[PosixPath('proj/proj/cfg/x.cfg')]``."""
    monkeypatch.chdir(tmp_path)
    ini = f"[env:x]\n{PATH} = ${{PROJECT_DIR}}/cfg/x.cfg\n"
    [found] = pio_configs(Path("proj"), ini)
    assert found.resolve() == (tmp_path / "proj" / "cfg" / "x.cfg").resolve()


def test_build_warns_of_the_file_the_last_extends_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end (what build's and flash's warning reads), from a relative project
    folder: the stale file is the last extends' one under ``${PROJECT_DIR}``; the first
    extends' file, up to date, is not read. Before: nothing found (``[]``)."""
    monkeypatch.chdir(tmp_path)
    project = Path("proj")
    (project / "cfg").mkdir(parents=True)
    (project / "sdkconfig.defaults").write_text("CONFIG_UART_ISR_IN_IRAM=y\n", encoding="utf-8")
    (project / "cfg" / "old.cfg").write_text("CONFIG_UART_ISR_IN_IRAM=y\n", encoding="utf-8")
    (project / "cfg" / "new.cfg").write_text(
        "# CONFIG_UART_ISR_IN_IRAM is not set\n", encoding="utf-8"
    )
    (project / "platformio.ini").write_text(
        f"[old]\n{PATH} = ${{PROJECT_DIR}}/cfg/old.cfg\n"
        f"[new]\n{PATH} = ${{PROJECT_DIR}}/cfg/new.cfg\n"
        "[env:esp32]\nextends = old, new\n",
        encoding="utf-8",
    )  # fmt: skip
    [(config, stale)] = board_stale_options(load_board("esp32"), project, needed=True)
    assert os.path.samefile(config, project / "cfg" / "new.cfg")
    assert [s.option for s in stale] == ["CONFIG_UART_ISR_IN_IRAM"]
