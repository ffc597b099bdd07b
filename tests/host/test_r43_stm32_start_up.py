"""STM32 start-up failures are said, not silent (round 43).

Before round 43 ``main`` dropped ``clock_init``'s result: a PLL1 that did not lock (or a
clock switch that timed out) left the board on the 64 MHz HSI, 6.25x slower than its
README's 400 MHz, with nothing on the serial line. The wait for the regulator's VOSRDY
had no bound, so a regulator that never said ready hung the board before its UART was
up, and a failed ``serial_init`` spun with the LED set up but dark.

The generated ``src/main.cc`` of both STM32 projects (text and keyword) is cut here as
test_stm32_rx_ring and test_r42_mic_never_starts cut it (no emulator models the H7's
RCC): ``clock_init``, the no-serial fallback and ``main``'s start-up up to the TFLM
set-up are compiled with stand-in HAL functions and the project's own JSON writer, and
run with a failing ``HAL_RCC_OscConfig``, a failing ``HAL_RCC_ClockConfig``, a VOSRDY
that never comes and a failing ``serial_init``.

Round 46: ``clock_init_failed`` was said once, at boot, which a host that opens the port
later (the board boots as soon as it has power) never saw. It is said again every 3 s at
most: on the keyword board from the main loop (not while a serial stream is open), on
the text board after an answer (the glue's answer hook, after the project's own). The
harness runs the start-up, then the repeat (or the hook) once a simulated millisecond.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import pytest
from esp32_fakes import require_host_compilers
from kws_glue_fixture import write_kws_project
from test_stm32_rx_ring import FIXTURE_MODEL, _block

from tinyslm.boards import load_board
from tinyslm.pipeline import run_generate
from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

CLOCK_FAILED = '{"error":"clock_init_failed","reason":"running on the 64 MHz HSI"}'

HARNESS = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyslm_json.h"

// The HAL pieces the cut-out start-up uses, as stand-ins.
typedef enum { HAL_OK = 0, HAL_ERROR = 1, HAL_BUSY = 2, HAL_TIMEOUT = 3 } HAL_StatusTypeDef;
struct RCC_PLLInitTypeDef {
  uint32_t PLLState, PLLSource, PLLM, PLLN, PLLP, PLLQ, PLLR, PLLRGE, PLLVCOSEL, PLLFRACN;
};
struct RCC_OscInitTypeDef {
  uint32_t OscillatorType, HSIState, HSICalibrationValue;
  RCC_PLLInitTypeDef PLL;
};
struct RCC_ClkInitTypeDef {
  uint32_t ClockType, SYSCLKSource, SYSCLKDivider, AHBCLKDivider, APB3CLKDivider,
      APB1CLKDivider, APB2CLKDivider, APB4CLKDivider;
};
struct GPIO_TypeDef { int unused; };
{constants}

const char *scenario = "";
uint32_t ticks = 0, delayed_ms = 0, toggles = 0, vos_polls = 0;
uint32_t osc_calls = 0, clk_calls = 0, serial_calls = 0, led_inits = 0, answers = 0;
// The keyword app's stream state (the repeat waits while a serial stream is open), and
// the text core's answer and the project's hook (the text board repeats after answers).
struct FakeApp { uint8_t serial_stream; };
[[maybe_unused]] FakeApp app = {0};
struct tinyslm_answer_t { int unused; };
[[maybe_unused]] void tinyslm_on_answer(const tinyslm_answer_t *answer, void *ctx) {
  (void)answer;
  (void)ctx;
  ++answers;
}

static bool is(const char *name) { return strcmp(scenario, name) == 0; }

static void stats(const char *how) {
  printf("S %s ticks %u delayed_ms %u toggles %u vos_polls %u osc %u clk %u serial %u led %u"
         " answers %u\n",
         how, ticks, delayed_ms, toggles, vos_polls, osc_calls, clk_calls, serial_calls,
         led_inits, answers);
  fflush(stdout);
  exit(0);
}

void SCB_EnableICache(void) {}
void SCB_EnableDCache(void) {}
void HAL_Init(void) {}
// One simulated millisecond a call: a wait that polls the tick ends; one that does not
// never does (the run's timeout then fails the test).
uint32_t HAL_GetTick(void) { return ++ticks; }
void HAL_Delay(uint32_t ms) { delayed_ms += ms; }
HAL_StatusTypeDef HAL_PWREx_ConfigSupply(uint32_t supply) {
  (void)supply;
  return is("supply_fails") ? HAL_ERROR : HAL_OK;  // locked to another supply
}
static bool vos_ready(void) {
  ++vos_polls;
  return !is("vos_never");
}
#define __HAL_PWR_VOLTAGESCALING_CONFIG(x) ((void)(x))
#define __HAL_PWR_GET_FLAG(x) ((void)(x), vos_ready())
HAL_StatusTypeDef HAL_RCC_OscConfig(RCC_OscInitTypeDef *osc) {
  (void)osc;
  ++osc_calls;
  return is("osc_fails") ? HAL_TIMEOUT : HAL_OK;  // PLL1 did not lock
}
HAL_StatusTypeDef HAL_RCC_ClockConfig(RCC_ClkInitTypeDef *clk, uint32_t latency) {
  (void)clk;
  (void)latency;
  ++clk_calls;
  return is("clk_fails") ? HAL_TIMEOUT : HAL_OK;  // the switch to PLL1 timed out
}
void HAL_GPIO_TogglePin(GPIO_TypeDef *port, uint32_t pin) {
  (void)port;
  (void)pin;
  if (++toggles == 6) stats("blinking");
}

namespace {
void serial_write(const char *data, size_t len, void *ctx) {
  (void)ctx;
  fputs("W ", stdout);
  fwrite(data, 1, len, stdout);
  printf("T %u\n", ticks);  // when it was said
}
void dwt_init() {}
void led_init() { ++led_inits; }
bool serial_init() {
  ++serial_calls;
  return !is("serial_fails");
}

{declarations}

{functions}

void start_up() {
{start_up}
}

// A simulated millisecond of the running board: an answer on the text board, a pass of
// the loop on the keyword board.
void run_ms() {
{run_ms}
}
}  // namespace

// start_up SCENARIO [MS [STREAM_FROM_MS]]: the start-up, then MS milliseconds of running
// (a serial stream open from STREAM_FROM_MS on).
int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) return 2;
  scenario = argv[1];
  const uint32_t ms = argc > 2 ? static_cast<uint32_t>(atoi(argv[2])) : 0u;
  const uint32_t stream_from = argc > 3 ? static_cast<uint32_t>(atoi(argv[3])) : ms;
  start_up();
  for (uint32_t i = 0; i < ms; ++i) {
    if (i >= stream_from) app.serial_stream = 1;
    const uint32_t before = ticks;
    run_ms();
    ticks = before + 1;  // one millisecond a pass, however many ticks the pass read
  }
  stats("started");
}
"""


