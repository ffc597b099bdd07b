"""The microphone glue of keyword firmware: template values, clock plans, RAM and wiring.

``templates/<family>-audio/src/main.cc.j2`` (the keyword firmware's ``main.cc``) reads
the microphone through the vendor SDK: ESP-IDF 5.x's ``i2s_std`` driver on ESP32,
the STM32 HAL's SAI with DMA on STM32H7. Every value it prints comes from
:func:`mic_context`, computed here from the board file's ``microphone`` section
(:class:`tinyslm.boards.Microphone`), so the template only loops and branches.

The clock arithmetic is checked, not trusted: :func:`sai_clock` follows PLL3 from
the HSI to the SAI's frame sync as the hardware and ``HAL_SAI_Init`` compute it
and refuses a plan whose sample rate is not exactly the front end's, or whose PLL
leaves the ranges of the STM32H7 reference manual (RM0433, RCC: PLL input 1-16
MHz, VCO 192-836 MHz wide / 150-420 MHz medium). :func:`i2s_clock` does the same
for the ESP32's I2S dividers. :func:`mic_buffers` gives the RAM the glue adds
(DMA buffers and the 16-bit sample block) for the board's budget check;
:func:`wiring_rows` the wiring table of the project README.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from tinyslm.boards import Board, Microphone
from tinyslm.errors import BoardError

# --- STM32H7 (SAI) ---------------------------------------------------------------------
# The PLL source templates/stm32's clock_init selects: HSI at 64 MHz (HSIDIV 1),
# HSI_VALUE in the HAL configuration.
STM32_PLL_SOURCE_HZ = 64_000_000
# RM0433 (RCC, PLLs): input ranges (PLLxRGE) and the two VCO ranges (PLLxVCOSEL).
_PLL_RANGES = (
    (1_000_000, 2_000_000, "RCC_PLL3VCIRANGE_0"),
    (2_000_000, 4_000_000, "RCC_PLL3VCIRANGE_1"),
    (4_000_000, 8_000_000, "RCC_PLL3VCIRANGE_2"),
    (8_000_000, 16_000_000, "RCC_PLL3VCIRANGE_3"),
)
_VCO_WIDE = (192_000_000, 836_000_000)  # VCOSEL = 0, reference 2-16 MHz
_VCO_MEDIUM = (150_000_000, 420_000_000)  # VCOSEL = 1, reference 1-2 MHz
# SAI master clock with the divider on (NODIV = 0) and no oversampling:
# fs = kernel / (MCKDIV * 256); MCKDIV is 6 bits (0 counts as 1).
SAI_MCLK_PER_FS = 256
SAI_MCKDIV_MAX = 63
SAI_FRAME_BITS = 64  # I2S: two 32-bit slots
_SAI = re.compile(r"^SAI([1-4])_Block_([AB])$")
_DMA = re.compile(r"^DMA([12])_Stream([0-7])$")
_STM32_PIN = re.compile(r"^P([A-K])([0-9]{1,2})$")
# templates/stm32: the UART's interrupt priority is 5; audio comes next.
STM32_AUDIO_IRQ_PRIORITY = 6

# --- ESP32 (i2s_std) -------------------------------------------------------------------
# I2S_CLK_SRC_DEFAULT on the ESP32 is PLL_F160M (soc/clk_tree_defs.h, ESP-IDF 5.3.1);
# I2S_STD_CLK_DEFAULT_CONFIG's mclk_multiple is 256. The ESP32 divides the source by
# N + b/a (a <= 63) to MCLK, then MCLK by an integer to BCLK.
ESP32_I2S_SOURCE_HZ = 160_000_000
ESP32_MCLK_MULTIPLE = 256
ESP32_FRAC_DENOMINATOR_MAX = 63
# The ESP32's I2S has 2 slots per frame in standard mode.
I2S_SLOTS = 2

SAMPLE_BYTES = 2  # int16 PCM handed to tinyslm_listen_feed


@dataclass(frozen=True)
class SaiClock:
    """PLL3 to the SAI's frame sync, in Hz (exact integers), with the HAL's range macros."""

    reference_hz: int
    vco_hz: int
    kernel_hz: int
    mckdiv: int
    fs_hz: int
    sck_hz: int
    vci_range: str
    vco_range: str


@dataclass(frozen=True)
class I2sClock:
    """The ESP32 I2S dividers for the board's rate: MCLK = source / (N + b/a), BCLK = MCLK / d."""

    source_hz: int
    mclk_hz: int
    bclk_hz: int
    div_integer: int
    div_numerator: int
    div_denominator: int
    bclk_div: int


