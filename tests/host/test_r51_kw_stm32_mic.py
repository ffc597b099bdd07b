"""Round 51 (items 2, 3): the STM32H7 microphone's restart flushes the SAI's FIFO, and a
DMA start that failed in ``mic_init`` is tried again.

2. After a DMA error ``SAI_DMAError`` disables the SAI and sets it ``READY`` without
   flushing its FIFO (up to 8 words), and ``mic_restart`` skipped ``HAL_SAI_DMAStop`` for
   a ``READY`` SAI, so the new transfer took those stale words as its first samples. It
   now stops the SAI the HAL's way whatever its state (``HAL_SAI_DMAStop``: disabled, its
   DMA request off, its FIFO flushed). test_r45_stm32_mic_restart's harness, with the
   FIFO modelled: an error leaves 8 words, ``HAL_SAI_DMAStop`` flushes them, and the
   start records what the new transfer would take first.
3. ``mic_init``'s ``HAL_SAI_Receive_DMA`` failing was said every 3 s and never tried
   again. ``mic_poll`` now tries it with the restart path's backoff (1, 2, 4 ... ms, at
   most 1 s), and ``mic_init_failed`` stops once a start works. test_r47_stm32mic_failed's
   harness on the simulated clock, with ``mic_init``'s DMA start cut from the generated
   ``main.cc`` and run as ``main`` runs it, ``HAL_SAI_Receive_DMA`` refusing the first
   ``START_FAILS`` tries (each try's time printed).
"""

from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path

import pytest
from esp32_fakes import require_host_compilers
from kws_glue_fixture import compile_stm32_harness, stm32_main_parts, write_kws_project
from shared_paths import require_path, sdk_path
from stm32_kws_sim import insert, no_host, replace_once, run_harness
from test_r45_stm32_mic_restart import HARNESS as RESTART_HARNESS
from test_r45_stm32_mic_restart import _body, _in_order
from test_r47_stm32mic_failed import _harness as clock_harness
from test_stm32_rx_ring import _block

from tinyslm.boards import load_board

pytestmark = pytest.mark.toolchain

START_FAILED = '{"error":"mic_init_failed","reason":"SAI DMA start failed"}'
HALF_US = 64_000


def _project_main(root: Path) -> tuple[Path, str]:
    project = write_kws_project(load_board("stm32h7"), root / "p", without_tflm=True)
    src = project / "src"
    return src, (src / "main.cc").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------
# 2: the FIFO is flushed before a restart.


def _fifo_harness() -> str:
    h = replace_once(
        RESTART_HARNESS,
        "  bool enabled;  // SAIEN\n};",
        "  bool enabled;  // SAIEN\n  int fifo;      // words in its FIFO (8 deep)\n};",
    )
    h = insert(h, "int aborts = 0, starts = 0;\n", "int stale = -1;  // FIFO words a start found\n")
    # Both errors stop the SAI with words in its FIFO: SAI_DMAError disables it without a
    # flush, and after WCKCFG SAI_DMAAbort neither disables nor flushes it.
    h = insert(h, "void direct_mode_error() {\n", "  hsai.fifo = 8;\n")
    h = insert(h, "void sai_error() {\n", "  hsai.fifo = 8;\n")
    # HAL_SAI_DMAStop: SET_BIT(CR2, SAI_xCR2_FFLUSH) once the SAI is disabled.
    h = replace_once(
        h,
        "  h->State = HAL_SAI_STATE_READY;\n  return status;\n",
        "  h->fifo = 0;\n  h->State = HAL_SAI_STATE_READY;\n  return status;\n",
    )
    # The words left in the FIFO are the first the new transfer takes.
    h = insert(h, "  if (dma_start_it(h->hdmarx) != HAL_OK) return HAL_ERROR;\n",
               "  stale = h->fifo;\n")  # fmt: skip
    h = replace_once(h, '"fed %d\\n",', '"fed %d stale %d\\n",')
    return replace_once(
        h, "app.listen.frames > frames ? 1 : 0);", "app.listen.frames > frames ? 1 : 0, stale);"
    )


@pytest.fixture(scope="module")
def fifo_harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("r51_fifo")
    src, main = _project_main(root)
    declarations, functions = stm32_main_parts(main)
    code = _fifo_harness().replace("{declarations}", declarations)
    return compile_stm32_harness(src, code.replace("{functions}", functions), root, "r51_fifo")