def _harness(main: str) -> str:
    """The harness around ``main.cc``'s ``clock_init``, ``no_serial_forever`` and the
    start-up part of ``main`` (up to the TFLM set-up)."""
    clock = "bool clock_init() {" + _block(main, "bool clock_init() {") + "}"
    no_serial = "[[noreturn]] void no_serial_forever() {"
    functions = [clock]
    if no_serial in main:  # absent before round 43: main spun in place
        functions.append(no_serial + _block(main, no_serial) + "}")
    # The clock's repeat (round 46): its state, what says it, and what repeats it. The
    # keyword board (round 50) keeps it as one of its error lines (ErrorLine clock_error),
    # said and repeated by the pair all of them share (error_say, error_repeat).
    declarations = re.findall(
        r"^(?:constexpr uint32_t kErrorRepeatMs|bool clock_slow|uint32_t clock_said_ms"
        r"|ErrorLine clock_error) = .*$",
        main,
        re.M,
    )
    line_type = "struct ErrorLine {"
    if line_type in main:  # before its instance, after the repeat's constant
        declarations.insert(1, line_type + _block(main, line_type) + "};")
    for head in (
        "void clock_error_say() {",
        "void clock_error_repeat() {",
        "void error_say(ErrorLine &line) {",
        "void error_repeat(ErrorLine &line) {",
    ):
        if head in main:
            functions.append(head + _block(main, head) + "}")
    hook = "void on_answer(const tinyslm_answer_t *answer, void *ctx) {"
    if hook in main:  # the text board: repeated after answers
        functions.append(hook + _block(main, hook) + "}")
        run_ms = "  const tinyslm_answer_t answer = {0};\n  on_answer(&answer, nullptr);"
    elif "clock_error_repeat();" in main:  # the keyword board: from the loop
        run_ms = "  clock_error_repeat();"
    elif "error_repeat(clock_error);" in main:  # the keyword board since round 50
        run_ms = "  error_repeat(clock_error);"
    else:  # said once, before round 46
        run_ms = ""
    body = _block(main, "int main(void) {")
    start_up = body[: body.index("  if (tinyslm_tflm_init()")]
    assert "clock_init()" in start_up and "serial_init()" in start_up, "main's start-up moved"
    used = sorted(set(re.findall(r"\b((?:RCC|PWR)_[A-Z0-9_]+|FLASH_LATENCY_\d+)\b", clock)))
    constants = [f"constexpr uint32_t {name} = {i + 1}u;" for i, name in enumerate(used)]
    # The LED's port and pin, whichever the board file names.
    constants += [f"GPIO_TypeDef gpio_{c};\n#define GPIO{c} (&gpio_{c})" for c in "ABCDEFGHIJK"]
    constants += [f"constexpr uint32_t GPIO_PIN_{n} = {1 << n}u;" for n in range(16)]
    return (
        HARNESS.replace("{constants}", "\n".join(constants))
        .replace("{declarations}", "\n".join(declarations))
        .replace("{functions}", "\n\n".join(functions))
        .replace("{start_up}", start_up)
        .replace("{run_ms}", run_ms)
    )


