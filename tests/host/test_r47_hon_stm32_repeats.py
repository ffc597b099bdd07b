"""Round 47 test-honesty audit (F1, F2): the STM32H7 start-up failures are repeated by
what ``main`` itself wires up, not only by functions a harness calls by hand.

037a215 made both STM32H7 projects say their start-up failures again every 3 s (a host
that opens the port after the boot never saw the boot's line), but the tests built
their harnesses from the repeat functions alone:

- F1, text board: ``clock_init_failed`` is repeated by ``on_answer``, the hook ``main``
  registers with ``tinyslm_app_on_answer`` (the project's ``tinyslm_on_answer``, then
  ``clock_error_repeat``). test_r43_stm32_start_up calls ``on_answer`` itself, so a main
  that registered ``tinyslm_on_answer`` again (the hunk reverted) passed: the repeat was
  never called. Here ``main``'s start-up runs to its main loop, a stand-in
  ``tinyslm_app_on_answer`` keeps the hook it is given, and each simulated millisecond
  fires that hook.
- F2, keyword board: ``mic_init_failed`` is repeated by the loop's ``mic_error_repeat``,
  which reads the file-scope ``mic_error`` that ``main`` sets from ``mic_init``.
  test_r46_stm32_kws_mic_repeat plants ``mic_error`` itself, so a main that kept
  ``mic_init``'s result in a local of the same name (the hunk reverted) passed: the
  global stayed null and the line was said once. (Round 50: ``mic_error`` is an
  ``ErrorLine``, its ``reason`` what ``main`` sets, repeated by the loop's
  ``error_repeat(mic_error)``.) Here ``main``'s own lines that start the microphone run
  (``mic_init`` a stand-in that fails), then its loop.

Both harnesses cut ``main.cc`` by function and statement (test_stm32_rx_ring's
``_block``), as the modules they extend do; the cheap checks of ``main``'s text at the
end need no compiler.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from esp32_fakes import require_host_compilers, run_firmware
from kws_glue_fixture import compile_stm32_harness, stm32_main_parts, write_kws_project
from test_r42_mic_never_starts import STM32_HARNESS
from test_r43_stm32_start_up import CLOCK_FAILED, _harness
from test_stm32_rx_ring import FIXTURE_MODEL, _block

from tinyslm.boards import load_board
from tinyslm.pipeline import run_generate
from tinyslm.toolchain import ccompile

NO_MIC = '{"error":"mic_init_failed","reason":"SAI init failed"}'
MAIN_HEAD = "int main(void) {"
LOOP_HEAD = "  uint8_t chunk[64];"

# --- F1: the text board's answer hook is main's --------------------------------------

# What main calls from the TFLM set-up to its loop, as stand-ins (test_r47_cpuhz_stm32's
# harness has them too).
MAIN_STANDINS = r"""
int tinyslm_tflm_init(void) { return 0; }
const char *tinyslm_tflm_last_error(void) { return "none"; }
[[noreturn]] void fail_forever(const char *code, const char *reason) {
  printf("F %s %s\n", code, reason);
  exit(5);
}
void tinyslm_actions_init(void) {}
// Its arguments (the model, buffers) are not this harness's business.
#define tinyslm_app_setup(...) 0
"""

# The answer hook main registers is kept, and fired once a simulated millisecond (run_ms).
TEXT_STANDINS = (
    r"""
typedef void (*answer_hook_t)(const tinyslm_answer_t *answer, void *ctx);
answer_hook_t registered_hook = nullptr;
void *registered_ctx = nullptr;
void tinyslm_app_on_answer(FakeApp *the_app, answer_hook_t hook, void *ctx) {
  (void)the_app;
  registered_hook = hook;
  registered_ctx = ctx;
}"""
    + MAIN_STANDINS
    + """
