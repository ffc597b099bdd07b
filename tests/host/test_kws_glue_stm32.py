"""The STM32H7 keyword glue (SAI + DMA microphone, serial frames) compiled and linked.

The keyword project ``generate`` writes for stm32h7 (``templates/stm32-audio/src/
main.cc.j2``, ``templates/audio`` settings, ``firmware/common`` and ``firmware/audio``;
see ``kws_glue_fixture.py``) is built by
:func:`tinyslm.toolchain.stm32_image.build_stm32h7_image` as PlatformIO builds it:
the project's ``platformio.ini`` flags, the STM32Cube HAL from ``../shared/sdk``
(its ``stm32h7xx_hal_conf.h`` enables the SAI and DMA modules), the CMSIS startup
file and PlatformIO's linker layout, with ``-Wall -Wextra -Werror`` on every project
source (``strict``). TFLM is left out (a stand-in adapter answers for it;
``test_stm32_image.py`` links the real one): what is proven here is the board glue.

The linked image then shows what a compile cannot: the interrupt handlers the glue
defines really replace the startup file's weak defaults (a misspelt handler name
compiles and links, and the DMA never completes), the HAL's SAI/DMA/PLL3 code is
in, and the DMA buffer lands where DMA1 can reach it (AXI SRAM, not DTCM), 32-byte
aligned and of the size the budget check counts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from kws_glue_fixture import write_kws_project, write_model_dir
from shared_paths import require_path, require_tool, sdk_path

from tinyslm.boards import Board, load_board, with_mic_pins
from tinyslm.emit.kws_glue import mic_buffers, mic_context
from tinyslm.errors import ToolchainError
from tinyslm.pipeline import run_generate
from tinyslm.resources import templates_dir
from tinyslm.toolchain import cortex_m, stm32_image

pytestmark = [pytest.mark.toolchain]

ARM_NM = "arm-none-eabi-nm"
DMA_BUFFER = "tinyslm_mic_dma"


@pytest.fixture(scope="module")
def sdk() -> Path:
    require_tool(cortex_m.ARM_CC, cortex_m.ARM_CXX, stm32_image.ARM_AR, cortex_m.ARM_SIZE, ARM_NM)
    return Path(require_path(sdk_path("stm32cubeh7"), "STM32CubeH7 framework tree"))


def build(
    tmp: Path, sdk: Path, board: Board, templates: Path | None = None
) -> stm32_image.Stm32Image:
    project = write_kws_project(board, tmp / "proj", templates, without_tflm=True)
    return stm32_image.build_stm32h7_image(project, sdk, tmp / "out", strict=True)


def symbols(elf: Path) -> dict[str, tuple[int, int, str]]:
    """name -> (address, size, nm type) of every symbol with an address (C++ names demangled)."""
    proc = subprocess.run(
        [ARM_NM, "-S", "-C", str(elf)], capture_output=True, text=True, check=True
    )
    found: dict[str, tuple[int, int, str]] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^([0-9a-f]+) (?:([0-9a-f]+) )?(\w) (.+)$", line)
        if m:
            found[m[4]] = (int(m[1], 16), int(m[2] or "0", 16), m[3])
    return found


def handlers_left_to_default(elf: Path, names: list[str]) -> list[str]:
    """Which of ``names`` still resolve to the startup file's Default_Handler."""
    table = symbols(elf)
    default = table["Default_Handler"][0]
    return [n for n in names if n not in table or table[n][0] == default]


@pytest.fixture(scope="module")
def image(sdk: Path, tmp_path_factory: pytest.TempPathFactory) -> stm32_image.Stm32Image:
    return build(tmp_path_factory.mktemp("kws-stm32"), sdk, load_board("stm32h7"))


def test_glue_compiles_with_werror_and_links(image: stm32_image.Stm32Image) -> None:
    # build_stm32h7_image(strict=True) raised on any warning in a project source and on
    # any compile or link error or warning; here it returned an ELF.
    assert image.elf.read_bytes()[:4] == b"\x7fELF"
    table = symbols(image.elf)
    for name in (
        "HAL_SAI_Init",
        "HAL_SAI_Receive_DMA",
        "HAL_DMA_Init",
        "HAL_RCCEx_PeriphCLKConfig",
        "tinyslm_kws_app_feed",
        "tinyslm_kws_app_feed_samples",
        "tinyslm_listen_feed",
    ):
        assert name in table, name