@dataclass(frozen=True)
class MicBuffers:
    """RAM the microphone glue adds, in bytes.

    ``dma``: the DMA buffers (ESP32: allocated by the i2s driver from DMA-capable heap;
    STM32: a static array in .bss). ``work``: the glue's own static blocks (raw words
    read from the driver on ESP32, the int16 block handed to the listening loop).
    """

    dma: int
    work: int

    @property
    def total(self) -> int:
        return self.dma + self.work


@dataclass(frozen=True)
class WiringRow:
    """One line of the README's wiring table."""

    signal: str
    mcu_pin: str
    mic_pin: str
    where: str


def _mic(board: Board) -> Microphone:
    if board.microphone is None:
        raise BoardError(f"board {board.id} has no microphone section (keyword firmware needs one)")
    return board.microphone


def sai_clock(mic: Microphone, source_hz: int = STM32_PLL_SOURCE_HZ) -> SaiClock:
    """Follow PLL3 P to the SAI's frame sync and check it is the board's sample rate.

    ``HAL_SAI_Init`` computes MCKDIV itself from ``SAI_AUDIO_FREQUENCY_16K`` and the
    kernel clock (``(freq * 10) / (fs * 256)``, rounded up when the tenths exceed 8);
    the same formula is applied here, so the divider the firmware ends up with is
    the one checked.

    Raises:
        BoardError: a PLL value outside RM0433's ranges, a kernel clock that is not a
            whole number of Hz, or a frame sync that is not exactly ``sample_rate``.
    """
    if mic.pll_m is None or mic.pll_n is None or mic.pll_p is None:
        raise BoardError("microphone/clock: pll_m, pll_n and pll_p are required for SAI")
    ref = Fraction(source_hz, mic.pll_m)
    vci = next((name for lo, hi, name in _PLL_RANGES if lo <= ref <= hi), None)
    if vci is None:
        raise BoardError(
            f"microphone/clock: PLL3 reference {float(ref) / 1e6:.3f} MHz "
            f"({source_hz} Hz / M {mic.pll_m}) is outside 1-16 MHz"
        )
    vco = ref * mic.pll_n
    lo, hi = _VCO_MEDIUM if ref < 2_000_000 else _VCO_WIDE
    if not lo <= vco <= hi:
        raise BoardError(
            f"microphone/clock: PLL3 VCO {float(vco) / 1e6:.3f} MHz (x N {mic.pll_n}) is "
            f"outside {lo // 1_000_000}-{hi // 1_000_000} MHz"
        )
    kernel = vco / mic.pll_p
    if kernel.denominator != 1:
        raise BoardError(
            f"microphone/clock: SAI kernel clock {float(kernel):.3f} Hz is not a whole number"
        )
    freq = int(kernel)
    tenths = (freq * 10) // (mic.sample_rate * SAI_MCLK_PER_FS)
    mckdiv = tenths // 10 + (1 if tenths % 10 > 8 else 0)
    if not 1 <= mckdiv <= SAI_MCKDIV_MAX:
        raise BoardError(
            f"microphone/clock: SAI kernel clock {freq} Hz needs MCKDIV {mckdiv} "
            f"for {mic.sample_rate} Hz (1-{SAI_MCKDIV_MAX})"
        )
    fs = Fraction(freq, mckdiv * SAI_MCLK_PER_FS)
    if fs != mic.sample_rate:
        raise BoardError(
            f"microphone/clock: SAI kernel clock {freq} Hz / (MCKDIV {mckdiv} x 256) = "
            f"{float(fs):.3f} Hz, not {mic.sample_rate} Hz"
        )
    return SaiClock(
        reference_hz=round(ref),
        vco_hz=round(vco),
        kernel_hz=freq,
        mckdiv=mckdiv,
        fs_hz=mic.sample_rate,
        sck_hz=mic.sample_rate * SAI_FRAME_BITS,
        vci_range=vci,
        vco_range="RCC_PLL3VCOMEDIUM" if ref < 2_000_000 else "RCC_PLL3VCOWIDE",
    )


def i2s_clock(mic: Microphone) -> I2sClock:
    """The ESP32 I2S dividers for ``mic``'s rate, checked to be exact.

    Raises:
        BoardError: MCLK not an exact fraction of the source with a denominator of at
            most 63, or BCLK not an integer division of MCLK.
    """
    mclk = mic.sample_rate * ESP32_MCLK_MULTIPLE
    bclk = mic.sample_rate * I2S_SLOTS * mic.slot_bits
    div = Fraction(ESP32_I2S_SOURCE_HZ, mclk)
    if div.denominator > ESP32_FRAC_DENOMINATOR_MAX or mclk % bclk:
        raise BoardError(
            f"microphone: {mic.sample_rate} Hz with {mic.slot_bits}-bit slots has no exact "
            f"ESP32 I2S divider ({ESP32_I2S_SOURCE_HZ} / {mclk} = {float(div):.4f})"
        )
    whole = div.numerator // div.denominator
    frac = div - whole
    return I2sClock(
        source_hz=ESP32_I2S_SOURCE_HZ,
        mclk_hz=mclk,
        bclk_hz=bclk,
        div_integer=whole,
        div_numerator=frac.numerator,
        div_denominator=frac.denominator if frac else 1,
        bclk_div=mclk // bclk,
    )


