"""Round 49 (hmisc #2, #5): info of a keyword model shows the device line limit (README
lists it), and info of a keyword project checks its headers against tinyslm.json."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tinyslm.errors import ProjectError
from tinyslm.info import KWS_MAX_COMMAND, format_info, model_info
from tinyslm.pipeline import run_generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir


@pytest.fixture(scope="module")
def keyword_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("kwinfo")
    model = keyword_model_dir(root / "kw")
    project = root / "p"
    run_generate("esp32", project, model_dir=model)
    return model, project


def test_keyword_info_shows_the_device_line_limit(keyword_project: tuple[Path, Path]) -> None:
    """Before: no such row for a keyword model (only --json's max_line)."""
    for where in keyword_project:
        rows = dict(line.split("  ", 1) for line in format_info(model_info(where)).splitlines())
        limit = rows["device line limit"].strip()
        assert limit == f"{KWS_MAX_COMMAND} bytes (':' commands)", where


def _copy(project: Path, tmp_path: Path) -> Path:
    import shutil

    out = tmp_path / "p"
    shutil.copytree(project, out)
    return out


def test_keyword_project_threshold_edited_refused(
    keyword_project: tuple[Path, Path], tmp_path: Path
) -> None:
    project = _copy(keyword_project[1], tmp_path)
    settings = project / "src" / "tinyslm_settings.h"
    lines = settings.read_text().splitlines()
    lines = [
        "#define TINYSLM_THRESHOLD_Q (127)" if ln.startswith("#define TINYSLM_THRESHOLD_Q ") else ln
        for ln in lines
    ]
    settings.write_text("\n".join(lines) + "\n")
    with pytest.raises(ProjectError, match=r"tinyslm_settings\.h: TINYSLM_THRESHOLD_Q 127 does"):
        model_info(project)


def test_keyword_project_line_limit_edited_refused(
    keyword_project: tuple[Path, Path], tmp_path: Path
) -> None:
    project = _copy(keyword_project[1], tmp_path)
    app = project / "src" / "tinyslm_kws_app.h"
    text = app.read_text()
    old = f"#define TINYSLM_KWS_MAX_COMMAND {KWS_MAX_COMMAND}\n"
    assert old in text
    app.write_text(text.replace(old, "#define TINYSLM_KWS_MAX_COMMAND 64\n"))
    with pytest.raises(ProjectError, match=r"TINYSLM_KWS_MAX_COMMAND 64 does not match"):
        model_info(project)


def test_keyword_project_line_limit_flag_refused(
    keyword_project: tuple[Path, Path], tmp_path: Path
) -> None:
    # TINYSLM_KWS_MAX_COMMAND is #ifndef-guarded in tinyslm_kws_app.h: a -D flag in
    # platformio.ini is what the firmware has, not the 32 info would say (a review).
    project = _copy(keyword_project[1], tmp_path)
    ini = project / "platformio.ini"
    base = ini.read_text()
    ini.write_text(base + "; build_flags = -DTINYSLM_KWS_MAX_COMMAND=64\n")
    model_info(project)  # a comment is no flag
    ini.write_text(base + "build_flags = -DTINYSLM_KWS_MAX_COMMAND=64\n")
    with pytest.raises(
        ProjectError, match=r"a build flag defines TINYSLM_KWS_MAX_COMMAND \(-D\).*remove the flag"
    ):
        model_info(project)
