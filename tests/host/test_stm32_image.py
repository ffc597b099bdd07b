"""The STM32H7 image a user flashes, built as PlatformIO builds it, linked and sized.

``tinyslm.toolchain.stm32_image`` compiles a generated stm32h7 project (``src/``,
``lib/tflm``, the STM32Cube HAL and the CMSIS device's startup/system files) with
the flags of platform ``ststm32@19.6.0`` for ``nucleo_h743zi`` and links it with
the memory layout of PlatformIO's ``STM32H743ZITX_FLASH.ld``. Needs
``arm-none-eabi-gcc``/``g++`` and ``../shared/sdk`` (``stm32cubeh7/``, the
Cortex-M7 TFLM tree ``tflm/cortex-m7/``). One build is shared by the module; HAL
and TFLM objects are cached in ~/.cache/tinyslm/stm32h7 (the first run takes
minutes).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from shared_paths import require_path, require_tool, sdk_path

from tinyslm.boards import load_board
from tinyslm.emit.actions import with_example
from tinyslm.errors import ToolchainError
from tinyslm.pipeline import run_generate
from tinyslm.resources import templates_dir
from tinyslm.toolchain import cortex_m, stm32_image

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


@pytest.fixture(scope="module")
def sdk() -> Path:
    require_tool(cortex_m.ARM_CC, cortex_m.ARM_CXX, stm32_image.ARM_AR, cortex_m.ARM_SIZE)
    require_path(sdk_path("tflm", "cortex-m7"), "Cortex-M7 TFLM tree")
    return require_path(sdk_path("stm32cubeh7"), "STM32CubeH7 framework tree")


@pytest.fixture(scope="module")
def project(sdk: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stm32") / "proj"
    run_generate("stm32h7", out, model_dir=FIXTURE_MODEL, tflm_dir=sdk_path("tflm", "cortex-m7"))
    return out


@pytest.fixture(scope="module")
def image(
    project: Path, sdk: Path, tmp_path_factory: pytest.TempPathFactory
) -> stm32_image.Stm32Image:
    out = tmp_path_factory.mktemp("stm32-image")
    return stm32_image.build_stm32h7_image(project, sdk, out, strict=True)


@pytest.fixture(scope="module")
def breakdown(image: stm32_image.Stm32Image) -> stm32_image.MapBreakdown:
    return stm32_image.map_breakdown(image.map_file)


def test_project_links_into_an_image(image: stm32_image.Stm32Image) -> None:
    # build_stm32h7_image raises on any compile error, any warning in tinyslm's own
    # files (-Werror) and any linker error or warning; here it returned an ELF.
    assert image.elf.is_file() and image.map_file.is_file()
    assert image.elf.read_bytes()[:4] == b"\x7fELF"
    assert image.text > 0 and image.bss > 0
    text = image.map_file.read_text(encoding="utf-8", errors="replace")
    # The vector table, the HAL and the board glue are really in it.
    for symbol in ("g_pfnVectors", "HAL_UART_Init", "USART3_IRQHandler", "SystemInit"):
        assert symbol in text, symbol


def test_sections_fit_the_board_budget(
    image: stm32_image.Stm32Image, breakdown: stm32_image.MapBreakdown
) -> None:
    board = load_board("stm32h7")
    flash_limit = board.flash_kb * 1024
    ram_limit = board.ram_kb * 1024
    assert image.flash <= flash_limit == stm32_image.MAX_FLASH
    # RAM: .data + .bss, the linker script's minimum heap and stack included.
    assert image.ram <= ram_limit == stm32_image.MAX_RAM
    assert breakdown.get("model array").flash <= board.model_flash_kb * 1024
    arena = breakdown.get("tensor arena").ram
    assert 0 < arena <= board.arena_ram_kb * 1024
    # The budget is true: the largest arena it allows still fits beside everything
    # else this image keeps in RAM.
    others = image.ram - arena
    assert others + board.arena_ram_kb * 1024 <= ram_limit
    # Flash left for code beside the largest model the budget allows.
    code = image.flash - breakdown.get("model array").flash
    assert code + board.model_flash_kb * 1024 <= flash_limit


def test_breakdown_accounts_for_every_byte(
    image: stm32_image.Stm32Image, breakdown: stm32_image.MapBreakdown
) -> None:
    assert breakdown.flash == image.flash
    assert breakdown.ram == image.ram
    for name in ("TFLM core", "TFLM kernels", "CMSIS-NN", "C library", "HAL", "board glue"):
        assert breakdown.get(name).flash > 0, name
    assert breakdown.get("tinyslm core + adapter").flash > 0
    model_bytes = (FIXTURE_MODEL / "model.tflite").stat().st_size
    # The array, its length word and alignment padding.
    assert model_bytes <= breakdown.get("model array").flash <= model_bytes + 32


def test_arena_lands_in_axi_sram(breakdown: stm32_image.MapBreakdown) -> None:
    # PlatformIO's STM32H743ZITX_FLASH.ld puts .data/.bss in RAM_D1 (AXI SRAM, 512 KB
    # at 0x24000000), not in the 128 KB DTCM: the board's ram_kb is that region.
    assert breakdown.arena_region == "RAM_D1"
    assert breakdown.arena_address % 16 == 0
    board = load_board("stm32h7")
    region = {name: length for name, _origin, length in stm32_image.REGIONS}
    assert board.ram_kb * 1024 == region["RAM_D1"]


def _copy(project: Path, planted: Path) -> Path:
    """The project's sources and build file, with its TFLM tree hard-linked (not copied).

    Hard links, not a link to the folder: the include paths are resolved, and through a
    folder link they named the first project's tree, whose path the object cache's key
    does not write as ``<project>``, so the copy compiled TFLM again (minutes)."""
    shutil.copytree(project / "src", planted / "src")
    shutil.copy2(project / "platformio.ini", planted / "platformio.ini")
    shutil.copytree(project / "lib" / "tflm", planted / "lib" / "tflm", copy_function=os.link)
    return planted


def test_planted_hal_misuse_fails_the_build(
    project: Path, sdk: Path, image: stm32_image.Stm32Image, tmp_path: Path
) -> None:
    # The template's old bug: UART_IT_RXNE_RXFNE exists in no STM32H7 HAL release.
    # serial_init is in the partial both STM32H7 glues include.
    for name in ("stm32-text/src/main.cc.j2", "stm32/_serial.cc.j2"):
        assert "UART_IT_RXNE_RXFNE" not in (templates_dir() / name).read_text()
    planted = _copy(project, tmp_path / "proj")
    main = planted / "src" / "main.cc"
    text = main.read_text()
    assert "__HAL_UART_ENABLE_IT(&huart, UART_IT_RXNE);" in text
    main.write_text(text.replace("UART_IT_RXNE);", "UART_IT_RXNE_RXFNE);"))
    with pytest.raises(ToolchainError, match="UART_IT_RXNE_RXFNE"):
        stm32_image.build_stm32h7_image(planted, sdk, tmp_path / "out", strict=True)


def test_own_sources_warning_fails_the_build(
    project: Path, sdk: Path, image: stm32_image.Stm32Image, tmp_path: Path
) -> None:
    planted = _copy(project, tmp_path / "proj")
    core = planted / "src" / "tinyslm_settings.c"
    core.write_text(core.read_text() + "\nstatic int tinyslm_unused_planted(int x) { return 0; }\n")
    with pytest.raises(ToolchainError, match=r"tinyslm_settings\.c"):
        stm32_image.build_stm32h7_image(planted, sdk, tmp_path / "out", strict=True)


def test_the_users_actions_are_linked_and_the_example_builds(
    project: Path, sdk: Path, image: stm32_image.Stm32Image, tmp_path: Path
) -> None:
    """src/tinyslm_actions.c is in the image; its HAL example, uncommented as its header
    says, builds with the strict flags (as a user's first edit would)."""
    assert "tinyslm_on_answer" in image.map_file.read_text(errors="replace")
    planted = _copy(project, tmp_path / "proj")
    actions = planted / "src" / "tinyslm_actions.c"
    text = with_example(actions.read_text())
    assert not [ln for ln in text.splitlines() if ln.lstrip().startswith("//>")]
    assert "\n    HAL_GPIO_WritePin(GPIOB, GPIO_PIN_14, GPIO_PIN_SET);" in text
    actions.write_text(text)
    built = stm32_image.build_stm32h7_image(planted, sdk, tmp_path / "out", strict=True)
    linked = built.map_file.read_text(errors="replace")
    assert "HAL_GPIO_WritePin" in linked and "HAL_GPIO_Init" in linked
    # A HAL misuse in the user's file fails the build too (GPIO_PIN_16 does not exist).
    actions.write_text(text.replace("GPIO_PIN_14;", "GPIO_PIN_16;"))
    with pytest.raises(ToolchainError, match="GPIO_PIN_16"):
        stm32_image.build_stm32h7_image(planted, sdk, tmp_path / "out2", strict=True)


def test_flags_are_platformio_s(project: Path, sdk: Path) -> None:
    envs = stm32_image.platformio_envs(project, sdk, None)
    cxx = envs.src.cxx_argv()
    c = envs.src.c_argv()
    # boards/stm32h7.yaml build_flags, then builder/frameworks/stm32cube.py.
    for flag in ("-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb", "-mcpu=cortex-m7", "-Os"):
        assert flag in c and flag in cxx, flag
    for flag in ("-ffunction-sections", "-fdata-sections", "-Wall", "-fno-exceptions"):
        assert flag in cxx, flag
    assert "-std=c++17" in cxx and "-fno-rtti" in cxx
    assert "-std=c++17" not in c and "-fno-rtti" not in c
    for define in ("STM32H743xx", "USE_HAL_DRIVER", "F_CPU=400000000L", "TF_LITE_STATIC_MEMORY"):
        assert f"-D{define}" in c, define
    # lib/tflm's own library.json flags reach TFLM only.
    tflm = envs.tflm.cxx_argv()
    assert "-DPROJECT_GENERATION" in tflm and "-DPROJECT_GENERATION" not in cxx
    assert "--specs=nano.specs" in envs.linkflags
    assert "-mfloat-abi=hard" in envs.linkflags  # via tinyslm_hardfloat.py


SYNTHETIC_MAP = """\
Archive member included to satisfy reference by file (symbol)

Linker script and memory map

.isr_vector     0x08000000       0x10
 *(.isr_vector)
 .isr_vector    0x08000000       0x10 /b/link/libFrameworkCMSISDevice.a(startup_stm32h743xx.S.o)
                0x08000000                g_pfnVectors

.text           0x08000010       0x40
 .text.main     0x08000010       0x10 /b/obj/src/main.cc.o
 .text._ZN6tflite16MicroInterpreterC2Ev
                0x08000020       0x18 /b/libtflm.a(tensorflow__lite__micro__micro_log.cc.o)
 *fill*         0x08000038        0x8
 .text.memcpy   0x08000040       0x10 /usr/lib/arm-none-eabi/lib/libc_nano.a(lib_a-memcpy.o)

.rodata         0x08000050       0x30
 .rodata.str1.1
                0x08000050       0x10 /b/obj/src/main.cc.o
 .rodata.str1.1
                0x08000058       0x10 /b/obj/src/tinyslm_core.c.o
 .rodata.tinyslm_model_data
                0x08000068       0x18 /b/obj/src/tinyslm_model_data.cc.o

.data           0x24000000        0x8 load address 0x08000080
 .data.x        0x24000000        0x8 /b/obj/src/tinyslm_core.c.o

.bss            0x24000008       0x28 load address 0x08000088
 .bss._ZN12_GLOBAL__N_17g_arenaE
                0x24000010       0x20 /b/obj/src/tinyslm_tflm.cc.o
 .bss.huart     0x24000030        0x0 /b/obj/src/main.cc.o

._user_heap_stack
                0x24000030      0x600 load address 0x08000088
                0x24000030                . = ALIGN (0x8)

.debug_info     0x00000000      0x100
 .debug_info    0x00000000      0x100 /b/obj/src/main.cc.o
"""


def test_map_breakdown_counts_each_byte_once(tmp_path: Path) -> None:
    path = tmp_path / "firmware.map"
    path.write_text(SYNTHETIC_MAP)
    got = stm32_image.map_breakdown(path)
    assert got.as_dict() == {
        "model array": {"flash": 0x18, "ram": 0},
        "TFLM core": {"flash": 0x18, "ram": 0},
        "TFLM kernels": {"flash": 0, "ram": 0},
        "CMSIS-NN": {"flash": 0, "ram": 0},
        # Merged strings: main's 0x10 overlap the core's from 0x08000058 on.
        "tinyslm core + adapter": {"flash": 0x10 + 0x8, "ram": 0x8},
        "board glue": {"flash": 0x10 + 0x8, "ram": 0},
        "C library": {"flash": 0x10, "ram": 0},
        "HAL": {"flash": 0x10, "ram": 0},
        "tensor arena": {"flash": 0, "ram": 0x20},
        # *fill*, .bss alignment before the arena and the heap/stack reserve.
        "other": {"flash": 0x8, "ram": 0x8 + 0x600},
    }
    assert got.flash == 0x10 + 0x40 + 0x30 + 0x8
    assert got.ram == 0x8 + 0x28 + 0x600
    assert (got.arena_address, got.arena_region) == (0x24000010, "RAM_D1")


def test_the_users_actions_count_as_board_glue_not_tinyslm() -> None:
    """`tinyslm build`'s breakdown: src/tinyslm_actions.c is the user's code, as main.cc is."""
    assert stm32_image._component(".text.a", "/b/obj/src/tinyslm_actions.c.o") == "board glue"
    assert stm32_image._component(".text.a", "/b/obj/src/main.cc.o") == "board glue"
    core = stm32_image._component(".text.a", "/b/obj/src/tinyslm_core.c.o")
    assert core == "tinyslm core + adapter"
