"""The STM32H7 text board tells ``:info`` the clock it really runs at (round 47).

A board whose ``clock_init`` failed runs on the 64 MHz HSI; ``clock_init_failed`` is
said at boot and then only after an answer, so a host that connects later had nothing
that said so. The glue now reads the running CPU clock after its start-up
(``cpu_clock_hz``: ``SystemCoreClockUpdate``, which reads the RCC) and gives it to the
core (``tinyslm_app_set_cpu_hz``), whose ``:info`` says it (test_r47_cpuhz_core).

The generated ``src/main.cc`` is cut as test_r43_stm32_start_up cuts it (its harness,
reused unchanged: no emulator models the H7's RCC), with ``main`` run on to its loop
(as test_r47_hon_stm32_repeats runs it) and stand-ins for what that part calls. The
stand-in ``SystemCoreClockUpdate`` reads the fake RCC: PLL1's 400 MHz only after a
``HAL_RCC_ClockConfig`` that succeeded, else the HSI's 64 MHz.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_r43_stm32_start_up import _harness
from test_r47_hon_stm32_repeats import MAIN_STANDINS, _build_start_up, _main_run_on
from test_stm32_rx_ring import _block

pytestmark = pytest.mark.toolchain

LOOP = "  for (;;) {"

# The fake RCC's clock, and the setter printing what the core would put in :info
# ("H <hz>"); then what main calls up to its loop (test_r47_hon_stm32_repeats's).
STANDINS = (
    r"""
uint32_t SystemCoreClock = 64000000u;  // SystemInit's: the HSI
void SystemCoreClockUpdate(void) {
  SystemCoreClock = clk_calls == 1 && !is("clk_fails") ? 400000000u : 64000000u;
}
void tinyslm_app_set_cpu_hz(FakeApp *the_app, uint32_t hz) {
  (void)the_app;
  printf("H %u\n", hz);
}
typedef void (*answer_hook_t)(const tinyslm_answer_t *answer, void *ctx);
void tinyslm_app_on_answer(FakeApp *the_app, answer_hook_t hook, void *ctx) {
  (void)the_app;
  (void)hook;
  (void)ctx;
}"""
    + MAIN_STANDINS
    + "\n"
)


def _clock_harness(main: str) -> str:
    """test_r43's harness, with main's start-up run on to its loop and the glue's
    ``cpu_clock_hz`` (absent before round 47: then nothing is set)."""
    tail = "  (void)chunk;  // the loop's, not run here\n"
    harness = _main_run_on(_harness(main), main, LOOP, tail)
    assert harness.count("\nvoid start_up() {") == 1, "r43 changed"
    head = "uint32_t cpu_clock_hz() {"
    glue = head + _block(main, head) + "}\n\n" if head in main else ""
    return harness.replace("\nvoid start_up() {", "\n" + STANDINS + glue + "void start_up() {")


@pytest.fixture(scope="module")
def start_up(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_start_up(tmp_path_factory.mktemp("r47_cpuhz_stm32"), _clock_harness)


def _cpu_hz(exe: Path, scenario: str) -> list[int]:
    """What the glue gave the core's setter, in order, in a start-up of ``scenario``."""
    proc = subprocess.run(
        [str(exe), scenario], capture_output=True, text=True, timeout=20, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("S started"), proc.stdout
    return [int(ln.split()[1]) for ln in proc.stdout.splitlines() if ln.startswith("H ")]


def test_a_working_clock_says_400_mhz(start_up: Path) -> None:
    assert _cpu_hz(start_up, "ok") == [400_000_000]


@pytest.mark.parametrize("scenario", ["osc_fails", "clk_fails", "supply_fails", "vos_never"])
def test_a_failed_clock_says_the_hsis_64_mhz(start_up: Path, scenario: str) -> None:
    # Read after the failed set-up: the 64 MHz the board runs at, not the README's 400.
    assert _cpu_hz(start_up, scenario) == [64_000_000]
