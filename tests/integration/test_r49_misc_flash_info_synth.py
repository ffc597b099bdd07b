"""Round 49 (hmisc): ``flash --port`` a board's uploader does not use, or a ``spy://``
URL naming a file; ``info`` of a project whose headers disagree with ``tinyslm.json``;
``synth -o`` inside a model folder. Each refused in one line before anything runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import FIXTURE_MODEL, assert_one_error_line, run_cli


def _stm32_project(minimal_project: Path) -> Path:
    info = json.loads((minimal_project / "tinyslm.json").read_text())
    (minimal_project / "tinyslm.json").write_text(json.dumps({**info, "board": "stm32h7"}))
    (minimal_project / "platformio.ini").write_text(
        "[env:stm32h7]\nplatform = ststm32@19.6.0\nupload_protocol = stlink\n"
    )
    return minimal_project


def test_flash_port_refused_for_a_board_flashed_through_its_st_link(
    fake_pio: Path, minimal_project: Path
) -> None:
    """boards/stm32h7.yaml's upload_protocol stlink: OpenOCD flashes the first ST-LINK it
    finds and never reads --upload-port. Before: pio ran with the port, 'flashed'."""
    project = _stm32_project(minimal_project)
    proc = run_cli("flash", str(project), "--port", "/dev/ttyACM1")
    line = assert_one_error_line(proc, "--port /dev/ttyACM1", "stlink", "leave --port out")
    assert "upload_flags" in line
    assert not fake_pio.exists()  # pio never started


def test_flash_port_still_passed_for_a_serial_upload(fake_pio: Path, minimal_project: Path) -> None:
    proc = run_cli("flash", str(minimal_project), "--port", "/dev/ttyUSB3")
    assert proc.returncode == 0, proc.stderr
    assert fake_pio.read_text().split()[-2:] == ["--upload-port", "/dev/ttyUSB3"]


def test_flash_without_port_on_an_st_link_board_is_not_refused_for_the_port(
    fake_pio: Path, minimal_project: Path
) -> None:
    # No lib/tflm here: the refusal is open_checked's, not the port's.
    proc = run_cli("flash", str(_stm32_project(minimal_project)))
    assert "--port" not in proc.stderr


def test_flash_spy_url_naming_an_existing_file_refused(
    fake_pio: Path, minimal_project: Path, tmp_path: Path
) -> None:
    """esptool opens --port with pyserial, whose spy:// empties its file= log. Before: the
    URL went to pio. Nothing opens the URL here: the fake pio only logs its argv."""
    keep = tmp_path / "notes.txt"
    keep.write_text("mine\n")
    url = f"spy://loop://?file={keep}"
    proc = run_cli("flash", str(minimal_project), "--port", url)
    assert_one_error_line(proc, f"spy:// would overwrite {keep}")
    assert not fake_pio.exists()
    assert keep.read_text() == "mine\n"


def _edited(esp32_project: Path, tmp_path: Path, old: str, new: str) -> Path:
    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    settings = project / "src" / "tinyslm_settings.h"
    text = settings.read_text()
    assert old in text
    settings.write_text(text.replace(old, new))
    return project


def _define(esp32_project: Path, name: str) -> str:
    for line in (esp32_project / "src" / "tinyslm_settings.h").read_text().splitlines():
        if line.startswith(f"#define {name} "):
            return line
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("name", "value", "json_key"),
    [
        ("TINYSLM_ARENA_SIZE", "400000", "arena_size"),
        ("TINYSLM_THRESHOLD_Q", "(50)", "threshold_q"),
        ("TINYSLM_MAX_LINE", "1024", "max_line"),
    ],
)
def test_info_refuses_settings_edited_after_generation(
    esp32_project: Path, tmp_path: Path, name: str, value: str, json_key: str
) -> None:
    """Before: info said '9488 in the firmware (the device's ':info' arena_bytes)' and
    'fits esp32' with a 400000-byte arena compiled in."""
    line = _define(esp32_project, name)
    project = _edited(esp32_project, tmp_path, line, f"#define {name} {value}")
    proc = run_cli("info", str(project))
    assert_one_error_line(
        proc,
        str(project / "src" / "tinyslm_settings.h"),
        f"{name} {value.strip('()')} does not match tinyslm.json's {json_key}",
        "regenerate the project",
    )


def test_info_refuses_a_tinyslm_json_arena_the_firmware_does_not_have(
    esp32_project: Path, tmp_path: Path
) -> None:
    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    path = project / "tinyslm.json"
    data = json.loads(path.read_text())
    data["arena_size"] += 1000
    path.write_text(json.dumps(data))
    proc = run_cli("info", str(project))
    assert_one_error_line(proc, "TINYSLM_ARENA_SIZE", f"arena_size {data['arena_size']}")


def test_info_refuses_a_board_platformio_ini_does_not_build(
    esp32_project: Path, tmp_path: Path
) -> None:
    """Before: 'project for board stm32h7' of an esp32 project."""
    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    path = project / "tinyslm.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "board": "stm32h7"}))
    proc = run_cli("info", str(project))
    assert_one_error_line(proc, str(project / "platformio.ini"), "no [env:stm32h7]")


def test_info_of_an_unedited_project_still_answers(esp32_project: Path) -> None:
    proc = run_cli("info", str(esp32_project))
    assert proc.returncode == 0, proc.stderr
    assert "in the firmware" in proc.stdout


def test_info_board_not_a_string_is_named_as_such(tmp_path: Path, esp32_project: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    path = project / "tinyslm.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "board": 3}))
    proc = run_cli("info", str(project))
    line = assert_one_error_line(proc, "'board' 3 is not a board id")
    assert "missing" not in line


def test_synth_output_inside_a_model_folder_refused(tmp_path: Path) -> None:
    """Before: the clips were rendered into MODEL/syn and 'train --force' then refused
    the model folder. Refused before any engine is looked for."""
    model = tmp_path / "m"
    shutil.copytree(FIXTURE_MODEL, model)
    out = model / "syn"
    proc = run_cli("synth", "yes", "no", "-o", str(out))
    assert_one_error_line(proc, f"-o {out} is inside the model folder {model}")
    assert not out.exists()
