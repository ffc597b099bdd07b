"""The RAM the budget check counts beside the arena is the firmware's, measured.

``ram_bytes`` of each modality (``tinyslm/emit/text.py``, ``tinyslm/emit/audio.py``)
counts the app's state, the TFLM glue's statics, the glue's buffers and, on the ESP32,
the UART driver's heap from formulas over the constants the C uses. Here the C is
compiled for the STM32H7's Cortex-M7 (``arm-none-eabi-size``: .bss + .data) and the
rendered glue is read back, so a struct, buffer or driver argument that grows makes a
test fail instead of eating the RAM the board keeps for its SDK and stacks.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from fixtures.kws import keyword_model_dir
from m7_object import CORTEX_M7_C99, build_m7_object
from shared_paths import require_path, sdk_path

from tinyslm.boards import Board, load_board
from tinyslm.emit.audio import AUDIO_SERIAL, kws_app_bytes
from tinyslm.emit.project import arena_size_for, render_project
from tinyslm.emit.text import TEXT_APP_BYTES, TEXT_SERIAL, TFLM_GLUE_BYTES, UART_EVENT_BYTES
from tinyslm.errors import BudgetError
from tinyslm.manifest import Manifest, load_model_dir
from tinyslm.modality import modality

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
TEXT_FIXTURE = REPO / "tests" / "fixtures" / "model"
BOARDS = ("esp32", "stm32h7")
# TFLM_GLUE_BYTES is an upper bound (the op resolver grows with the model's ops): it may
# stand this far above what the fixtures' tinyslm_tflm.cc keeps, and no further.
TFLM_GLUE_MARGIN = 512
# The STM32H7's flags for C++ (boards/stm32h7.yaml build_flags, PlatformIO's -fno-rtti;
# -DCMSIS_NN only switches kernels, which tinyslm_tflm.cc does not include).
CORTEX_M7_CXX = (
    "-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-Os", "-std=c++17",
    "-fno-exceptions", "-fno-rtti", "-DTF_LITE_STATIC_MEMORY", "-DCMSIS_NN", "-DNDEBUG",
    "-ffunction-sections", "-fdata-sections",
)  # fmt: skip


@pytest.fixture(scope="module")
def text_model() -> tuple[Manifest, bytes]:
    return load_model_dir(TEXT_FIXTURE, probe_arena=False)


@pytest.fixture(scope="module")
def kws_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Manifest, bytes]:
    folder = keyword_model_dir(tmp_path_factory.mktemp("kws") / "model")
    return load_model_dir(folder, probe_arena=False)


def _static_of(tmp_path: Path, name: str, code: str, includes: list[Path]) -> int:
    """.bss + .data of a C file declaring ``code`` after its headers, for Cortex-M7."""
    src = tmp_path / f"{name}.c"
    src.write_text(code)
    return build_m7_object(src, tmp_path / f"{name}.o", includes).static


def test_keyword_app_count_is_the_compiled_struct(tmp_path: Path) -> None:
    includes = [FIRMWARE / "audio", FIRMWARE / "common"]
    code = '#include "tinyslm_kws_app.h"\ntinyslm_kws_app_t app;\n'
    assert _static_of(tmp_path, "kws_app", code, includes) == kws_app_bytes() == 8644


def test_text_app_count_is_the_compiled_struct(tmp_path: Path) -> None:
    includes = [FIRMWARE / "text", FIRMWARE / "common"]
    code = '#include "tinyslm_core.h"\ntinyslm_app_t app;\n'
    assert _static_of(tmp_path, "text_app", code, includes) == TEXT_APP_BYTES


@pytest.mark.parametrize(
    "source", sorted(p.relative_to(FIRMWARE).as_posix() for p in FIRMWARE.glob("*/*.c"))
)
def test_firmware_c_keeps_no_static_state(tmp_path: Path, source: str) -> None:
    """Every buffer is in a struct the glue declares, so the counts above are all of it."""
    includes = [FIRMWARE / "audio", FIRMWARE / "text", FIRMWARE / "common"]
    obj = build_m7_object(FIRMWARE / source, tmp_path / "x.o", includes, CORTEX_M7_C99)
    assert obj.static == 0


# Each board's TFLM: the STM32H7's pinned tree, and the ESP32's esp-tflite-micro component
# (compiled for Cortex-M7 too, a 32-bit stand-in for the Xtensa LX6: same pointer and
# integer sizes and alignment).
TFLM_TREES = {"stm32h7": ("tflm", "cortex-m7"), "esp32": ("esp-tflite-micro",)}


@pytest.mark.parametrize("board_id", BOARDS)
@pytest.mark.parametrize("which", ["text", "kws"])
def test_tflm_glue_statics_are_within_the_count(
    tmp_path: Path,
    board_id: str,
    which: str,
    text_model: tuple[Manifest, bytes],
    kws_model: tuple[Manifest, bytes],
) -> None:
    tree = require_path(sdk_path(*TFLM_TREES[board_id]), f"{board_id}'s TFLM tree")
    manifest, model = text_model if which == "text" else kws_model
    plan = render_project(load_board(board_id), manifest, model)
    src = tmp_path / "src"
    src.mkdir()
    for f in plan.files:
        if f.path.startswith("src/"):
            (src / f.path[4:]).write_bytes(f.data)
    includes = [
        src,
        tree,
        tree / "third_party" / "flatbuffers" / "include",
        tree / "third_party" / "gemmlowp",
        tree / "third_party" / "ruy",
    ]
    obj = build_m7_object(src / "tinyslm_tflm.cc", tmp_path / "tflm.o", includes, CORTEX_M7_CXX)
    beside_arena = obj.static - plan.arena_size  # g_arena is the arena, counted as such
    assert 0 < beside_arena <= TFLM_GLUE_BYTES
    assert TFLM_GLUE_BYTES - beside_arena <= TFLM_GLUE_MARGIN


def _main_cc(board: Board, model: tuple[Manifest, bytes]) -> str:
    plan = render_project(board, *model)
    return {f.path: f.data for f in plan.files}["src/main.cc"].decode()


def _int(pattern: str, text: str) -> int:
    found = re.findall(pattern, text)
    assert len(found) == 1, pattern
    return int(found[0])


@pytest.mark.parametrize("board_id", BOARDS)
@pytest.mark.parametrize("which", ["text", "kws"])
def test_serial_buffers_counted_are_the_glues(
    board_id: str,
    which: str,
    text_model: tuple[Manifest, bytes],
    kws_model: tuple[Manifest, bytes],
) -> None:
    """What the count takes for the glue's buffers and the UART driver is what the
    rendered main.cc declares and passes to uart_driver_install."""
    board = load_board(board_id)
    main = _main_cc(board, text_model if which == "text" else kws_model)
    serial = (TEXT_SERIAL if which == "text" else AUDIO_SERIAL)[board.family]
    if which == "text":
        for decl in (
            "uint8_t line_buf[TINYSLM_MAX_LINE];",
            "int32_t ids_buf[TINYSLM_SEQ_LEN];",
            "int8_t scores_buf[TINYSLM_NUM_LABELS];",
        ):
            assert decl in main
    assert "tinyslm_kws_app_t app;" in main if which == "kws" else "tinyslm_app_t app;" in main
    if board.family == "stm32":
        assert _int(r"constexpr uint32_t kRxRing = (\d+);", main) == serial.static
        assert "volatile uint8_t rx_ring[kRxRing];" in main
        return
    assert _int(r"\nuint8_t rx_chunk\[(\d+)\];", main) == serial.static
    ring = _int(r"constexpr int kRxRingBytes = (\d+);", main)
    assert ring == serial.driver_ring
    if which == "text":
        assert "constexpr int kEventQueueLen = kRxRingBytes / 2;" in main
        assert serial.driver_events == ring // 2
        call = "uart_driver_install(kUart, kRxRingBytes, 0, kEventQueueLen, &uart_events, 0)"
    else:
        assert serial.driver_events == 0
        call = "uart_driver_install(kUart, kRxRingBytes, 0, 0, nullptr, 0)"
    assert main.count("uart_driver_install(") == 1
    assert call in main


def _tight(board: Board, arena: int) -> Board:
    """``board`` with the smallest whole-KB arena budget that holds ``arena`` alone."""
    return dataclasses.replace(board, arena_ram_kb=-(-arena // 1024))


def test_a_text_project_counts_the_uart_driver_heap(text_model: tuple[Manifest, bytes]) -> None:
    """An ESP32 arena budget with room for the arena but not ESP-IDF's UART ring and
    event queue (14 KiB of heap) refuses the project, naming what it counted."""
    manifest, model = text_model
    board = _tight(load_board("esp32"), arena_size_for(manifest.arena_bytes))
    with pytest.raises(BudgetError) as err:
        render_project(board, manifest, model)
    message = str(err.value)
    assert "\n" not in message
    arena = arena_size_for(manifest.arena_bytes)
    assert message.startswith(f"does not fit board esp32: arena {arena} bytes + ")
    assert "line buffer 256 + token ids " in message
    assert "UART driver RX ring 2048" in message
    assert f"UART driver events (1024 x {UART_EVENT_BYTES}) {1024 * UART_EVENT_BYTES}" in message
    extra, what = modality(manifest.modality).ram_bytes(board, manifest)
    assert f"{what} = {arena + extra} bytes > RAM budget" in message


def test_a_keyword_project_counts_the_app_and_the_uart_ring(
    kws_model: tuple[Manifest, bytes],
) -> None:
    """Room for the arena, the microphone's buffers and the feature window (all that
    was counted before) is not enough: the app's other state and the UART ring count."""
    manifest, model = kws_model
    arena = arena_size_for(manifest.arena_bytes)
    esp32 = load_board("esp32")
    old = 10240 + 1920 + 49 * 40  # microphone DMA, sample block, feature window
    board = _tight(esp32, arena + old)
    with pytest.raises(BudgetError) as err:
        render_project(board, manifest, model)
    message = str(err.value)
    assert "\n" not in message
    assert "microphone DMA 10240 + sample block 1920 + keyword app (feature window 1960) " in (
        message
    )
    assert "UART driver RX ring 4096" in message and "TFLM glue" in message