def test_interrupt_handlers_replace_the_weak_defaults(image: stm32_image.Stm32Image) -> None:
    mic = mic_context(load_board("stm32h7"))
    names = [mic["dma"]["irq_handler"], mic["sai"]["irq_handler"], "USART3_IRQHandler"]
    assert names[:2] == ["DMA1_Stream0_IRQHandler", "SAI1_IRQHandler"]
    assert handlers_left_to_default(image.elf, names) == []
    table = symbols(image.elf)
    # The HAL's weak callbacks are replaced too (they count the DMA halves).
    for cb in ("HAL_SAI_RxHalfCpltCallback", "HAL_SAI_RxCpltCallback", "HAL_SAI_ErrorCallback"):
        assert table[cb][2] in "Tt", cb


def test_dma_buffer_is_in_axi_sram_aligned_and_counted(image: stm32_image.Stm32Image) -> None:
    board = load_board("stm32h7")
    table = symbols(image.elf)
    found = [name for name in table if name.endswith(DMA_BUFFER)]
    assert len(found) == 1, found
    address, size, _ = table[found[0]]
    assert stm32_image.region_of(address) == "RAM_D1"  # AXI SRAM: DMA1 reaches it
    assert address % 32 == 0 and size % 64 == 0  # two halves of whole cache lines
    assert size == mic_buffers(board).dma == 8192


def test_a_misspelt_handler_is_caught(sdk: Path, tmp_path: Path) -> None:
    """The handler check can fail: a glue whose DMA handler name is wrong still links."""
    root = tmp_path / "templates"
    shutil.copytree(templates_dir(), root)
    path = root / "stm32-audio" / "src" / "main.cc.j2"
    text = path.read_text(encoding="utf-8")
    old = "void {{ mic.dma.irq_handler }}(void)"
    assert old in text
    path.write_text(text.replace(old, "void {{ mic.dma.irq_handler }}_typo(void)"))
    broken = build(tmp_path, sdk, load_board("stm32h7"), root)
    assert handlers_left_to_default(broken.elf, ["DMA1_Stream0_IRQHandler"]) == [
        "DMA1_Stream0_IRQHandler"
    ]


def test_a_planted_hal_misuse_fails_the_build(sdk: Path, tmp_path: Path) -> None:
    root = tmp_path / "templates"
    shutil.copytree(templates_dir(), root)
    path = root / "stm32-audio" / "src" / "main.cc.j2"
    text = path.read_text(encoding="utf-8")
    # HAL_SAI_Receive_DMA counts data items in a uint16_t; a pointer there is an error.
    old = "static_cast<uint16_t>(2 * kMicHalf)) != HAL_OK) {\n    return"
    assert old in text
    path.write_text(text.replace(old, "&hsai) != HAL_OK) {\n    return", 1))
    with pytest.raises(ToolchainError, match=r"main\.cc"):
        build(tmp_path, sdk, load_board("stm32h7"), root)


def test_overridden_pins_build(sdk: Path, tmp_path: Path) -> None:
    # SAI1_SD_A is also on PD6 (AF6); another GPIO port means another clock enable.
    board = with_mic_pins(load_board("stm32h7"), ["sd=PD6"])
    image = build(tmp_path, sdk, board)
    main = (tmp_path / "proj" / "src" / "main.cc").read_text()
    assert "__HAL_RCC_GPIOD_CLK_ENABLE();\n  gpio_alternate(GPIOD, GPIO_PIN_6, 6u" in main
    assert image.elf.is_file()


def test_generated_keyword_image_links_with_tflm_and_fits(
    sdk: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The project ``generate`` writes, with the real adapter and the CMSIS-NN TFLM tree:
    linked, and within the board's flash and RAM (the figures are in the log)."""
    tree = require_path(sdk_path("tflm", "cortex-m7"), "Cortex-M7 TFLM tree")
    tmp = tmp_path_factory.mktemp("kws-stm32-tflm")
    project = tmp / "proj"
    run_generate("stm32h7", project, model_dir=write_model_dir(tmp / "model"), tflm_dir=tree)
    image = stm32_image.build_stm32h7_image(project, sdk, tmp / "out", strict=True)
    breakdown = stm32_image.map_breakdown(image.map_file)
    print(stm32_image.format_breakdown(breakdown))
    board = load_board("stm32h7")
    assert image.flash <= board.flash_kb * 1024 and image.ram <= board.ram_kb * 1024
    assert breakdown.arena_region == "RAM_D1"
    table = symbols(image.elf)
    assert "tflite::MicroInterpreter::Invoke()" in table
    buffer = [name for name in table if name.endswith(DMA_BUFFER)]
    assert len(buffer) == 1 and stm32_image.region_of(table[buffer[0]][0]) == "RAM_D1"
    # The glue's RAM (microphone buffers, the app with its listening loop, the UART
    # ring) is all in main.cc: at least what the budget check counts for the microphone.
    assert breakdown.get("board glue").ram >= mic_buffers(board).total