def mic_buffers(board: Board) -> MicBuffers:
    """RAM of the microphone glue (see :class:`MicBuffers`).

    Raises:
        BoardError: the board has no microphone.
    """
    mic = _mic(board)
    word = mic.slot_bits // 8
    if mic.interface == "i2s_std":
        assert mic.dma_descriptors is not None and mic.dma_frames is not None
        # Mono: one slot word per frame in each DMA buffer; the glue reads one buffer
        # of raw words at a time and converts it to as many int16 samples.
        return MicBuffers(
            dma=mic.dma_descriptors * mic.dma_frames * word,
            work=mic.dma_frames * (word + SAMPLE_BYTES),
        )
    assert mic.dma_half_samples is not None
    return MicBuffers(
        dma=2 * mic.dma_half_samples * word,
        work=mic.dma_half_samples * SAMPLE_BYTES,
    )


def dma_buffer_bytes(board: Board) -> int:
    """Bytes of the microphone's DMA buffers (the figure the budget check counts)."""
    return mic_buffers(board).dma


_SIGNALS = {
    "bclk": "I2S bit clock",
    "ws": "I2S word select",
    "din": "I2S data in",
    "sck": "SAI bit clock",
    "fs": "SAI frame sync",
    "sd": "SAI data in",
}


def wiring_rows(board: Board) -> tuple[WiringRow, ...]:
    """The wiring table for the project README: signal, MCU pin, microphone pin, where.

    Data lines first (in board-file order), then power, ground and channel select.

    Raises:
        BoardError: the board has no microphone.
    """
    mic = _mic(board)
    rows = [
        WiringRow(
            signal=f"{_SIGNALS.get(p.signal, p.signal)} ({p.signal})",
            mcu_pin=p.pin if p.af is None else f"{p.pin} (AF{p.af})",
            mic_pin=p.mic,
            where=p.header or "-",
        )
        for p in mic.pins
    ]
    rows.append(WiringRow("3.3 V supply", "3V3", "VDD", mic.vdd or "-"))
    rows.append(WiringRow("ground", "GND", "GND", mic.gnd or "-"))
    # INMP441: L/R low puts the microphone in the left slot, high in the right one.
    left = mic.channel == "left"
    rows.append(
        WiringRow(
            f"channel select ({mic.channel} slot)",
            "GND" if left else "3V3",
            "L/R",
            (mic.gnd if left else mic.vdd) or "-",
        )
    )
    return tuple(rows)


def _stm32_pin(pin: str, af: int | None) -> dict[str, Any]:
    m = _STM32_PIN.fullmatch(pin)
    if not m or int(m.group(2)) > 15 or af is None:
        raise BoardError(f"microphone pin {pin!r} is not an STM32 pin with an alternate function")
    port, num = m.groups()
    return {
        "name": pin,
        "port": f"GPIO{port}",
        "pin": f"GPIO_PIN_{int(num)}",
        "clk_enable": f"__HAL_RCC_GPIO{port}_CLK_ENABLE",
        "af": af,
    }


def _sai_names(peripheral: str) -> dict[str, str]:
    m = _SAI.fullmatch(peripheral)
    if not m:
        raise BoardError(f"microphone/peripheral {peripheral!r} is not of the form SAI1_Block_A")
    num, block = m.groups()
    if num == "4":
        # SAI4 lives in the D3 domain and is served by BDMA, not DMA1/DMA2.
        raise BoardError("microphone/peripheral: SAI4 needs BDMA; the glue drives SAI1-SAI3")
    shared = "1" if num == "1" else "23"  # SAI2 and SAI3 share one kernel clock mux
    return {
        "instance": peripheral,
        "name": f"SAI{num}",
        "irqn": f"SAI{num}_IRQn",
        "irq_handler": f"SAI{num}_IRQHandler",
        "clk_enable": f"__HAL_RCC_SAI{num}_CLK_ENABLE",
        "periph_clock": f"RCC_PERIPHCLK_SAI{shared}",
        "clock_field": f"Sai{shared}ClockSelection",
        "clock_source": f"RCC_SAI{shared}CLKSOURCE_PLL3",
        "dma_request": f"DMA_REQUEST_SAI{num}_{block}",
    }


