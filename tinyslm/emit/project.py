"""Compute every value a generated project needs and render its files.

``render_project`` is pure: board + manifest + model bytes (+ the bundled
templates and firmware sources) in, file contents out. Same inputs, same bytes:
no timestamps, no absolute paths, sorted lists, dicts dumped with sorted keys.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyslm import __version__
from tinyslm.boards import Board, mic_pin_options
from tinyslm.emit.actions import render_starters, starter_paths
from tinyslm.emit.carrays import c_array_body, c_float, c_string
from tinyslm.emit.ops import op_entries, resolver_includes, template_ops
from tinyslm.emit.render import banner, banner_lines, render, template_outputs
from tinyslm.errors import BoardError, BudgetError, ModelError
from tinyslm.manifest import Manifest, align_arena, sha256_hex, threshold_milli, threshold_text
from tinyslm.modality import AUDIO, modality
from tinyslm.operating_point import demo_regenerate_note, generate_options
from tinyslm.outdir import finite
from tinyslm.resources import firmware_files
from tinyslm.toolchain.tflm import fetch_command

# The manifest's arena_bytes is the smallest arena that allocated on TFLM's Python
# runtime on x86-64. On the 32-bit targets TFLM's own bookkeeping is smaller
# (pointers are 4 bytes), but the optimized kernels (CMSIS-NN, ESP-NN) ask for
# scratch buffers the reference kernels do not, and allocation padding differs.
# A quarter more, at least 1 KiB, covers that; the result is rounded up to
# manifest.ARENA_ALIGN (the arena's alignas and TFLM's tail allocations).
ARENA_MARGIN_DIVISOR = 4
ARENA_MARGIN_MIN = 1024

# The board glue calls into the TFLM adapter; a project without it cannot build. (Each
# modality's own entry points are checked by compiling its projects in tests/host.)
REQUIRED_FIRMWARE = ("tinyslm_tflm.cc", "tinyslm_tflm.h")
PROJECT_JSON = "tinyslm.json"

_PIN = re.compile(r"^P([A-K])([0-9]{1,2})$")
_UART = re.compile(r"^(UART|USART|LPUART)([0-9])$")
_SERIES = re.compile(r"^STM32([A-Z][0-9])")
ESP32_MAIN_STACK = 8192


@dataclass(frozen=True)
class GeneratedFile:
    path: str  # POSIX, relative to the project root
    data: bytes


@dataclass(frozen=True)
class ProjectPlan:
    """A rendered project, not yet written.

    Attributes:
        board: the board it targets.
        files: every file tinyslm owns, sorted by path.
        starters: the user's files (``src/tinyslm_actions.c``), written only where
            missing and never replaced (:mod:`tinyslm.emit.actions`).
        model_bytes: size of the model array.
        arena_size: TINYSLM_ARENA_SIZE compiled into the firmware.
    """

    board: Board
    files: tuple[GeneratedFile, ...]
    model_bytes: int
    arena_size: int
    starters: tuple[GeneratedFile, ...] = ()

    def as_mapping(self) -> dict[str, bytes]:
        return {f.path: f.data for f in self.files}

    def starter_mapping(self) -> dict[str, bytes]:
        return {f.path: f.data for f in self.starters}

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files)


def arena_size_for(measured: int) -> int:
    """TINYSLM_ARENA_SIZE for an arena measured on x86-64 (see ARENA_MARGIN_*).

    Raises:
        ModelError: ``measured`` is not positive.
    """
    if measured <= 0:
        raise ModelError(f"manifest arena_bytes must be positive, got {measured}")
    size = measured + max(measured // ARENA_MARGIN_DIVISOR, ARENA_MARGIN_MIN)
    return align_arena(size)


def check_budget(
    board: Board, model_bytes: int, arena_size: int, extra_ram: tuple[int, str] = (0, "")
) -> None:
    """Compare the model and the arena (plus the modality's other RAM) with the board's budgets.

    ``extra_ram`` is what else the modality's firmware keeps in RAM and what it is
    (``ram_bytes``: the app's state and buffers, the TFLM glue, the serial receive
    buffers and the ESP32's UART driver heap, a keyword project's microphone buffers),
    counted with the arena.

    Raises:
        BudgetError: one line with both numbers for whatever does not fit.
    """
    problems = []
    if model_bytes > board.model_budget_bytes:
        problems.append(
            f"model {model_bytes} bytes > flash budget {board.model_budget_bytes} bytes "
            f"(model_flash_kb {board.model_flash_kb})"
        )
    extra, what = extra_ram
    if arena_size + extra > board.arena_budget_bytes:
        used = (
            f"arena {arena_size} bytes + {what} = {arena_size + extra}"
            if extra
            else f"arena {arena_size}"
        )
        problems.append(
            f"{used} bytes > RAM budget {board.arena_budget_bytes} bytes "
            f"(arena_ram_kb {board.arena_ram_kb})"
        )
    if problems:
        raise BudgetError(f"does not fit board {board.id}: " + "; ".join(problems))


def _pin(pin: str) -> dict[str, str]:
    m = _PIN.fullmatch(pin)
    if not m:
        raise BoardError(f"pin {pin!r} is not of the form PD8")
    port, num = m.groups()
    if int(num) > 15:
        raise BoardError(f"pin {pin!r}: an STM32 port has pins 0-15")
    return {
        "name": pin,
        "port": f"GPIO{port}",
        "pin": f"GPIO_PIN_{int(num)}",
        "clk_enable": f"__HAL_RCC_GPIO{port}_CLK_ENABLE",
    }


def _glue(board: Board) -> dict[str, Any]:
    """Vendor-SDK names the family's main.cc needs, derived from the board file."""
    m = _UART.fullmatch(board.serial.uart)
    if not m:
        raise BoardError(f"board {board.id}: serial/uart {board.serial.uart!r} is not a UART name")
    kind, num = m.groups()
    if board.family == "esp32":
        if kind != "UART" or num != "0":
            # The glue sets no pins (no uart_set_pin): only UART0 reaches its pads, through
            # the IOMUX defaults the ROM sets, and it is the console sdkconfig assumes.
            raise BoardError(
                f"board {board.id}: ESP32 serial/uart must be UART0 (the console UART;"
                f" the glue sets no pins), not {board.serial.uart}"
            )
        return {
            "uart_num": f"UART_NUM_{num}",
            # TFLM's interpreter set-up and Invoke run on the main task.
            "main_stack": ESP32_MAIN_STACK,
            "flash_mb": board.flash_kb // 1024,
        }
    assert board.serial.tx_pin and board.serial.rx_pin  # validated in boards.py
    series = _SERIES.match(board.soc)
    if not series or series.group(1) != "H7":
        # The glue (clock tree, USART FIFO flags, DWT unlock) is written for the H7.
        raise BoardError(
            f"board {board.id}: templates/stm32 supports STM32H7 parts only, not {board.soc!r}"
        )
    uart = board.serial.uart
    glue: dict[str, Any] = {
        "series": series.group(1).lower(),
        "hal_header": f"stm32{series.group(1).lower()}xx_hal.h",
        "uart": uart,
        "uart_irqn": f"{uart}_IRQn",
        "uart_irq_handler": f"{uart}_IRQHandler",
        "uart_clk_enable": f"__HAL_RCC_{uart}_CLK_ENABLE",
        "uart_af": f"GPIO_AF{board.serial.alternate_function}_{uart}",
        "tx": _pin(board.serial.tx_pin),
        "rx": _pin(board.serial.rx_pin),
        "led": None,
        "led_text": "no LED",
    }
    if board.led is not None:
        glue["led"] = dict(_pin(board.led.pin), label=board.led.name)
        glue["led_text"] = f"{board.led.name} ({board.led.pin})"
    return glue


def _pio_options(board: Board) -> list[dict[str, Any]]:
    """platformio.ini lines: a scalar ``value`` or a list of ``items``."""
    out = []
    for key, value in board.platformio.options:
        if isinstance(value, tuple):
            out.append({"key": key, "value": None, "values": list(value)})
        elif isinstance(value, bool):
            out.append({"key": key, "value": "yes" if value else "no", "values": []})
        else:
            out.append({"key": key, "value": str(value), "values": []})
    return out


def _firmware_sources(modality: str, root: Path | None) -> dict[str, bytes]:
    try:
        paths = firmware_files(modality, root)
    except (OSError, ValueError) as exc:
        raise ModelError(f"firmware sources: {exc}") from exc
    missing = [n for n in REQUIRED_FIRMWARE if n not in paths]
    if missing:
        where = f"{root.name}/" if root is not None else "firmware/"
        raise ModelError(f"firmware sources missing from {where}: {', '.join(missing)}")
    return {name: path.read_bytes() for name, path in paths.items()}


def _context(
    board: Board,
    manifest: Manifest,
    model: bytes,
    arena_size: int,
    sources: list[str],
    version: str,
) -> dict[str, Any]:
    ops = op_entries(manifest.ops)
    own = modality(manifest.modality).template_context(board, manifest)
    q = manifest.output_quant
    tflm = board.tflm
    return {
        "version": version,
        "model_sha256": manifest.model_sha256,
        "board": {
            "id": board.id,
            "name": board.name,
            "vendor": board.vendor,
            "soc": board.soc,
            "family": board.family,
            "cpu": board.cpu,
            "cpu_mhz": board.cpu_mhz,
            "description": board.description,
            "flash_kb": board.flash_kb,
            "ram_kb": board.ram_kb,
            "model_flash_kb": board.model_flash_kb,
            "arena_ram_kb": board.arena_ram_kb,
            "port": board.serial.port,
            "baud": board.serial.baud,
        },
        "glue": _glue(board),
        "pio_env": board.platformio.env,
        "pio_options": _pio_options(board),
        "tflm": {
            "source": tflm.source,
            "component": tflm.component,
            "version": tflm.version,
            "idf": tflm.idf,
            # JSON strings are valid YAML scalars, whatever characters a version has.
            "version_yaml": json.dumps(tflm.version),
            "idf_yaml": json.dumps(tflm.idf),
            "repository": tflm.repository,
            "commit": tflm.commit,
            "target": tflm.target,
            "target_arch": tflm.target_arch,
            "optimized_kernels": tflm.optimized_kernels,
        },
        "model_array": c_array_body(model),
        "model_len": len(model),
        **own,
        "settings": {
            **own.get("settings", {}),
            "num_labels": len(manifest.labels),
            "arena_size": arena_size,
            "threshold_q": manifest.threshold_q,
            "op_count": len(ops),
            "baud": board.serial.baud,
        },
        "info": {
            "labels": [c_string(label) for label in manifest.labels],
            "score_scale": c_float(q.scale),
            "score_zero_point": q.zero_point,
            "threshold_q": manifest.threshold_q,
            "threshold_milli": threshold_milli(manifest.threshold),
            "model_sha256": c_string(manifest.model_sha256),
            "model_bytes": len(model),
            "arena_bytes": arena_size,
            "ops": c_string(",".join(op.name for op in ops)),
            "board": c_string(board.id),
            "version": c_string(version),
            # Every label's level when any label has its own (generate --label-threshold).
            "label_thresholds_q": list(manifest.own_levels_q()),
            # ... and each one as recorded, for the text firmware's :info.
            "label_thresholds_milli": list(manifest.own_levels_milli()),
        },
        "ops": template_ops(ops),
        "op_includes": resolver_includes(ops),
        "readme": {
            # The command that makes this project again, with the options it was made
            # with (run outside it: generate does not replace the folder it runs in).
            "fetch": fetch_command(),
            "regenerate": f"tinyslm generate --model MODEL_DIR --board {board.id} "
            f"-o PROJECT_DIR --force{mic_pin_options(board)}{generate_options(manifest)}",
            "demo_note": demo_regenerate_note(manifest),
            "labels": [json.dumps(label, ensure_ascii=False) for label in manifest.labels],
            "threshold": threshold_text(manifest.threshold),
            # The protocol examples' scores: one the threshold answers locally (or a
            # keyword fires at), and one it escalates (a fixed 0.412 sat above some).
            "local_score": threshold_text(max(0.93, manifest.threshold)),
            **_escalation_example(manifest),
            "label_thresholds": [
                {
                    "label": json.dumps(t.label, ensure_ascii=False),
                    "threshold": threshold_text(t.threshold),
                    "threshold_q": t.threshold_q,
                }
                for t in manifest.label_thresholds
            ],
            # What verify measured on TFLM (the firmware's runtime), on the held-out split.
            "accuracy": _metric(manifest.metrics, "int8_accuracy"),
            "eval_split": str(manifest.metrics.get("eval_split", "test")),
        },
        "sources": sources,
    }


def _escalation_example(manifest: Manifest) -> dict[str, Any]:
    """The README's escalation example: ``escalate_score``, a score the board can print
    on an ``escalate`` line, or ``None`` (with what to say instead) where it never
    escalates.

    The board escalates when the top intent's int8 score is below its gate level
    (tinyslm_gate.c). That score is a softmax's top one over K intents: never below 1/K,
    the level of a K-way tie. Half of the threshold was shown before: 0.253 for a
    2-intent model, whose top score is at least 0.5, and 0.001 under a gate no score
    is below. The example is the level halfway between the tie's and the highest gate's.
    """
    from tinyslm.decision import score_milli

    q = manifest.output_quant
    k = len(manifest.labels)
    # The int8 level of 1/K, rounded as the quantizer rounds: a K-way tie's score.
    tie_q = q.zero_point + math.floor(1.0 / (k * q.scale) + 0.5)
    # Each label's own level where it has one (the gate never looks at the global one
    # for such a label): all own levels under the tie's escalate nothing, whatever the
    # global threshold says.
    gate_q = max(manifest.thresholds_q())
    own = {t.label: t.threshold for t in manifest.label_thresholds}
    highest = max(own.get(label, manifest.threshold) for label in manifest.labels)

    def shown(level: int) -> str:
        return f"{score_milli(level, q.scale, q.zero_point) / 1000.0:.3f}"

    return {
        "escalate_score": shown((tie_q + gate_q - 1) // 2) if tie_q < gate_q else None,
        "num_labels": k,
        "tie_score": shown(tie_q),
        "highest_threshold": threshold_text(highest),
    }


def _metric(metrics: dict[str, Any], key: str) -> str | None:
    value = metrics.get(key)
    return f"{float(value):.3f}" if isinstance(value, int | float) else None


def _project_json(board: Board, manifest: Manifest, arena_size: int, version: str) -> bytes:
    """``tinyslm.json``: JSON has no comments, so the banner fields are keys."""
    generated_by, _, _ = banner_lines(version, manifest.model_sha256, board.id)
    doc = {
        "generated_by": generated_by,
        "tinyslm_version": version,
        "board": board.id,
        "model_sha256": manifest.model_sha256,
        "arena_size": arena_size,
        # A manifest from before figures were written as null may hold NaN, not JSON.
        "manifest": finite(manifest.to_dict()),
    }
    if board.microphone is not None and manifest.modality == AUDIO:
        # The pins the firmware reads the microphone on, so that 'generate --force'
        # without the --mic-pin options can say which wire it moves (pipeline.MIC_PINS_KEY).
        doc["microphone_pins"] = {
            p.signal: p.pin + ("" if p.af is None else f":AF{p.af}") for p in board.microphone.pins
        }
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def render_project(
    board: Board,
    manifest: Manifest,
    model: bytes,
    *,
    version: str = __version__,
    firmware: Path | None = None,
    templates: Path | None = None,
) -> ProjectPlan:
    """Render every file of the project for ``board`` (nothing is written).

    Raises:
        ModelError: the model does not match the manifest, an op TFLM cannot
            register, or firmware sources are missing.
        BudgetError: the model or the arena does not fit the board's budgets.
        BoardError: the board file names something the templates cannot use.
    """
    if sha256_hex(model) != manifest.model_sha256:
        raise ModelError("model bytes do not match the manifest's model_sha256")
    if not manifest.labels:
        raise ModelError("manifest lists no labels")
    arena_size = arena_size_for(manifest.arena_bytes)
    kind = modality(manifest.modality)
    other_ram = kind.ram_bytes(board, manifest)
    try:
        check_budget(board, len(model), arena_size, other_ram)
    except BudgetError as err:
        if manifest.modality == AUDIO:
            raise
        # A text model is sized for a budget when trained: one trained for another board
        # (or none) only needs training again for this one; the refusal alone named no way on.
        raise BudgetError(
            f"{err}; train it again for this board: tinyslm train DATA --board {board.id} "
            "sizes the model for these budgets"
        ) from None

    copied = _firmware_sources(manifest.modality, firmware)
    outputs = template_outputs(board.family, templates, manifest.modality)
    starter_names = starter_paths(manifest.modality, templates)
    src_names = {p.split("/", 1)[1] for p in [*outputs, *starter_names] if p.startswith("src/")}
    src_names |= set(copied)
    sources = sorted(n for n in src_names if n.endswith((".c", ".cc")))
    scripts = board.platformio.get("extra_scripts")
    for script in scripts if isinstance(scripts, tuple) else ():
        if script not in outputs:
            raise BoardError(
                f"board {board.id}: extra_scripts {script!r} is not generated by "
                f"templates/{board.family}/"
            )

    context = _context(board, manifest, model, arena_size, sources, version)
    # The README's arena row: what else the budget check counted in the arena's budget.
    context["other_ram_bytes"] = other_ram[0]
    sha = manifest.model_sha256
    files: dict[str, bytes] = {}
    for out_path, template in outputs.items():
        text = render(template, context, templates)
        files[out_path] = (banner(out_path, version, sha, board.id) + text).encode("utf-8")
    for name, data in copied.items():
        path = f"src/{name}"
        if path in files:
            raise ModelError(f"firmware/{name} collides with a generated file")
        files[path] = banner(path, version, sha, board.id).encode("utf-8") + data
    files[PROJECT_JSON] = _project_json(board, manifest, arena_size, version)
    # A starter at a generated path is refused where they are written (outdir.write_tree).
    starters = render_starters(manifest.modality, context, templates, version)
    return ProjectPlan(
        board=board,
        files=tuple(GeneratedFile(p, files[p]) for p in sorted(files)),
        model_bytes=len(model),
        arena_size=arena_size,
        starters=tuple(GeneratedFile(p, starters[p]) for p in sorted(starters)),
    )