void start_up() {"""
)

FIRE_HOOK = r"""  if (registered_hook == nullptr) {
    puts("no answer hook registered");
    exit(4);
  }
  const tinyslm_answer_t answer = {0};
  registered_hook(&answer, registered_ctx);"""

DIRECT_CALL = "  const tinyslm_answer_t answer = {0};\n  on_answer(&answer, nullptr);"


def _text_main(root: Path) -> tuple[Path, str]:
    """The generated stm32h7 text project's ``src`` under ``root`` and its main.cc."""
    project = root / "p"
    run_generate("stm32h7", project, model_dir=FIXTURE_MODEL)
    src = project / "src"
    return src, (src / "main.cc").read_text(encoding="utf-8")


def _main_run_on(harness: str, main: str, end: str, tail: str = "") -> str:
    """test_r43's start-up harness with main's start-up run on past the TFLM set-up, up
    to ``end`` (then ``tail``)."""
    body = _block(main, MAIN_HEAD)
    short = body[: body.index("  if (tinyslm_tflm_init()")]
    assert harness.count(short) == 1, "test_r43 changed"
    return harness.replace(short, body[: body.index(end)] + tail)


def _build_start_up(root: Path, make_harness: Callable[[str], str]) -> Path:
    """The stm32h7 text project generated under ``root`` and ``make_harness(main.cc)``
    (test_r43's start-up harness, extended) built with its JSON writer (as
    test_r47_cpuhz_stm32 builds its own too)."""
    require_host_compilers()
    src, main = _text_main(root)
    (root / "harness.cc").write_text(make_harness(main), encoding="utf-8")
    return ccompile.compile_executable(
        [src / "tinyslm_json.c", root / "harness.cc"], root / "start_up", include_dirs=[src],
        cflags=["-std=c99", "-O1"],
        cxxflags=["-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function"],
    )  # fmt: skip


def _registering_harness(main: str) -> str:
    """test_r43's start-up harness, with main's start-up run on to its loop (the hook's
    registration included) and the registered hook, not ``on_answer``, fired."""
    body = _block(main, MAIN_HEAD)
    whole = body[: body.index(LOOP_HEAD)]
    assert "tinyslm_app_on_answer(" in whole, "main no longer registers an answer hook"
    harness = _main_run_on(_harness(main), main, LOOP_HEAD)
    assert harness.count(DIRECT_CALL) == 1, "test_r43 changed"
    assert harness.count("\nvoid start_up() {") == 1, "test_r43 changed"
    return harness.replace(DIRECT_CALL, FIRE_HOOK).replace(
        "\nvoid start_up() {", "\n" + TEXT_STANDINS
    )


@pytest.fixture(scope="module")
def text_start_up(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_start_up(tmp_path_factory.mktemp("stm32_text_hook"), _registering_harness)


def _run(exe: Path, scenario: str, ms: int) -> tuple[list[tuple[int, str]], dict[str, int]]:
    proc = subprocess.run(
        [str(exe), scenario, str(ms)], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    lines = proc.stdout.splitlines()
    # Each written line ("W <line>") is followed by its tick ("T <tick>").
    written = [ln[2:] for ln in lines if ln.startswith("W ")]
    ticks = [int(ln.split()[1]) for ln in lines if ln.startswith("T ")]
    last = lines[-1].split()
    assert last[:2] == ["S", "started"], proc.stdout[-2000:]
    stats = {k: int(v) for k, v in zip(last[2::2], last[3::2], strict=True)}
    return list(zip(ticks, written, strict=True)), stats


@pytest.mark.toolchain
@pytest.mark.parametrize("scenario", ["osc_fails", "vos_never"])
def test_the_hook_main_registers_repeats_clock_init_failed(
    text_start_up: Path, scenario: str
) -> None:
    said, stats = _run(text_start_up, scenario, 10_000)
    # Once at boot, then after answers at most every 3 s: 4 in 10 s of answers.
    assert [line for _, line in said] == [CLOCK_FAILED] * 4, said
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(said)]
    assert all(3000 <= gap <= 3002 for gap in gaps), gaps
    # The project's own hook (src/tinyslm_actions.c) still gets every answer, first.
    assert stats["answers"] == 10_000


@pytest.mark.toolchain
def test_the_hook_main_registers_says_nothing_on_a_working_clock(text_start_up: Path) -> None:
    said, stats = _run(text_start_up, "ok", 10_000)
    assert said == [] and stats["answers"] == 10_000


def test_main_registers_the_hook_that_repeats_the_clock_error(tmp_path: Path) -> None:
    """No compiler needed: the hook ``main`` registers is a function of main.cc that calls
    ``clock_error_repeat`` (not the project's ``tinyslm_on_answer`` alone)."""
    _, main = _text_main(tmp_path)
    body = _block(main, MAIN_HEAD)
    registered = re.findall(r"tinyslm_app_on_answer\(&app, (\w+),", body)
    assert len(registered) == 1, body
    hook = registered[0]
    assert hook != "tinyslm_on_answer", "main registers the project's hook, not its own"
    hook_body = _block(main, f"void {hook}(const tinyslm_answer_t *")
    assert "clock_error_repeat();" in hook_body
    assert "tinyslm_on_answer(answer, ctx);" in hook_body


# --- F2: the keyword board's mic_error is main's -------------------------------------

MIC_STANDIN = """// mic_init as it ends without a microphone (the SAI refused its set-up).
const char *mic_init() { return "SAI init failed"; }

"""
HARNESS_LOOP = "  uint8_t chunk[64];\n  for (;;) {\n{loop_body}"


def _kws_main(root: Path) -> tuple[Path, str]:
    project = write_kws_project(load_board("stm32h7"), root / "p", without_tflm=True)
    src = project / "src"
    return src, (src / "main.cc").read_text(encoding="utf-8")


def _mic_start(main: str) -> str:
    """``main``'s statements from the one that calls ``mic_init`` to its loop."""
    body = _block(main, MAIN_HEAD)
    call = body.index("mic_init()")
    start = body.rindex("\n", 0, call) + 1
    return body[start : body.index(LOOP_HEAD)]


@pytest.fixture(scope="module")
def kws_no_mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("stm32_kws_mic_error")
    src, main = _kws_main(root)
    declarations, functions = stm32_main_parts(main)
    assert "const char *mic_init()" not in functions, "mic_init is cut with the functions now"
    loop = _block(main, "  uint8_t chunk[64];\n  for (;;) {")
    assert STM32_HARNESS.count(HARNESS_LOOP) == 1, "test_r42's harness changed"
    harness = (
        STM32_HARNESS.replace(HARNESS_LOOP, _mic_start(main) + HARNESS_LOOP)
        .replace("{declarations}", declarations)
        .replace("{functions}", MIC_STANDIN + functions)
        .replace("{loop_body}", loop)
    )
    return compile_stm32_harness(src, harness, root, "stm32_kws_mic_error")


@pytest.mark.toolchain
def test_main_s_failed_mic_init_is_said_at_boot_and_every_3_s(
    kws_no_mic: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    # 10 s, no microphone (mic_fails_us 0), nothing from the host.
    lines, _ = run_firmware([str(kws_no_mic), "10000000", "0", str(empty), str(empty), "0"])
    written = [(int(t), line) for t, _, line in (w.partition(" ") for w in lines.get("W", []))]
    assert [line for _, line in written] == [NO_MIC] * 4, written
    # At boot, then 3, 6 and 9 s on (the loop's passes: within a millisecond of each).
    for (at, _), due in zip(written, (0, 3, 6, 9), strict=True):
        assert due * 1_000_000 <= at <= due * 1_000_000 + 1_000, written


def test_main_keeps_mic_init_s_result_in_the_global_the_repeat_reads(tmp_path: Path) -> None:
    """No compiler needed: ``main`` assigns the file-scope ``mic_error``'s reason (which
    the loop's ``error_repeat(mic_error)`` reads), no local of that name shadows it."""
    _, main = _kws_main(tmp_path)
    assert re.search(r"^ErrorLine mic_error = \{", main, re.M), "the global moved"
    start = _mic_start(main)
    assert re.search(r"^\s*mic_error\.reason = mic_init\(\);", start, re.M), start
    assert not re.search(r"\b(?:ErrorLine|char\s*\*)\s*&?\s*mic_error\b", _block(main, MAIN_HEAD))
    assert "error_repeat(mic_error);" in _block(main, LOOP_HEAD + "\n  for (;;) {")
    assert "line.reason == nullptr" in _block(main, "void error_repeat(ErrorLine &line) {")
