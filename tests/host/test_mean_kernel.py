"""tinyslm's MEAN kernel is bit-exact with TFLM's own MEAN.

``tests/host/mean_driver.cc`` runs ``tinyslm_Register_MEAN()`` (firmware/common/tinyslm_mean.cc)
and ``tflite::Register_MEAN()`` through TFLM's KernelRunner on the same tensors over
thousands of seeded random cases (shapes, axes, keep_dims, scales, zero points, the
text model's [1, L, D] over L) and counts the cases whose int8 outputs differ. Built
on the host against the reference-kernel TFLM tree in shared/sdk, and for Cortex-M7
(the SXTAB16 path, CMSIS-NN tree) run under QEMU.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest
from shared_paths import require_path, require_tool, sdk_path

from tinyslm.emulate import qemu
from tinyslm.resources import firmware_files
from tinyslm.toolchain import cortex_m, host

MEAN_CC = firmware_files("text")["tinyslm_mean.cc"]
DRIVER = Path(__file__).resolve().parent / "mean_driver.cc"
DRIVER_GLUE = Path(__file__).resolve().parent / "mean_driver_qemu.c"
# TFLM's kernel-test helpers, which the firmware build leaves out of its sources.
TEST_HELPERS = (
    "tensorflow/lite/micro/test_helpers.cc",
    "tensorflow/lite/micro/test_helper_custom_ops.cc",
    "tensorflow/lite/micro/fake_micro_context.cc",
    "tensorflow/lite/micro/mock_micro_graph.cc",
)
_SUMMARY = re.compile(r"cases=(\d+) fast=(\d+) mismatches=(\d+) failures=(\d+)")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = require_path(sdk_path("tflm", "host"), "host TFLM tree")
    require_tool("c++", "cc")
    tree = host.check_host_tree(tree)
    toolchain = dataclasses.replace(
        host.host_toolchain(),
        name="mean-check",
        board_sources=(DRIVER, *(tree / rel for rel in TEST_HELPERS)),
    )
    out = tmp_path_factory.mktemp("mean") / "mean_driver"
    return host.build_firmware([MEAN_CC], tree, out, toolchain)


def run_driver(driver: Path, *args: str) -> tuple[int, int, int, int, str]:
    proc = subprocess.run(
        [str(driver), *args], capture_output=True, text=True, timeout=300, check=False
    )
    found = _SUMMARY.search(proc.stdout)
    assert found, proc.stdout + proc.stderr
    n, fast, mismatches, failures = (int(g) for g in found.groups())
    assert proc.returncode == (0 if mismatches == failures == 0 else 1)
    return n, fast, mismatches, failures, proc.stdout


def test_mean_kernel_matches_tflm_reference(driver: Path) -> None:
    n, fast, mismatches, failures, out = run_driver(driver, "4000")
    assert n == 4000
    assert mismatches == 0 and failures == 0, out
    # Both paths were exercised: the kernel's own int8 path and TFLM's fallback.
    assert fast >= 3000 and n - fast >= 300, out


def test_the_comparison_catches_a_one_step_difference(driver: Path) -> None:
    # The kernel run with its output zero point moved by one: some outputs clamp
    # to the same int8 value, but most cases must be reported.
    n, _, mismatches, failures, out = run_driver(driver, "400", "plant")
    assert failures == 0, out
    assert mismatches >= n // 2, out


@pytest.fixture(scope="module")
def cm7_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = require_path(sdk_path("tflm", "cortex-m7"), "Cortex-M7 TFLM tree")
    require_tool(qemu.QEMU, cortex_m.ARM_CC, cortex_m.ARM_CXX)
    tree = cortex_m.resolve_cortex_m_tree(tree)
    toolchain = dataclasses.replace(
        cortex_m.cortex_m7_toolchain(tree),
        name="mean-check-cm7",
        board_sources=(
            cortex_m.GLUE_DIR / "startup.c",
            DRIVER_GLUE,
            DRIVER,
            *(tree / rel for rel in TEST_HELPERS),
        ),
    )
    out = tmp_path_factory.mktemp("mean-cm7") / "mean_driver.elf"
    return host.build_firmware([MEAN_CC], tree, out, toolchain)


def test_mean_kernel_dsp_path_matches_tflm_on_cortex_m7(cm7_driver: Path) -> None:
    # The SXTAB16 path (__ARM_FEATURE_DSP) only exists in the Cortex-M7 build: make
    # sure it is the one compiled in, then compare it with TFLM on the emulated M7.
    require_tool("arm-none-eabi-objdump")
    disassembly = subprocess.run(
        ["arm-none-eabi-objdump", "-d", "-C", str(cm7_driver)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert re.search(r"sxtab16\s+\w+, \w+, \w+, ror #8", disassembly)
    lines = qemu.run_image(cm7_driver, [])
    found = _SUMMARY.search("\n".join(lines))
    assert found, lines[-5:]
    n, fast, mismatches, failures = (int(g) for g in found.groups())
    assert (n, mismatches, failures) == (4000, 0, 0), lines[-5:]
    assert fast >= 3000