def _build(root: Path, project: Path) -> Path:
    src = project / "src"
    main = (src / "main.cc").read_text(encoding="utf-8")
    (root / "harness.cc").write_text(_harness(main), encoding="utf-8")
    return ccompile.compile_executable(
        [src / "tinyslm_json.c", root / "harness.cc"], root / "start_up", include_dirs=[src],
        cflags=["-std=c99", "-O1"],
        cxxflags=["-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function"],
    )  # fmt: skip


@pytest.fixture(scope="module", params=["text", "keywords"])
def start_up(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp(f"stm32_start_up_{request.param}")
    project = root / "p"
    if request.param == "text":
        run_generate("stm32h7", project, model_dir=FIXTURE_MODEL)
    else:
        write_kws_project(load_board("stm32h7"), project, without_tflm=True)
    return _build(root, project)


def _run(exe: Path, scenario: str, *running: int) -> tuple[list[str], dict[str, int], str]:
    try:
        proc = subprocess.run(
            [str(exe), scenario, *map(str, running)],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{scenario}: the start-up never ended (a wait without a bound)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = [ln[2:] for ln in proc.stdout.splitlines() if ln.startswith("W ")]
    last = proc.stdout.splitlines()[-1].split()
    assert last[0] == "S", proc.stdout
    stats = {k: int(v) for k, v in zip(last[2::2], last[3::2], strict=True)}
    return written, stats, last[1]


def test_a_working_clock_says_nothing(start_up: Path) -> None:
    written, stats, how = _run(start_up, "ok")
    assert how == "started" and written == []
    assert stats["osc"] == 1 and stats["clk"] == 1


@pytest.mark.parametrize("scenario", ["osc_fails", "clk_fails", "supply_fails"])
def test_a_clock_failure_is_said_once_the_serial_line_is_up(start_up: Path, scenario: str) -> None:
    written, stats, how = _run(start_up, scenario)
    assert how == "started"
    assert written == [CLOCK_FAILED]
    assert stats["serial"] == 1


def test_a_regulator_that_never_says_ready_is_waited_for_a_bounded_time(start_up: Path) -> None:
    written, stats, how = _run(start_up, "vos_never")
    assert how == "started" and written == [CLOCK_FAILED]
    # The PLL is never touched on an unready regulator, and the wait is about 1 s of ticks.
    assert stats["osc"] == 0 and stats["clk"] == 0
    assert 1000 <= stats["ticks"] <= 1010 and stats["vos_polls"] >= 1000


def test_a_serial_failure_blinks_the_led(start_up: Path) -> None:
    written, stats, how = _run(start_up, "serial_fails")
    assert how == "blinking" and written == []
    assert stats["led"] == 1
    # Five toggles after the first, 100 ms apart: the fast blink the README describes.
    assert stats["delayed_ms"] == 500


def _said_at(exe: Path, *args: str | int) -> list[int]:
    """The ticks at which each line of a run was written."""
    proc = subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, timeout=20, check=True
    )
    return [int(ln.split()[1]) for ln in proc.stdout.splitlines() if ln.startswith("T ")]


@pytest.mark.parametrize("scenario", ["osc_fails", "vos_never"])
def test_a_clock_failure_is_said_again_every_3_s(start_up: Path, scenario: str) -> None:
    # 10 s of running: a host that opens the port after the boot still hears it.
    written, stats, how = _run(start_up, scenario, 10_000)
    assert how == "started" and written == [CLOCK_FAILED] * 4
    said = _said_at(start_up, scenario, 10_000)
    gaps = [b - a for a, b in itertools.pairwise(said)]
    # 3 s apart (each HAL_GetTick call is a tick here: the say's own read adds one).
    assert len(gaps) == 3 and all(3000 <= gap <= 3002 for gap in gaps), gaps
    if "text" in start_up.parent.name:  # after answers, the project's hook first
        assert stats["answers"] == 10_000


def test_a_working_clock_is_not_repeated(start_up: Path) -> None:
    written, _, how = _run(start_up, "ok", 10_000)
    assert how == "started" and written == []


# The text board has no serial stream: the keyword build only.
@pytest.mark.parametrize("start_up", ["keywords"], indirect=True)
def test_the_keyword_board_waits_while_a_serial_stream_is_open(start_up: Path) -> None:
    assert "keywords" in start_up.parent.name
    # A stream open from 2 s on: the stream's answers own the line, nothing more said.
    written, _, _ = _run(start_up, "clk_fails", 10_000, 2_000)
    assert written == [CLOCK_FAILED]
