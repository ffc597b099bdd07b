"""One fact in one place (issue 8): each test fails when a second copy drifts or returns.

The arena alignment, the gate's figures, the TFLM pin, the way a failed
program's output is quoted, whether a board builds TFLM from source, and the
errors the CLI maps (ValueError from a config, a non-JSON device line, an
error's detail lines).
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from tinyslm import boards, manifest, verify
from tinyslm.cli import cli, friendly_errors
from tinyslm.decision import ROUTE_LOCAL, decide, gate_figures
from tinyslm.emit import project as emit_project
from tinyslm.emulate import phrases
from tinyslm.errors import TAIL_MAX_CHARS, TinySlmError, ToolchainError, output_tail
from tinyslm.resources import firmware_files
from tinyslm.toolchain import tflm

PACKAGE = Path(manifest.__file__).resolve().parent
FIXTURE_MODEL = Path(__file__).resolve().parent.parent / "fixtures" / "model"


# --- the arena alignment -------------------------------------------------------


def test_the_firmware_arena_is_aligned_as_the_manifest_says() -> None:
    adapter = firmware_files("text")["tinyslm_tflm.cc"].read_text()
    found = re.search(r"alignas\((\d+)\)\s+uint8_t\s+g_arena\b", adapter)
    assert found is not None
    assert int(found.group(1)) == manifest.ARENA_ALIGN


def test_verify_and_emit_align_with_the_manifest_constant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A second ARENA_ALIGN in emit or verify would ignore this.
    monkeypatch.setattr(manifest, "ARENA_ALIGN", 64)
    assert emit_project.arena_size_for(1000) % 64 == 0
    assert manifest.align_arena(17) == 64
    assert not hasattr(emit_project, "ARENA_ALIGN")


# --- the gate's figures --------------------------------------------------------


def test_gate_figures_by_hand() -> None:
    gate = gate_figures(
        correct=[True, True, False, False],
        local=[True, False, True, False],
        oos_escalated=[True, False],
    )
    assert (gate.accuracy, gate.accuracy_at_threshold, gate.local_rate) == (0.5, 0.25, 0.5)
    assert gate.oos_recall == 0.5
    assert gate_figures([], [], []).oos_recall is None
    assert gate_figures([], [], []).accuracy == 0.0


def test_verify_and_emulate_count_the_gate_alike() -> None:
    rng = np.random.default_rng(7)
    scores = rng.integers(-128, 128, size=(60, 5)).astype(np.int8)
    truth = rng.integers(0, 5, size=60)
    oos = rng.integers(-128, 128, size=(13, 5)).astype(np.int8)
    labels = [f"intent_{i}" for i in range(5)]
    threshold_q = 40
    results = []
    for rows, expected, is_oos in ((scores, truth, False), (oos, [0] * len(oos), True)):
        for row, want in zip(rows, expected, strict=True):
            said = decide(row, 1 / 256, -128, threshold_q)
            results.append(
                phrases.PhraseResult(
                    text="x",
                    label="oos" if is_oos else labels[int(want)],
                    oos=is_oos,
                    line="{}",
                    intent=labels[said.index],
                    route=said.route,
                    score=None,
                    us=None,
                )
            )
    device = phrases.score_results(results, source="s", split="test", labels=labels)
    reference = verify.gate_metrics(scores, truth, oos, threshold_q)
    assert device.accuracy == reference.accuracy
    assert device.accuracy_at_threshold == reference.accuracy_at_threshold
    assert device.oos_recall == reference.oos_recall
    local = sum(r.route == ROUTE_LOCAL for r in results if not r.oos)
    assert device.escalation_rate == (60 - local) / 60


def test_calibration_objective_is_the_gate_figures() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(-128, 128, size=(40, 4)).astype(np.int8)
    truth = rng.integers(0, 4, size=40)
    oos = rng.integers(-128, 128, size=(9, 4)).astype(np.int8)
    choice = verify.calibrate_threshold(scores, truth, oos, manifest.QuantParams(1 / 256, -128))
    gate = verify.gate_metrics(scores, truth, oos, choice.threshold_q)
    assert gate.oos_recall is not None
    assert choice.objective == gate.accuracy_at_threshold + gate.oos_recall


# --- the TFLM pin --------------------------------------------------------------


def test_the_tflm_pin_matches_every_board_that_builds_tflm_from_source() -> None:
    built = [b for b in boards.load_boards() if b.tflm.needs_tree]
    assert built, "no board builds TFLM from a source tree"
    for board in built:
        pin = board.tflm
        assert (pin.repository, pin.commit) == (tflm.TFLM_REPOSITORY, tflm.TFLM_COMMIT), board.id
        assert (pin.target, pin.target_arch, pin.optimized_kernels) == (
            tflm.CORTEX_M_TARGET,
            tflm.CORTEX_M_ARCH,
            tflm.CORTEX_M_KERNELS,
        ), board.id


def test_needs_tree_follows_the_board_file() -> None:
    assert boards.load_board("stm32h7").tflm.needs_tree
    assert not boards.load_board("esp32").tflm.needs_tree


# --- quoting a failed program's output -----------------------------------------


def test_output_tail() -> None:
    assert output_tail("a\n\n  b  \nc\nd\ne\n") == "b | c | d | e"
    assert output_tail(b"x\ny\n", 1) == "y"
    assert output_tail("\n \n") == ""
    long = output_tail("z" * 1000)
    assert len(long) == TAIL_MAX_CHARS + 3 and long.startswith("...")


def test_no_module_quotes_output_its_own_way() -> None:
    # The copies this replaced: " | ".join(lines[-N:]) and stderr.strip()[-200:].
    pattern = re.compile(r'" \| "\.join\(lines\[|\.strip\(\)\[-\d+:\]')
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.name != "errors.py" and pattern.search(p.read_text())
    ]
    assert offenders == []


# --- errors the CLI maps ---------------------------------------------------------


def test_generated_readme_shows_the_tflm_accuracy() -> None:
    board = boards.load_board("esp32")
    man, model = manifest.load_model_dir(FIXTURE_MODEL)
    plan = emit_project.render_project(board, man, model)
    readme = plan.as_mapping()["README.md"].decode()
    accuracy = man.metrics["int8_accuracy"]
    assert f"| accuracy (TFLM, test split) | {accuracy:.3f} |" in readme


@pytest.mark.parametrize("line", ["booting...", "[1, 2]", '"text"', ""])
def test_a_device_line_that_is_not_a_json_object_is_a_tinyslm_error(line: str) -> None:
    with pytest.raises(ToolchainError, match="not a JSON object"):
        phrases.parse_line(line)
    with pytest.raises(ToolchainError, match="not a JSON object"):
        phrases.run_phrases(lambda lines: [line], [("hi", "a", False)], source="s", split="t")


def test_errors_print_their_detail_then_one_error_line() -> None:
    @click.command()
    @friendly_errors
    def failing() -> None:
        raise ToolchainError("it broke", detail=["first line", "last line"])

    result = CliRunner().invoke(failing, [])
    assert result.exit_code == 1
    assert result.stderr == "  first line\n  last line\nerror: it broke\n"
    assert TinySlmError("plain").detail == ()


def test_train_options_the_dataclasses_refuse_are_one_line() -> None:
    result = CliRunner().invoke(
        cli, ["train", "--no-unigrams", "--no-bigrams", "--no-char-trigrams", "-o", "unused"]
    )
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "feature family" in errors[0], result.stderr
