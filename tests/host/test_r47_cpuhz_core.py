"""The text core's ``:info`` says the CPU clock its glue read (round 47).

Before round 47 a host that opened the port after an STM32H7's boot could not tell that
the board had fallen back to its 64 MHz HSI: ``clock_init_failed`` is said at boot and
then only after an answer, and ``:info`` said nothing of the clock. The core now takes
the running clock from its glue (``tinyslm_app_set_cpu_hz``) and ``:info`` says it as
``"cpu_hz"``; without it (0, the host emulators) the field is left out, so their
``:info`` is what it was.

The core is compiled on the host (core_harness's sources) with a small driver of this
module's own that sets it up, calls the setter or not, and feeds ``:info``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from core_harness import CORE_SOURCES, INCLUDE_DIRS, WARN_FLAGS, have_host_cc

from tinyslm.toolchain import ccompile

DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyslm_core.h"

static void write_out(const char *data, size_t len, void *ctx) {
  (void)ctx;
  fwrite(data, 1, len, stdout);
}

static int infer(const int32_t *ids, int8_t *scores, void *ctx) {
  (void)ids;
  (void)ctx;
  scores[0] = 127;
  scores[1] = -128;
  return 0;
}

/* info HZ|none [before]: :info after setting HZ (after init; "before": before init). */
int main(int argc, char **argv) {
  static const char *labels[2] = {"on", "off"};
  static uint8_t line_buf[64];
  static int32_t ids[8];
  static int8_t scores[2];
  static const uint8_t cmd[] = ":info\n";
  tinyslm_model_info_t m;
  tinyslm_app_t app;
  const int set = argc > 1 && strcmp(argv[1], "none") != 0;
  const int before = argc > 2 && strcmp(argv[2], "before") == 0;
  const uint32_t hz = set ? (uint32_t)strtoul(argv[1], NULL, 10) : 0u;

  memset(&m, 0, sizeof(m));
  m.features.buckets = 4096;
  m.features.seq_len = 8;
  m.features.unigrams = 1;
  m.labels = labels;
  m.num_labels = 2;
  m.score_scale = 1.0f / 256.0f;
  m.score_zero_point = -128;
  m.threshold_q = 13;
  m.threshold_milli = 550;
  m.model_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  m.model_bytes = 70000;
  m.arena_bytes = 4096;
  m.ops = "FULLY_CONNECTED";
  m.board = "stm32h7";
  m.version = "0.1.0";
  memset(&app, 0xA5, sizeof(app)); /* what init must clear: not a zeroed global */
  tinyslm_app_set_cpu_hz(NULL, hz); /* does nothing */
  if (set && before) tinyslm_app_set_cpu_hz(&app, hz);
  if (tinyslm_app_setup(&app, &m, infer, write_out, NULL, line_buf, sizeof(line_buf), ids,
                        scores) != 0) {
    return 3;
  }
  if (set && !before) tinyslm_app_set_cpu_hz(&app, hz);
  tinyslm_app_feed(&app, cmd, sizeof(cmd) - 1);
  return 0;
}
"""

EXPECTED_TAIL = (
    '"model_sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",'
    '"model_bytes":70000,"arena_bytes":4096,"ops":["FULLY_CONNECTED"],"labels":2,'
    '"threshold":0.550}}'
)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not have_host_cc():
        pytest.skip("no host C compiler")
    root = tmp_path_factory.mktemp("r47_cpuhz_core")
    src = root / "cpuhz_driver.c"
    src.write_text(DRIVER, encoding="utf-8")
    return ccompile.compile_executable(
        [*CORE_SOURCES, src], root / "cpuhz_driver", include_dirs=INCLUDE_DIRS,
        cflags=list(WARN_FLAGS),
    )  # fmt: skip


def _info(exe: Path, *args: str) -> str:
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=20, check=True)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return lines[0]


@pytest.mark.parametrize("hz", [400_000_000, 64_000_000, 240_000_000, 4_294_967_295])
def test_info_says_the_clock_the_glue_set(driver: Path, hz: int) -> None:
    line = _info(driver, str(hz))
    assert line == (
        f'{{"info":{{"version":"0.1.0","board":"stm32h7","cpu_hz":{hz},' + EXPECTED_TAIL
    )
    assert json.loads(line)["info"]["cpu_hz"] == hz


def test_info_without_the_setter_is_unchanged(driver: Path) -> None:
    # The host emulators set nothing: their :info is what it was before round 47.
    assert _info(driver, "none") == '{"info":{"version":"0.1.0","board":"stm32h7",' + EXPECTED_TAIL


@pytest.mark.parametrize("args", [("0",), ("400000000", "before")])
def test_an_unknown_clock_is_left_out(driver: Path, args: tuple[str, ...]) -> None:
    # 0 is unknown; and init clears a value set before it (an app in uncleared memory).
    assert "cpu_hz" not in _info(driver, *args)