@pytest.mark.parametrize("board_id", BOARDS)
def test_the_fixtures_fit_with_room(
    board_id: str, text_model: tuple[Manifest, bytes], kws_model: tuple[Manifest, bytes]
) -> None:
    board = load_board(board_id)
    for manifest, model in (text_model, kws_model):
        plan = render_project(board, manifest, model)
        extra, _ = modality(manifest.modality).ram_bytes(board, manifest)
        assert plan.arena_size + extra <= board.arena_budget_bytes


@pytest.mark.parametrize("board_id", BOARDS)
@pytest.mark.parametrize("which", ["text", "kws"])
def test_every_counted_buffer_is_in_the_count_and_the_readme(
    board_id: str,
    which: str,
    text_model: tuple[Manifest, bytes],
    kws_model: tuple[Manifest, bytes],
) -> None:
    """Each serial buffer and the TFLM glue are parts of ram_bytes (dropping the STM32's
    ring from the count passed every test above), and the project's README gives the
    total beside the arena's budget (it said the budget was the arena's alone)."""
    board = load_board(board_id)
    manifest, model = text_model if which == "text" else kws_model
    total, what = modality(manifest.modality).ram_bytes(board, manifest)
    serial = (TEXT_SERIAL if which == "text" else AUDIO_SERIAL)[board.family]
    for name, size in [*serial.parts(), ("TFLM glue", TFLM_GLUE_BYTES)]:
        assert f"{name} {size}" in what.split(" + ") or f"{name} {size}" in what, (name, what)
    parts = [int(p.rsplit(" ", 1)[1]) for p in what.split(" + ")]
    assert sum(parts) == total
    files = {f.path: f.data for f in render_project(board, manifest, model).files}
    readme = files["README.md"].decode()
    assert f"shared with {total} bytes of the firmware's other RAM" in readme