@pytest.mark.parametrize("case", ["dme", "sai"])
def test_a_restart_after_an_error_takes_no_stale_fifo_word(fifo_harness: Path, case: str) -> None:
    proc = subprocess.run([str(fifo_harness), case], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    words = proc.stdout.splitlines()[-1].split()[1:]
    stats = {k: int(v) for k, v in zip(words[::2], words[1::2], strict=True)}
    assert stats["running"] == 1 and stats["starts"] == 1 and stats["fed"] == 1, stats
    assert stats["stale"] == 0, stats  # 8 before round 51: the old transfer's last words


def test_the_hal_flushes_the_fifo_in_dma_stop_and_not_on_an_error() -> None:
    """What the harness models, read in the HAL the board builds with."""
    root = require_path(sdk_path("stm32cubeh7"), "STM32CubeH7 framework tree")
    sai = (root / "Drivers" / "STM32H7xx_HAL_Driver" / "Src" / "stm32h7xx_hal_sai.c").read_text(
        encoding="utf-8", errors="replace"
    )
    stop = _body(sai, "HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *hsai)")
    assert _in_order(stop, "if (SAI_Disable(hsai) != HAL_OK)", "status = HAL_ERROR;",
                     "hsai->Instance->CR1 &= ~SAI_xCR1_DMAEN;",
                     "if ((hsai->State == HAL_SAI_STATE_BUSY_RX) && (hsai->hdmarx != NULL))",
                     "SET_BIT(hsai->Instance->CR2, SAI_xCR2_FFLUSH);",
                     "hsai->State = HAL_SAI_STATE_READY;", "return status;")  # fmt: skip
    error = _body(sai, "static void SAI_DMAError(DMA_HandleTypeDef *hdma)")
    assert "(void) SAI_Disable(hsai);" in error and "FFLUSH" not in error
    abort = _body(sai, "static void SAI_DMAAbort(DMA_HandleTypeDef *hdma)")
    assert _in_order(abort, "if (hsai->ErrorCode != HAL_SAI_ERROR_WCKCFG)",
                     "(void) SAI_Disable(hsai);",
                     "SET_BIT(hsai->Instance->CR2, SAI_xCR2_FFLUSH);", "}",
                     "hsai->State = HAL_SAI_STATE_READY;")  # fmt: skip
    receive = _body(
        sai,
        "HAL_StatusTypeDef HAL_SAI_Receive_DMA(SAI_HandleTypeDef *hsai, uint8_t *pData, "
        "uint16_t Size)",
    )
    assert "FFLUSH" not in receive


# ---------------------------------------------------------------------------------------
# 3: a failed DMA start in mic_init is tried again.


def _start_harness(start_failed: str, mic_start: str) -> str:
    h = insert(clock_harness(), "bool restart_fails;\n", "uint64_t start_fails_left;\n")
    h = insert(
        h,
        "  // HAL_DMA_Start_IT refused: the SAI left BUSY_RX.\n",
        '  printf("R %llu\\n", static_cast<unsigned long long>(now));\n'
        "  if (start_fails_left > 0) {\n"
        "    --start_fails_left;\n"
        "    return HAL_ERROR;\n"
        "  }\n",
    )
    # mic_init's DMA start, cut from the generated main.cc (after its set-up), and the
    # function it calls when the start is refused.
    helper = f"\nconst char *mic_start_failed() {{{start_failed}}}\n" if start_failed else ""
    h = insert(
        h, "{functions}\n", helper + "\nconst char *mic_init_start() {\n" + mic_start + "}\n"
    )
    anchor = '  if (env("TINYSLM_TEST_NO_MIC", 0) != 0) {\n'
    return replace_once(
        h,
        anchor,
        '  if (env("TINYSLM_TEST_MIC_INIT", 0) != 0) {  // mic_init\'s start, as main runs it\n'
        '    start_fails_left = env("TINYSLM_TEST_START_FAILS", 0);\n'
        "    hsai.State = HAL_SAI_STATE_READY;\n"
        "    hdma_sai.busy = false;\n"
        "    sai_on = false;\n"
        "    mic_running = false;\n"
        "    mic_error.reason = mic_init_start();\n"
        "    if (mic_error.reason != nullptr) error_say(mic_error);\n"
        "  }\n" + anchor,
    )


@pytest.fixture(scope="module")
def start_firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("r51_start")
    src, main = _project_main(root)
    declarations, functions = stm32_main_parts(main)
    init = _block(main, "const char *mic_init() {")
    failed = "const char *mic_start_failed() {"  # not before round 51
    helper = _block(main, failed) if failed in main else ""
    after_irqs = init.index("\n", init.rindex("HAL_NVIC_EnableIRQ(")) + 1
    loop = _block(main, "  uint8_t chunk[64];\n  for (;;) {")
    code = (
        _start_harness(helper, init[after_irqs:])
        .replace("<harness>", "r51_start")
        .replace("{declarations}", declarations)
        .replace("{functions}", functions)
        .replace("{loop_body}", loop)
    )
    return compile_stm32_harness(src, code, root, "r51_start")


# The start-up line is written before the loop runs (115200 baud: 86.8 us a byte), so the
# first retry, due 1 ms on, comes as soon as it is out.
LINE_US = (len(START_FAILED) + 1) * 87


def _spaced(tries: list[int], want_ms: list[int]) -> bool:
    """The tries after the first are want_ms apart, in HAL_GetTick's whole milliseconds."""
    gaps = [b - a for a, b in pairwise(tries)]
    if len(gaps) != len(want_ms) or not 1_000 <= gaps[0] <= LINE_US + 1_000:
        return False
    return all(
        (ms - 1) * 1000 <= g <= ms * 1000 + 1_000
        for g, ms in zip(gaps[1:], want_ms[1:], strict=True)
    )


def _run(firmware: Path, end_us: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         fails: int) -> tuple[list[tuple[int, str]], list[int], dict[str, int]]:  # fmt: skip
    monkeypatch.setenv("TINYSLM_TEST_MIC_INIT", "1")
    monkeypatch.setenv("TINYSLM_TEST_START_FAILS", str(fails))
    written, lines, stats = run_harness(firmware, end_us, no_host(tmp_path))
    return [(w.us, w.text) for w in written], [int(us) for us in lines.get("R", [])], stats


def test_a_start_that_fails_a_few_times_is_tried_again_soon(
    start_firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three refusals: tried at once, then 1 (once the start-up line is out), 2 and 4 ms
    later; the fourth try starts the microphone, which is heard; mic_init_failed, said at
    start-up, is not said again."""
    written, tries, stats = _run(start_firmware, 10_000_000, tmp_path, monkeypatch, 3)
    assert len(tries) == 4 and tries[0] == 0 and _spaced(tries, [1, 2, 4]), tries
    assert written == [(0, START_FAILED)], written
    assert stats["starts"] == 4 and stats["fed"] >= 1024 * ((10_000_000 - tries[-1]) // HALF_US - 1)


def test_a_start_that_keeps_failing_backs_off_to_a_second_and_is_said_every_3_s(
    start_firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty refusals: 1, 2, 4 ... 512 ms apart, then a second; mic_init_failed every 3 s
    while they last (0, 3, 6, 9 s), none after the start at about 11 s."""
    written, tries, stats = _run(start_firmware, 14_000_000, tmp_path, monkeypatch, 20)
    assert _spaced(tries, [1 << i for i in range(10)] + [1000] * 10), tries
    said = [us for us, text in written if text == START_FAILED]
    assert [us // 1_000_000 for us in said] == [0, 3, 6, 9] and len(written) == 4, written
    assert said[-1] < tries[-1] and stats["fed"] > 0, (said, tries)


def test_the_first_error_after_a_late_start_is_restarted_at_once(
    start_firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirteen refusals, the fourteenth try (about 3 s in) starts the microphone; one SAI
    error 10 ms later is an overrun restarted at once, as after a start that worked the
    first time. Counting the failed starts as its restarts held it 1 s and said it as
    mic_failed ("SAI errors, no audio"); a stall watch counted from before the start
    said that at once."""
    _, tries, _ = _run(start_firmware, 6_000_000, tmp_path, monkeypatch, 13)
    start = tries[-1]
    monkeypatch.setenv("TINYSLM_TEST_SAI_ERROR_AT_US", str(start + 10_000))
    (tmp_path / "err").mkdir()
    written, tries2, stats = _run(start_firmware, 6_000_000, tmp_path / "err", monkeypatch, 13)
    assert tries2[: len(tries)] == tries, (tries, tries2)
    assert not any("mic_failed" in text for _, text in written), written
    restarted = [us for us, text in written if "restarted" in text]
    assert len(restarted) == 1, written
    # The restart follows the error within a few ms (2 * 1 ms ticks and the line's bytes).
    assert len(tries2) == len(tries) + 1 and tries2[-1] - (start + 10_000) < 5_000, tries2
    assert stats["fed"] > 0, stats
