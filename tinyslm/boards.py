"""Board definitions: load ``boards/<id>.yaml`` and check it against ``boards/schema.json``.

A board file is pure data (identity, capabilities, budgets, serial glue, the
PlatformIO environment kept verbatim, where TFLM comes from, the microphone that
keyword firmware reads). The JSON Schema rejects unknown keys and wrong types; the
rules a schema cannot express (budgets within capabilities, ``monitor_speed``
equal to the baud rate, the id equal to the file name, the microphone's interface
fitting the family and its pins free and usable, the ``headers`` map naming pins the
board has) are checked here.
:func:`with_mic_pins` applies ``generate``'s pin overrides under the same rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tinyslm.errors import BoardError
from tinyslm.resources import boards_dir

SCHEMA_NAME = "schema.json"

# One value of a PlatformIO option: a scalar or a list written one item per line.
PioValue = str | int | bool | tuple[str, ...]


@dataclass(frozen=True)
class Serial:
    baud: int
    max_line: int
    uart: str
    port: str
    tx_pin: str | None = None
    rx_pin: str | None = None
    alternate_function: int | None = None


@dataclass(frozen=True)
class Led:
    name: str
    pin: str


@dataclass(frozen=True)
class MicPin:
    """One microphone signal: the MCU pin (``GPIO26``, ``PE5``) and the microphone's pin.

    ``signal`` is the board file's key (``bclk``/``ws``/``din`` on I2S, ``sck``/``fs``/``sd``
    on SAI); ``af`` the STM32 alternate function (None on ESP32, whose GPIO matrix routes
    any pin); ``header`` where the pin is on the board (after an override, the board
    file's ``headers`` entry for the new pin, or None).
    """

    signal: str
    pin: str
    mic: str
    af: int | None = None
    header: str | None = None


@dataclass(frozen=True)
class Microphone:
    """An I2S MEMS microphone (INMP441 class) as the keyword firmware reads it.

    ``interface`` is ``i2s_std`` (ESP-IDF 5.x; ``port`` is ``I2S_NUM_<port>``, DMA as
    ``dma_descriptors`` buffers of ``dma_frames`` frames) or ``sai`` (STM32 HAL;
    ``peripheral`` e.g. ``SAI1_Block_A``, kernel clock from PLL3 ``pll_m/n/p``, DMA
    ``dma_stream`` circular over two halves of ``dma_half_samples`` words).
    """

    part: str
    interface: str
    sample_rate: int
    slot_bits: int
    data_bits: int
    sample_shift: int
    channel: str
    pins: tuple[MicPin, ...]
    vdd: str | None = None
    gnd: str | None = None
    port: int | None = None
    dma_descriptors: int | None = None
    dma_frames: int | None = None
    peripheral: str | None = None
    pll_m: int | None = None
    pll_n: int | None = None
    pll_p: int | None = None
    dma_stream: str | None = None
    dma_half_samples: int | None = None

    def pin(self, signal: str) -> MicPin:
        """The pin of ``signal`` (a board-file key).

        Raises:
            KeyError: the interface has no such signal.
        """
        for p in self.pins:
            if p.signal == signal:
                return p
        raise KeyError(signal)


@dataclass(frozen=True)
class PlatformIOEnv:
    """``[env:<env>]`` of platformio.ini; ``options`` keep the board file's order."""

    env: str
    options: tuple[tuple[str, PioValue], ...]

    def get(self, key: str) -> PioValue | None:
        return dict(self.options).get(key)


@dataclass(frozen=True)
class TflmSource:
    """Where the firmware's TFLM comes from.

    ``idf_component``: an ESP-IDF managed component (``component`` at ``version``,
    needing ESP-IDF ``idf``). ``lib_tree``: a source tree generated from
    ``repository`` at ``commit`` for ``target``, copied into ``lib/tflm``.
    """

    source: str
    component: str | None = None
    version: str | None = None
    idf: str | None = None
    repository: str | None = None
    commit: str | None = None
    target: str | None = None
    target_arch: str | None = None
    optimized_kernels: str | None = None

    @property
    def needs_tree(self) -> bool:
        """The firmware builds TFLM from a source tree in ``lib/tflm`` (``lib_tree``)."""
        return self.source == "lib_tree"


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    vendor: str
    soc: str
    family: str
    description: str
    flash_kb: int
    ram_kb: int
    cpu: str
    cpu_mhz: int
    model_flash_kb: int
    arena_ram_kb: int
    serial: Serial
    platformio: PlatformIOEnv
    tflm: TflmSource
    led: Led | None = None
    microphone: Microphone | None = None
    module: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # (pin, where it is on the board's headers)

    def header_of(self, pin: str) -> str | None:
        """Where ``pin`` is on the board's headers, or None where the file does not say."""
        return dict(self.headers).get(pin)

    @property
    def model_budget_bytes(self) -> int:
        return self.model_flash_kb * 1024

    @property
    def arena_budget_bytes(self) -> int:
        return self.arena_ram_kb * 1024


@cache
def _schema(folder: Path) -> dict[str, Any]:
    path = folder / SCHEMA_NAME
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BoardError(f"board schema {path} is unreadable: {exc}") from exc
    return schema


@cache
def _validator_class() -> Any:
    """Draft 2020-12 with ``pattern`` matched against the whole string.

    jsonschema applies ``pattern`` with Python's ``re.search``, where ``$`` also matches
    before a final newline: an ``id`` of ``"esp32\\n"`` or a version ending in a newline
    passed the schema's ``^...$`` and went on into paths and platformio.ini. The schema
    keeps ECMA-262 anchors (what editors read); only the matching is tightened.
    """
    import jsonschema

    def pattern(validator: Any, regex: str, instance: object, _schema: object) -> Any:
        if validator.is_type(instance, "string") and not re.fullmatch(regex, str(instance)):
            yield jsonschema.ValidationError(f"{instance!r} does not match {regex!r}")

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})


