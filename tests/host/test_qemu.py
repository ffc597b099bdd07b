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
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from firmware_checks import ARENA_CASES, copy_with_tiny_arena
from shared_paths import require_path, require_tool, sdk_path

from tinyslm.boards import load_board
from tinyslm.cli import cli
from tinyslm.emulate import qemu
from tinyslm.emulate.emulator import Emulator
from tinyslm.emulate.phrases import dataset_phrases
from tinyslm.errors import ToolchainError
from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_generate
from tinyslm.resources import data_dir
from tinyslm.text.dataset import load_dataset
from tinyslm.toolchain import cortex_m
from tinyslm.toolchain.tflm import REQUIRED_FILES

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
    require_tool(qemu.QEMU, cortex_m.ARM_CC, cortex_m.ARM_CXX)
    # Set but unusable is a mistake worth failing on, not a reason to skip.
    return cortex_m.resolve_cortex_m_tree(tree)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qemu") / "proj"
    run_generate("stm32h7", out, model_dir=FIXTURE_MODEL)
    return out


@pytest.fixture(scope="module")
def image(cm7_tree: Path, project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cortex_m.build_image(project, cm7_tree, tmp_path_factory.mktemp("img") / "fw.elf")


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

    # One answer per phrase, then the edges (the empty and the blank line get none).
    assert len(want) >= len(phrases) + len(EDGE_LINES) - 2
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert without_us(g) == without_us(w), f"line {i}: sent {sent[min(i, len(sent) - 1)]!r}"
    answers = [json.loads(line) for line in got[: len(phrases)]]
    assert all(isinstance(a.get("us"), int) for a in answers)
    assert {a["route"] for a in answers} == {"local", "escalate"}
    info = json.loads(got[len(phrases)])["info"]
    assert info["board"] == "stm32h7"


def test_qemu_counts_instructions(project: Path, image: Path) -> None:
    lines = [b"turn on the kitchen lights", b"what's the weather like tomorrow", b":info"]
    first = qemu.run_measured(image, lines, "phases")
    again = qemu.run_measured(image, lines, "phases")
    # -icount: the same image and input give the same counts, whatever the host does.
    assert first == again
    assert len(first.phrases) == 2  # one record per answered phrase; :info has none
    assert without_us(first.lines[0]) == without_us(reference_lines(project, lines[:1])[0])
    for line, m in zip(first.lines, first.phrases, strict=False):
        assert m.tokenize > 0 and m.inference > 0 and m.decision > 0
        assert all(n % qemu.INSTRUCTIONS_PER_TICK == 0 for n in (m.tokenize, m.inference))
        # "us" is the same window in microseconds of 1-instruction nanoseconds.
        assert abs(json.loads(line)["us"] * 1000 - m.total) < 1000 + qemu.INSTRUCTIONS_PER_TICK


def test_qemu_times_each_op_and_mean_is_fast(image: Path) -> None:
    manifest, _ = load_model_dir(FIXTURE_MODEL)
    run = qemu.run_measured(image, [b"set a timer for ten minutes"], "ops")
    (m,) = run.phrases
    ops = dict(m.ops)
    assert sorted(ops) == sorted(manifest.ops)
    assert sum(ops.values()) <= m.inference
    # tinyslm's MEAN kernel: TFLM's generic int8 MEAN was over 90% of Invoke here.
    assert ops["MEAN"] < 0.3 * m.inference


def test_device_lines_split_on_newline_bytes_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # U+0085, U+2028, U+2029 inside an answer: str.splitlines() would cut it in four.
    payload = '{"intent":"a","text":"x\u0085y\u2028z\u2029w"}\n{"info":{}}\n'.encode()
    fake = tmp_path / qemu.QEMU
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "args = sys.argv[1:]\n"
        "path = args[args.index('-serial') + 1].removeprefix('file:')\n"
        f"open(path, 'wb').write({payload!r})\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    got = qemu.run_image(tmp_path / "firmware.elf", [b"x"])
    assert got == payload.decode().split("\n")[:2]


def test_qemu_image_fits_the_board(image: Path) -> None:
    size = cortex_m.image_size(image)
    manifest, model_bytes = load_model_dir(FIXTURE_MODEL)
    board = load_board("stm32h7")
    assert size.text > len(model_bytes)  # the model array is in flash
    assert size.bss >= manifest.arena_bytes  # the arena is static
    assert size.text + size.data <= board.flash_kb * 1024
    assert size.data + size.bss <= board.ram_kb * 1024


@ARENA_CASES
def test_qemu_handles_a_too_small_arena(
    cm7_tree: Path,
    project: Path,
    tmp_path: Path,
    arena: int,
    check: Callable[[ToolchainError], None],
) -> None:
    broken = copy_with_tiny_arena(project, tmp_path / "proj", arena)
    with pytest.raises(ToolchainError) as info:
        qemu.run_qemu(broken, cm7_tree, [b"lights on"])
    check(info.value)


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
    assert result.exit_code == 1  # a usage error: one 'error:' line, exit 1 (README)
    assert "--qemu cannot be combined with --native" in result.output


def test_a_host_tree_is_refused(tmp_path: Path) -> None:
    for rel in REQUIRED_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    with pytest.raises(ToolchainError, match=r"host .*--qemu needs a Cortex-M7 tree"):
        cortex_m.resolve_cortex_m_tree(tmp_path)


def test_missing_qemu_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match="qemu-system-arm not found") as info:
        qemu.check_tools()
    assert "\n" not in str(info.value)
