"""The firmware cross-compiled for Cortex-M7 (CMSIS-NN kernels) on QEMU's mps2-an500.

Needs ``qemu-system-arm``, ``arm-none-eabi-gcc``/``g++`` and a Cortex-M7 TFLM tree
made by create_tflm_tree.py (``tinyslm tflm fetch`` on a networked machine):
point ``TINYSLM_TFLM_CM7_DIR`` at it. The first run compiles TFLM's core and the
model's kernels for Arm into ~/.cache/tinyslm/native (minutes); later runs reuse them.

The reference is the shared-library emulator (``tinyslm emulate``: the same core
on the host, TFLM's Python runtime behind it). Both get the same bytes; every
output line must be identical but for the ``"us"`` field.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from firmware_checks import assert_reports_tflm_init_failure, copy_with_tiny_arena
from shared_paths import require_path, require_tool, sdk_path

from tinyslm import qemu
from tinyslm.boards import load_board
from tinyslm.cli import cli
from tinyslm.dataset import load_dataset
from tinyslm.emulate import Emulator, dataset_phrases
from tinyslm.errors import ToolchainError
from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_generate
from tinyslm.resources import data_dir
from tinyslm.tflm import REQUIRED_FILES

TREE_ENV = "TINYSLM_TFLM_CM7_DIR"
FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
_US = re.compile(r',"us":\d+')

# Protocol edges, as raw serial bytes (each followed by "\n" when sent).
EDGE_LINES = [
    b":info",
    b":nope",
    b"",
    b"x" * 300,
    b"lights\r",
    b"turn on the lights\r",
    b'say "hi" \\ now',
    b"nul\x00inside lights",
    b"\x01\x1f control bytes",
    b"bad utf8 \xff\xfe lights on",
    "caf\u00e9 lumi\u00e8re \u2603 on".encode(),
    b"   ",
    b"a" * 256,
    b"b" * 257,
]


@pytest.fixture(scope="module")
def cm7_tree() -> Path:
    raw = os.environ.get(TREE_ENV, "").strip()
    tree = Path(raw) if raw else require_path(sdk_path("tflm", "cortex-m7"), "Cortex-M7 TFLM tree")
    require_tool(qemu.QEMU, qemu.ARM_CC, qemu.ARM_CXX)
    # Set but unusable is a mistake worth failing on, not a reason to skip.
    return qemu.resolve_cortex_m_tree(tree)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qemu") / "proj"
    run_generate("stm32h7", out, model_dir=FIXTURE_MODEL)
    return out


@pytest.fixture(scope="module")
def image(cm7_tree: Path, project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return qemu.build_image(project, cm7_tree, tmp_path_factory.mktemp("img") / "fw.elf")


def demo_test_lines() -> list[bytes]:
    """The demo set's test split (in scope and out of scope), one line per phrase."""
    manifest, _ = load_model_dir(FIXTURE_MODEL)
    dataset = load_dataset(data_dir() / "demo_commands.csv", seed=manifest.seed)
    return [text.encode("utf-8") for text, _, _ in dataset_phrases(dataset, "test")]


def reference_lines(project: Path, lines: list[bytes]) -> list[str]:
    emulator = Emulator(project)
    return emulator.feed(b"".join(line + b"\n" for line in lines))


def without_us(line: str) -> str:
    return _US.sub("", line, count=1)


def test_qemu_answers_like_the_emulator(project: Path, image: Path) -> None:
    phrases = demo_test_lines()
    assert len(phrases) >= 100
    sent = phrases + EDGE_LINES
    got = qemu.run_image(image, sent)
    want = reference_lines(project, sent)

    # One answer per phrase, then the edges (the empty line gets none).
    assert len(want) >= len(phrases) + len(EDGE_LINES) - 1
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert without_us(g) == without_us(w), f"line {i}: sent {sent[min(i, len(sent) - 1)]!r}"
    answers = [json.loads(line) for line in got[: len(phrases)]]
    assert all(isinstance(a.get("us"), int) for a in answers)
    assert {a["route"] for a in answers} == {"local", "escalate"}
    info = json.loads(got[len(phrases)])["info"]
    assert info["board"] == "stm32h7"


def test_qemu_image_fits_the_board(image: Path) -> None:
    size = qemu.image_size(image)
    manifest, model_bytes = load_model_dir(FIXTURE_MODEL)
    board = load_board("stm32h7")
    assert size.text > len(model_bytes)  # the model array is in flash
    assert size.bss >= manifest.arena_bytes  # the arena is static
    assert size.text + size.data <= board.flash_kb * 1024
    assert size.data + size.bss <= board.ram_kb * 1024


def test_qemu_reports_a_too_small_arena(cm7_tree: Path, project: Path, tmp_path: Path) -> None:
    broken = copy_with_tiny_arena(project, tmp_path / "proj")
    with pytest.raises(ToolchainError) as info:
        qemu.run_qemu(broken, cm7_tree, [b"lights on"])
    assert_reports_tflm_init_failure(info.value)


def test_cli_emulate_qemu(cm7_tree: Path, project: Path) -> None:
    runner = CliRunner()
    args = ["emulate", str(project), "--qemu", "--tflm-dir", str(cm7_tree)]
    result = runner.invoke(cli, [*args, "--text", "turn on the lights"])
    assert result.exit_code == 0, result.output
    want = reference_lines(project, [b"turn on the lights"])
    assert [without_us(line) for line in result.output.splitlines()] == [
        without_us(line) for line in want
    ]


def test_cli_refuses_qemu_with_native(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["emulate", str(tmp_path), "--qemu", "--native"])
    assert result.exit_code == 2
    assert "--qemu cannot be combined with --native" in result.output


def test_a_host_tree_is_refused(tmp_path: Path) -> None:
    for rel in REQUIRED_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    with pytest.raises(ToolchainError, match=r"host .*--qemu needs a Cortex-M7 tree"):
        qemu.resolve_cortex_m_tree(tmp_path)


def test_missing_qemu_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match="qemu-system-arm not found") as info:
        qemu.check_tools()
    assert "\n" not in str(info.value)