def validate_board_data(data: object, schema: dict[str, Any], source: str) -> None:
    """Check one board document against the schema and the cross-field rules.

    Raises:
        BoardError: naming the file, the offending key path and what is wrong.
    """
    validator = _validator_class()(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        import jsonschema

        err = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise BoardError(f"{source}: {where}: {err.message}")
    assert isinstance(data, dict)
    caps, budgets = data["capabilities"], data["budgets"]
    if budgets["model_flash_kb"] > caps["flash_kb"]:
        raise BoardError(
            f"{source}: budgets/model_flash_kb {budgets['model_flash_kb']} exceeds "
            f"capabilities/flash_kb {caps['flash_kb']}"
        )
    if budgets["arena_ram_kb"] > caps["ram_kb"]:
        raise BoardError(
            f"{source}: budgets/arena_ram_kb {budgets['arena_ram_kb']} exceeds "
            f"capabilities/ram_kb {caps['ram_kb']}"
        )
    speed = data["platformio"]["options"]["monitor_speed"]
    if speed != data["serial"]["baud"]:
        raise BoardError(
            f"{source}: platformio/options/monitor_speed {speed} differs from "
            f"serial/baud {data['serial']['baud']}"
        )
    _check_header_pins(data, source)
    serial = data["serial"]
    if data["family"] == "stm32" and not all(
        k in serial for k in ("tx_pin", "rx_pin", "alternate_function")
    ):
        raise BoardError(
            f"{source}: serial: stm32 boards need tx_pin, rx_pin and alternate_function"
        )
    if "microphone" in data:
        led = data.get("led")
        check_microphone(
            _microphone(data["microphone"]),
            data["family"],
            data["soc"],
            Serial(**serial),
            Led(**led) if led else None,
            source,
            module=data.get("module"),
        )
        # One place per pin: a microphone pin's header must be the one ``headers`` gives.
        headers = data.get("headers", {})
        for signal, spec in data["microphone"]["pins"].items():
            where = headers.get(spec["pin"])
            if where is not None and spec.get("header") not in (None, where):
                raise BoardError(
                    f"{source}: microphone/pins/{signal}: header {spec['header']!r} differs "
                    f"from headers/{spec['pin']} {where!r}"
                )


def _pio_value(value: object) -> PioValue:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if isinstance(value, bool | int | str):
        return value
    raise BoardError(f"unsupported PlatformIO option value {value!r}")  # schema prevents this


# The microphone's interface per family: the glue in templates/<family>/ drives one.
MIC_INTERFACES = {"esp32": "i2s_std", "stm32": "sai"}
_ESP32_GPIO = re.compile(r"^GPIO([0-9]{1,2})$")
# ESP32 GPIOs that exist (ESP32 datasheet, pin list): 0-19, 21-23, 25-27, 32-39.
_ESP32_PINS = frozenset([*range(0, 20), 21, 22, 23, 25, 26, 27, *range(32, 40)])
# GPIO6-11 are the module's SPI flash, 1 and 3 UART0 (the serial line), 0, 2, 5, 12 and
# 15 strapping pins sampled at reset (a microphone driving them can stop the boot).
_ESP32_RESERVED = {
    **dict.fromkeys(range(6, 12), "wired to the module's SPI flash"),
    1: "UART0 TX (the serial line)",
    3: "UART0 RX (the serial line)",
    **dict.fromkeys((0, 2, 5, 12, 15), "a strapping pin"),
}
# The I2S master drives these: GPIO34-39 are input only.
_ESP32_OUTPUTS = ("bclk", "ws")
# The GPIOs a module brings out to its pads (the board file's ``module``); the chip's
# other GPIOs are not reachable on the board. ESP32-WROOM-32 datasheet (Espressif,
# section 2.2 "Pin Description", pads 1-38): IO0-IO5 (IO1/IO3 as TXD0/RXD0), IO12-IO19,
# IO21-IO23, IO25-IO27, IO32-IO35, SENSOR_VP (GPIO36), SENSOR_VN (GPIO39), and the flash
# pads CLK/SD0/SD1/SD2/SD3/CMD (GPIO6-11). GPIO37/GPIO38 (SENSOR_CAPP/CAPN) are the
# chip's but no pad of the module's.
_ESP32_MODULES = {
    "ESP32-WROOM-32": frozenset([*range(0, 20), 21, 22, 23, 25, 26, 27, *range(32, 37), 39]),
}
_STM32_PIN = re.compile(r"^P([A-K])([0-9]{1,2})$")
# PA13/PA14 are SWDIO/SWCLK on every STM32: the ST-LINK uploads and debugs through them.
_STM32_RESERVED = {
    "PA13": "SWDIO (the ST-LINK's upload and debug)",
    "PA14": "SWCLK (the ST-LINK's upload and debug)",
}
# The pins each SoC's package brings out (datasheet pinout); the HAL's headers define
# GPIOH-GPIOK for every package, so a pin the package lacks compiles and never toggles.
# STM32H743ZI is LQFP144: ports A-G whole, and of port H only PH0/PH1 (OSC_IN/OSC_OUT).
_STM32_PACKAGES = {
    "STM32H743ZI": (
        "LQFP144",
        frozenset([f"P{port}{n}" for port in "ABCDEFG" for n in range(16)] + ["PH0", "PH1"]),
    ),
}
# The pins and alternate functions that carry each SAI block's SCK, FS and SD (the
# microphone's signals; the glue leaves MCLK off), per SoC and package: any other pin
# or AF leaves the microphone unconnected and the SAI reads silence. STM32H743ZI
# (LQFP144): the SAI<n>_{SCK,FS,SD}_{A,B} entries of Zephyr's hal_stm32,
# dts/st/h7/stm32h743zitx-pinctrl.dtsi (generated by genpinctrl.py from ST's
# STM32_open_pin_data), e.g. ``sai1_sd_a_pe6: STM32_PINMUX('E', 6, AF6)``.
_STM32_SAI_PINS: dict[str, dict[tuple[str, str], dict[str, int]]] = {
    "STM32H743ZI": {
        ("SAI1_Block_A", "sck"): {"PE5": 6},
        ("SAI1_Block_A", "fs"): {"PE4": 6},
        ("SAI1_Block_A", "sd"): {"PB2": 6, "PC1": 6, "PD6": 6, "PE6": 6},
        ("SAI1_Block_B", "sck"): {"PF8": 6},
        ("SAI1_Block_B", "fs"): {"PF9": 6},
        ("SAI1_Block_B", "sd"): {"PE3": 6, "PF6": 6},
        ("SAI2_Block_A", "sck"): {"PD13": 10},
        ("SAI2_Block_A", "fs"): {"PD12": 10},
        ("SAI2_Block_A", "sd"): {"PD11": 10},
        ("SAI2_Block_B", "sck"): {"PA2": 8, "PE12": 10},
        ("SAI2_Block_B", "fs"): {"PA12": 8, "PC0": 8, "PE13": 10, "PG9": 10},
        ("SAI2_Block_B", "sd"): {"PA0": 10, "PE11": 10, "PF11": 10, "PG10": 10},
        ("SAI3_Block_A", "sck"): {"PD0": 6},
        ("SAI3_Block_A", "fs"): {"PD4": 6},
        ("SAI3_Block_A", "sd"): {"PD1": 6},
        ("SAI3_Block_B", "sck"): {"PD8": 6},
        ("SAI3_Block_B", "fs"): {"PD10": 6},
        ("SAI3_Block_B", "sd"): {"PD9": 6},
        ("SAI4_Block_A", "sck"): {"PE5": 8},
        ("SAI4_Block_A", "fs"): {"PE4": 8},
        ("SAI4_Block_A", "sd"): {"PB2": 8, "PC1": 8, "PD6": 8, "PE6": 8},
        ("SAI4_Block_B", "sck"): {"PF8": 8},
        ("SAI4_Block_B", "fs"): {"PF9": 8},
        ("SAI4_Block_B", "sd"): {"PE3": 8, "PF6": 8},
    },
}


def _microphone(raw: dict[str, Any]) -> Microphone:
    pins = tuple(
        MicPin(
            signal=name,
            pin=str(spec["pin"]),
            mic=str(spec["mic"]),
            af=spec.get("af"),
            header=spec.get("header"),
        )
        for name, spec in raw["pins"].items()
    )
    power = raw.get("power") or {}
    dma = raw["dma"]
    clock = raw.get("clock") or {}
    return Microphone(
        part=raw["part"],
        interface=raw["interface"],
        sample_rate=raw["sample_rate"],
        slot_bits=raw["slot_bits"],
        data_bits=raw["data_bits"],
        sample_shift=raw["sample_shift"],
        channel=raw["channel"],
        pins=pins,
        vdd=power.get("vdd"),
        gnd=power.get("gnd"),
        port=raw.get("port"),
        dma_descriptors=dma.get("descriptors"),
        dma_frames=dma.get("frames"),
        peripheral=raw.get("peripheral"),
        pll_m=clock.get("pll_m"),
        pll_n=clock.get("pll_n"),
        pll_p=clock.get("pll_p"),
        dma_stream=dma.get("stream"),
        dma_half_samples=dma.get("half_samples"),
    )


def canonical_pin(family: str, pin: str) -> str:
    """``pin`` without leading zeros in its number (``GPIO04`` -> ``GPIO4``, ``PE05`` ->
    ``PE5``); anything else unchanged, for the checks to refuse.

    The pin is pasted into C (``GPIO_NUM_04`` does not compile) and compared with the
    pins already taken by name, so ``PE05`` beside ``PE5`` would wire two signals to one
    pin.
    """
    m = (_ESP32_GPIO if family == "esp32" else _STM32_PIN).fullmatch(pin)
    if not m or m.lastindex is None:
        return pin
    number = m.lastindex  # the last group of both patterns is the pin's number
    return pin[: m.start(number)] + str(int(m.group(number)))


def _check_pin_exists(
    family: str, soc: str, pin: str, where: str, module: str | None = None
) -> int | None:
    """``pin`` is a pin of the SoC's package, or a pad of the board's ``module`` (where
    known); its number on ESP32 (None on STM32).

    Raises:
        BoardError: ``where`` and what is wrong.
    """
    if family == "esp32":
        m = _ESP32_GPIO.fullmatch(pin)
        num = int(m.group(1)) if m else -1
        if num not in _ESP32_PINS:
            raise BoardError(f"{where}: {pin!r} is not an ESP32 GPIO")
        if module in _ESP32_MODULES and num not in _ESP32_MODULES[module]:
            raise BoardError(f"{where}: {pin} is not brought out by the {module} module")
        return num
    m = _STM32_PIN.fullmatch(pin)
    if not m or int(m.group(2)) > 15:
        raise BoardError(f"{where}: {pin!r} is not an STM32 pin (PA0-PK15)")
    package = _STM32_PACKAGES.get(soc)
    if package is not None and pin not in package[1]:
        raise BoardError(f"{where}: {pin} is not a pin of the {soc}'s {package[0]} package")
    return None


def _check_header_pins(data: dict[str, Any], source: str) -> None:
    """Each ``headers`` key is a pin the board has, written as the microphone pins are
    (``PE6``, ``GPIO4``): a place for a pin that is not there would name a connector pin
    nothing is wired to, and ``PE06`` would never match a pin looked up as ``PE6``."""
    for pin in data.get("headers", {}):
        where = f"{source}: headers/{pin}"
        if canonical_pin(data["family"], pin) != pin:
            raise BoardError(f"{where}: write {canonical_pin(data['family'], pin)}")
        _check_pin_exists(data["family"], data["soc"], pin, where, data.get("module"))


def _check_pin(family: str, soc: str, pin: MicPin, where: str, module: str | None = None) -> None:
    # A board file's pins have no leading zeros (the schema's patterns); --mic-pin's are
    # made canonical before they get here.
    num = _check_pin_exists(family, soc, pin.pin, where, module)
    if num is not None:  # ESP32
        if num in _ESP32_RESERVED:
            raise BoardError(f"{where}: {pin.pin} is {_ESP32_RESERVED[num]}")
        if pin.signal in _ESP32_OUTPUTS and num >= 34:
            raise BoardError(f"{where}: {pin.pin} is input only; {pin.signal} is an output")
        return
    if pin.pin in _STM32_RESERVED:
        raise BoardError(f"{where}: {pin.pin} is {_STM32_RESERVED[pin.pin]}")
    if pin.af is None:
        raise BoardError(f"{where}: {pin.pin} needs its alternate function")


def _check_sai_function(soc: str, peripheral: str | None, pin: MicPin, where: str) -> None:
    """``pin`` at its AF carries ``peripheral``'s signal (where the SoC's table is known)."""
    table = _STM32_SAI_PINS.get(soc)
    if table is None or peripheral is None or (peripheral, pin.signal) not in table:
        return
    right = table[(peripheral, pin.signal)]
    if right.get(pin.pin) != pin.af:
        sai, _, block = peripheral.partition("_Block_")
        function = f"{sai}_{pin.signal.upper()}_{block}"  # ST's name: SAI1_SD_A
        options = ", ".join(f"{p} AF{af}" for p, af in right.items())
        raise BoardError(
            f"{where}: {pin.pin} AF{pin.af} is not {function} on the {soc}; "
            f"{function} is on {options}"
        )


def check_microphone(
    mic: Microphone,
    family: str,
    soc: str,
    serial: Serial,
    led: Led | None,
    source: str,
    module: str | None = None,
) -> None:
    """The rules for a microphone a schema cannot state.

    The interface fits the family's glue; every pin exists (on the SoC's package or the
    board's ``module``, where known), is not reserved, is usable for its signal (on
    STM32, at an alternate function that carries the SAI block's signal, where the
    SoC's table is known) and is used once (not by another microphone signal, the
    serial line or the LED);
    each half of the SAI DMA buffer is whole 32-byte cache lines. (An ESP32 DMA buffer's
    4092-byte limit is the schema's: at most 1023 frames of one 32-bit slot.)

    Raises:
        BoardError: ``source`` and what is wrong.
    """
    want = MIC_INTERFACES.get(family)
    if mic.interface != want:
        raise BoardError(
            f"{source}: microphone/interface {mic.interface!r} does not fit family {family!r} "
            f"(its glue drives {want!r})"
        )
    taken = {p: f"serial/{k}" for k, p in (("tx_pin", serial.tx_pin), ("rx_pin", serial.rx_pin))}
    if led is not None:
        taken[led.pin] = "led"
    for pin in mic.pins:
        where = f"{source}: microphone/pins/{pin.signal}"
        _check_pin(family, soc, pin, where, module)
        if pin.pin in taken:
            raise BoardError(f"{where}: {pin.pin} is already used by {taken[pin.pin]}")
        taken[pin.pin] = f"microphone/pins/{pin.signal}"
        if family == "stm32":
            _check_sai_function(soc, mic.peripheral, pin, where)
    if mic.dma_half_samples is not None and (mic.dma_half_samples * mic.slot_bits // 8) % 32:
        raise BoardError(
            f"{source}: microphone/dma/half_samples {mic.dma_half_samples}: each half must "
            "be whole 32-byte cache lines (a multiple of 8 words)"
        )


def with_mic_pins(board: Board, overrides: Iterable[str]) -> Board:
    """``board`` with microphone pins replaced, for ``generate --mic-pin NAME=PIN``.

    NAME is a signal of the board file (``bclk``, ``ws``, ``din``; ``sck``, ``fs``,
    ``sd``) or the microphone's pin name (``SCK``, ``WS``, ``SD``), in any case.
    PIN is ``GPIO14`` on ESP32, ``PD6`` or ``PD6:AF6`` on STM32 (without ``:AFn``
    the signal keeps the board file's alternate function). The result passes the
    same checks as a board file.

    Raises:
        BoardError: the board has no microphone, a malformed or unknown override,
            one signal given twice, or a pin the checks refuse.
    """
    mic = board.microphone
    if mic is None:
        raise BoardError(f"board {board.id} has no microphone section to override")
    names: dict[str, str] = {}
    for p in mic.pins:
        names[p.signal.lower()] = p.signal
        names.setdefault(p.mic.lower(), p.signal)
    new: dict[str, MicPin] = {}
    for item in overrides:
        name, sep, value = item.partition("=")
        name, value = name.strip().lower(), value.strip().upper()
        if not sep or not name or not value:
            raise BoardError(f"--mic-pin {item!r}: expected NAME=PIN, e.g. ws=GPIO32")
        if name not in names:
            known = ", ".join(p.signal for p in mic.pins)
            raise BoardError(
                f"--mic-pin {item!r}: board {board.id} has no microphone pin "
                f"{name!r} (signals: {known})"
            )
        signal = names[name]
        if signal in new:
            raise BoardError(f"--mic-pin: {signal} is given twice")
        old = mic.pin(signal)
        pin, _, af_text = value.partition(":")
        # The pin reaches the generated C and README: "PD6\n" passed a $-anchored check.
        pin, af_text = canonical_pin(board.family, pin.strip()), af_text.strip()
        af = old.af
        if af_text:
            if board.family != "stm32":
                raise BoardError(f"--mic-pin {item!r}: ':AFn' is for STM32 pins only")
            m = re.fullmatch(r"AF([0-9]{1,2})", af_text)
            if not m or int(m.group(1)) > 15:
                raise BoardError(f"--mic-pin {item!r}: the alternate function is AF0-AF15")
            af = int(m.group(1))
        # The wiring table follows the move: the pin's place on the headers, where the
        # board file maps it ("-" before, so the user had to look it up).
        new[signal] = replace(old, pin=pin, af=af, header=board.header_of(pin))
    pins = tuple(new.get(p.signal, p) for p in mic.pins)
    result = replace(board, microphone=replace(mic, pins=pins))
    assert result.microphone is not None
    check_microphone(
        result.microphone,
        board.family,
        board.soc,
        board.serial,
        board.led,
        "--mic-pin",
        module=board.module,
    )
    return result


def mic_pin_options(board: Board) -> str:
    """The ``--mic-pin`` options that make ``board`` from its board file (the inverse of
    :func:`with_mic_pins`), e.g. `` --mic-pin sd=PD6:AF6``; empty without overrides.

    A regenerate command without them moved the microphone back to the board file's pins.
    """
    stock = load_board(board.id).microphone
    if board.microphone is None or stock is None:
        return ""
    said = ""
    for p in board.microphone.pins:
        old = stock.pin(p.signal)
        if (p.pin, p.af) != (old.pin, old.af):
            said += f" --mic-pin {p.signal}={p.pin}" + ("" if p.af is None else f":AF{p.af}")
    return said


def board_from_data(data: dict[str, Any]) -> Board:
    """Build a ``Board`` from an already validated document."""
    caps, budgets, pio = data["capabilities"], data["budgets"], data["platformio"]
    led = data.get("led")
    mic = data.get("microphone")
    return Board(
        id=data["id"],
        name=data["name"],
        vendor=data["vendor"],
        soc=data["soc"],
        family=data["family"],
        description=" ".join(str(data.get("description", "")).split()),
        flash_kb=caps["flash_kb"],
        ram_kb=caps["ram_kb"],
        cpu=caps["cpu"],
        cpu_mhz=caps["cpu_mhz"],
        model_flash_kb=budgets["model_flash_kb"],
        arena_ram_kb=budgets["arena_ram_kb"],
        serial=Serial(**data["serial"]),
        platformio=PlatformIOEnv(
            env=pio["env"],
            options=tuple((k, _pio_value(v)) for k, v in pio["options"].items()),
        ),
        tflm=TflmSource(**data["tflm"]),
        led=Led(**led) if led else None,
        microphone=_microphone(mic) if mic else None,
        module=data.get("module"),
        headers=tuple(sorted(data.get("headers", {}).items())),
    )


def load_board_file(path: Path, schema: dict[str, Any] | None = None) -> Board:
    """Load and check one board file.

    Raises:
        BoardError: unreadable YAML, a schema violation, a budget above the
            board's capabilities, or an id that differs from the file name.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BoardError(f"board file {path.name} is unreadable: {exc}") from exc
    validate_board_data(data, schema if schema is not None else _schema(path.parent), path.name)
    assert isinstance(data, dict)
    if data["id"] != path.stem:
        raise BoardError(f"{path.name}: id {data['id']!r} differs from the file name")
    return board_from_data(data)


def board_ids(folder: Path | None = None) -> tuple[str, ...]:
    """Ids of the bundled boards, sorted."""
    return tuple(sorted(p.stem for p in (folder or boards_dir()).glob("*.yaml")))


def load_board(board_id: str, folder: Path | None = None) -> Board:
    """Load the board ``board_id`` from ``boards/``.

    Raises:
        BoardError: an unknown id (the message lists the known ones) or a bad file.
    """
    folder = folder or boards_dir()
    known = board_ids(folder)
    if board_id not in known:
        raise BoardError(f"unknown board {board_id!r}; known boards: {', '.join(known)}")
    return load_board_file(folder / f"{board_id}.yaml")


def load_boards(folder: Path | None = None) -> tuple[Board, ...]:
    """All bundled boards, sorted by id."""
    folder = folder or boards_dir()
    return tuple(load_board_file(folder / f"{bid}.yaml") for bid in board_ids(folder))


def format_board_table(boards: tuple[Board, ...]) -> str:
    """The table ``tinyslm boards`` prints: one row per board."""
    head = ("id", "name", "family", "flash", "RAM", "model budget", "arena budget")
    rows = [head] + [
        (
            b.id,
            b.name,
            b.family,
            f"{b.flash_kb} KB",
            f"{b.ram_kb} KB",
            f"{b.model_flash_kb} KB",
            f"{b.arena_ram_kb} KB",
        )
        for b in boards
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
