"""``tinyslm emulate``: what it checks and says about the firmware it ran.

- ``--data`` on a text project holds the device's answers to the Python TFLM
  reference (parity, in the figures and the JSON; one error line on a mismatch)
  and refuses compiled settings whose thresholds are not the manifest's;
- ``--json`` names the engine and the unit of its timings (thousands of
  instructions under QEMU);
- ``--qemu`` on a board that is not a Cortex-M7 says QEMU ran a stand-in;
- ``--text`` is one line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cli_support import DEMO_CSV, assert_one_error_line, copy_project, edit_once, run_cli
from shared_paths import require_path, require_tool, sdk_path

from tinyslm.emulate.qemu import stand_in_note


@pytest.fixture(autouse=True)
def _host_compiler() -> None:
    require_tool("cc")


def _host_tree() -> Path:
    raw = os.environ.get("TINYSLM_TFLM_DIR", "").strip()
    return Path(raw) if raw else require_path(sdk_path("tflm", "host"), "host TFLM tree")


def test_data_reports_parity_with_the_reference(esp32_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = run_cli("emulate", str(esp32_project), "--data", str(DEMO_CSV), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(out.read_text())
    n = figures["phrases"] + figures["oos_phrases"]
    assert (figures["parity_phrases"], figures["parity_identical"]) == (n, n)
    assert figures["parity_mismatches"] == []
    assert f"PARITY with the Python TFLM reference: identical ({n}/{n} phrases" in proc.stdout


def test_data_fails_when_the_answers_differ_from_the_reference(
    esp32_project: Path, tmp_path: Path
) -> None:
    # A core that prints its scores a little high: model, arena and thresholds are the
    # project's, so only the comparison with the reference can see it.
    copy = copy_project(esp32_project, tmp_path)
    edit_once(copy / "src" / "tinyslm_gate.c", "* scale * 1000.0f;", "* scale * 1001.0f;")
    out = tmp_path / "figures.json"
    proc = run_cli("emulate", str(copy), "--data", str(DEMO_CSV), "--json", str(out))
    line = assert_one_error_line(proc, "emulator: ", "differ from the Python TFLM reference")
    assert re.search(r"error: emulator: \d+ of \d+ phrases differ", line), line
    assert "PARITY with the Python TFLM reference: DIFFERENT" in proc.stdout
    figures = json.loads(out.read_text())  # the figures are still written
    assert figures["parity_identical"] < figures["parity_phrases"]
    assert figures["parity_mismatches"]


@pytest.mark.parametrize(
    ("engine", "mode"),
    [("emulator", "data"), ("native", "data"), ("native", "text"), ("qemu", "text")],
)
def test_a_hand_edited_threshold_is_refused(
    esp32_project: Path, tmp_path: Path, engine: str, mode: str
) -> None:
    # One level off: too small a change for the demo's routes to show it. --text --native
    # (and --qemu) answered at the edited level: they are given an empty tree, so only a
    # check made before their build can name the settings.
    copy = copy_project(esp32_project, tmp_path)
    header = copy / "src" / "tinyslm_settings.h"
    old = re.search(r"#define TINYSLM_THRESHOLD_Q \((-?\d+)\)", header.read_text())
    assert old is not None
    level = int(old.group(1)) - 1
    edit_once(header, old.group(0), f"#define TINYSLM_THRESHOLD_Q ({level})")
    given = ["--data", str(DEMO_CSV)] if mode == "data" else ["--text", "turn on the lights"]
    tree = _host_tree() if mode == "data" else tmp_path / "no-tree"
    tree.mkdir(exist_ok=True)
    extra = [f"--{engine}", "--tflm-dir", str(tree)] if engine != "emulator" else []
    proc = run_cli("emulate", str(copy), *given, *extra)
    assert_one_error_line(
        proc, f"{header}: TINYSLM_THRESHOLD_Q {level} does not match tinyslm.json's threshold_q"
    )
    assert proc.stdout == ""


def test_text_refuses_a_hand_edited_label_level(esp32_project: Path, tmp_path: Path) -> None:
    # A table of levels of its own put into the settings by hand: the gate reads it.
    copy = copy_project(esp32_project, tmp_path)
    settings = copy / "src" / "tinyslm_settings.c"
    edit_once(
        settings,
        "const tinyslm_model_info_t tinyslm_model_info = {",
        "static const int32_t levels[TINYSLM_NUM_LABELS] = {[5] = 90};\n"
        "const tinyslm_model_info_t tinyslm_model_info = {\n  .label_threshold_q = levels,",
    )
    proc = run_cli("emulate", str(copy), "--text", "turn on the lights")
    assert_one_error_line(proc, f"{settings}: threshold_q ", "does not match tinyslm.json's")


def test_json_names_the_engine_and_time_unit(esp32_project: Path) -> None:
    proc = run_cli("emulate", str(esp32_project), "--data", str(DEMO_CSV), "--json", "-")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert (figures["engine"], figures["time_unit"]) == ("emulator", "us")
    assert "us_p50" in figures  # the keys others read stay
    assert "note:" not in proc.stderr


def test_qemu_on_esp32_names_the_stand_in_and_its_unit(esp32_project: Path) -> None:
    """--qemu on an Xtensa board: instruction counts in the JSON, parity, and a note."""
    from tinyslm.emulate.qemu import QEMU

    require_tool(QEMU)
    require_tool("arm-none-eabi-gcc")
    tree = require_path(sdk_path("tflm", "cortex-m7"), "Cortex-M7 TFLM tree")
    proc = run_cli(
        "emulate", str(esp32_project), "--data", str(DEMO_CSV), "--json", "-",
        "--qemu", "--tflm-dir", str(tree), timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert (figures["engine"], figures["time_unit"]) == ("qemu", "thousand_instructions")
    assert figures["parity_identical"] == figures["parity_phrases"] > 0
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1, proc.stderr
    assert "stand-in for this esp32 project's xtensa-lx6 CPU" in notes[0]
    assert "instructions (k) p50" in proc.stderr  # the text went to stderr with --json -


def test_stand_in_note_only_for_other_cpus() -> None:
    assert stand_in_note("stm32h7") is None  # a Cortex-M7: QEMU runs its CPU
    note = stand_in_note("esp32")
    assert note is not None and "\n" not in note and "xtensa-lx6" in note


@pytest.mark.parametrize("text", ["turn on\nthe lights", "turn on\rthe lights", ":info\n:info"])
def test_text_with_a_line_break_is_refused(esp32_project: Path, text: str) -> None:
    # The device ends a line at either byte: one --text got two answers.
    proc = run_cli("emulate", str(esp32_project), "--text", text)
    assert_one_error_line(proc, "--text holds a line break")
    assert proc.stdout == ""
