"""Round 49 review (rev4) of info's settings check: a value written with an integer
suffix or a comment after it is still the value (it was refused as "no #define ...
(edited)"), and a build flag in platformio.ini that defines one of the checked macros is
what the firmware has, so info refuses to say otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_support import run_cli


def _copy(esp32_project: Path, tmp_path: Path) -> Path:
    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    return project


def _value(project: Path, name: str) -> str:
    for line in (project / "src" / "tinyslm_settings.h").read_text().splitlines():
        if line.startswith(f"#define {name} "):
            return line.split(None, 2)[2]
    raise AssertionError(name)


@pytest.mark.parametrize(
    "form", ["{v}u", "{v} /* bytes */", "{v} // bytes", "( {v} )", "{v}UL  /* x */"]
)
def test_info_reads_a_define_with_a_suffix_or_a_comment(
    esp32_project: Path, tmp_path: Path, form: str
) -> None:
    project = _copy(esp32_project, tmp_path)
    settings = project / "src" / "tinyslm_settings.h"
    value = _value(project, "TINYSLM_ARENA_SIZE")
    old = f"#define TINYSLM_ARENA_SIZE {value}"
    text = settings.read_text()
    assert old in text
    settings.write_text(text.replace(old, "#define TINYSLM_ARENA_SIZE " + form.format(v=value)))
    proc = run_cli("info", str(project))
    assert proc.returncode == 0, proc.stderr
    assert f"{value} in the firmware" in proc.stdout, proc.stdout


def test_info_takes_a_build_flag_the_settings_header_overrides(
    esp32_project: Path, tmp_path: Path
) -> None:
    # A review: the settings header's #defines are not #ifndef-guarded, so its value wins
    # over a -D flag (gcc -E): the firmware has what info says.
    project = _copy(esp32_project, tmp_path)
    ini = project / "platformio.ini"
    ini.write_text(ini.read_text() + "build_flags = -DTINYSLM_MAX_LINE=1024\n")
    proc = run_cli("info", str(project))
    assert proc.returncode == 0, proc.stderr


def test_info_takes_a_build_flag_of_another_macro(esp32_project: Path, tmp_path: Path) -> None:
    project = _copy(esp32_project, tmp_path)
    ini = project / "platformio.ini"
    ini.write_text(ini.read_text() + "build_flags = -DMY_DRIVER=1 -DTINYSLM_MY_OWN=2\n")
    proc = run_cli("info", str(project))
    assert proc.returncode == 0, proc.stderr