def _dma_names(stream: str) -> dict[str, str]:
    m = _DMA.fullmatch(stream)
    if not m:
        raise BoardError(f"microphone/dma/stream {stream!r} is not of the form DMA1_Stream0")
    return {
        "instance": stream,
        "irqn": f"{stream}_IRQn",
        "irq_handler": f"{stream}_IRQHandler",
        "clk_enable": f"__HAL_RCC_DMA{m.group(1)}_CLK_ENABLE",
    }


def mic_context(board: Board) -> dict[str, Any]:
    """Template values (``mic``) for ``templates/<family>-audio/src/main.cc.j2``.

    Raises:
        BoardError: the board has no microphone, or its section names something the
            glue cannot drive (a clock that is not exact, SAI4, a malformed name).
    """
    mic = _mic(board)
    buffers = mic_buffers(board)
    common: dict[str, Any] = {
        "part": mic.part,
        "sample_rate": mic.sample_rate,
        "slot_bits": mic.slot_bits,
        "data_bits": mic.data_bits,
        "sample_shift": mic.sample_shift,
        "channel": mic.channel,
        "dma_bytes": buffers.dma,
        "work_bytes": buffers.work,
        "pins": {p.signal: p.pin for p in mic.pins},
    }
    if mic.interface == "i2s_std":
        if board.family != "esp32":
            raise BoardError(f"board {board.id}: i2s_std microphones are ESP32 glue")
        i2s = i2s_clock(mic)
        assert mic.port is not None and mic.dma_frames is not None
        assert mic.dma_descriptors is not None
        return {
            **common,
            "interface": "i2s_std",
            "port": f"I2S_NUM_{mic.port}",
            "gpio": {p.signal: f"GPIO_NUM_{p.pin[len('GPIO') :]}" for p in mic.pins},
            "slot_mask": "I2S_STD_SLOT_LEFT" if mic.channel == "left" else "I2S_STD_SLOT_RIGHT",
            "data_bit_width": f"I2S_DATA_BIT_WIDTH_{mic.slot_bits}BIT",
            "dma_desc_num": mic.dma_descriptors,
            "dma_frame_num": mic.dma_frames,
            "read_frames": mic.dma_frames,
            "buffer_ms": mic.dma_frames * 1000 // mic.sample_rate,
            "dma_ms": mic.dma_descriptors * mic.dma_frames * 1000 // mic.sample_rate,
            # The DMA always writes one buffer; the driver's receive queue holds the rest
            # (i2s_common.c: dma_desc_num - 1 deep), which is the audio that can wait.
            "queue_buffers": mic.dma_descriptors - 1,
            "queue_ms": (mic.dma_descriptors - 1) * mic.dma_frames * 1000 // mic.sample_rate,
            # The main component's REQUIRES for this glue (beside the text glue's).
            "idf_requires": ["esp_driver_i2s"],
            "clock": {
                "mclk_hz": i2s.mclk_hz,
                "bclk_hz": i2s.bclk_hz,
                "divider": f"{i2s.div_integer} + {i2s.div_numerator}/{i2s.div_denominator}",
                "bclk_div": i2s.bclk_div,
            },
        }
    if board.family != "stm32":
        raise BoardError(f"board {board.id}: SAI microphones are STM32 glue")
    assert mic.dma_stream is not None and mic.dma_half_samples is not None
    assert mic.peripheral is not None
    clock = sai_clock(mic)
    sai = _sai_names(mic.peripheral)
    return {
        **common,
        "interface": "sai",
        "sai": sai,
        "dma": _dma_names(mic.dma_stream),
        "irq_priority": STM32_AUDIO_IRQ_PRIORITY,
        "gpio": {p.signal: _stm32_pin(p.pin, p.af) for p in mic.pins},
        "slot_active": "SAI_SLOTACTIVE_0" if mic.channel == "left" else "SAI_SLOTACTIVE_1",
        "data_size": f"SAI_DATASIZE_{mic.slot_bits}",
        "slot_size": f"SAI_SLOTSIZE_{mic.slot_bits}B",
        "frame_bits": I2S_SLOTS * mic.slot_bits,
        "half_samples": mic.dma_half_samples,
        "half_ms": mic.dma_half_samples * 1000 // mic.sample_rate,
        "audio_frequency": f"SAI_AUDIO_FREQUENCY_{mic.sample_rate // 1000}K",
        "pll": {
            "m": mic.pll_m,
            "n": mic.pll_n,
            "p": mic.pll_p,
            "vci_range": clock.vci_range,
            "vco_range": clock.vco_range,
        },
        "clock": {
            "source_hz": STM32_PLL_SOURCE_HZ,
            "reference_hz": clock.reference_hz,
            "vco_hz": clock.vco_hz,
            "kernel_hz": clock.kernel_hz,
            "mckdiv": clock.mckdiv,
            "sck_hz": clock.sck_hz,
        },
    }
