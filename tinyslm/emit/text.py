"""The text modality's template values (the tokenizer's settings, the line limit) and its RAM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyslm.boards import Board
from tinyslm.emit.actions import action_context
from tinyslm.manifest import Manifest
from tinyslm.text.dataset import is_oos


def line_limit(board: Board, max_line: int) -> int:
    """``TINYSLM_MAX_LINE`` of a text project: the board's usual limit, raised when the
    model's training phrases need more (``max_line``, the manifest's)."""
    return max(board.serial.max_line, max_line)


def template_context(board: Board, manifest: Manifest) -> dict[str, Any]:
    """``settings`` entries of ``templates/text/`` (merged into the common ones)."""
    spec = manifest.features
    return {
        "settings": {
            "buckets": spec.buckets,
            "seq_len": spec.seq_len,
            "unigrams": int(spec.unigrams),
            "bigrams": int(spec.bigrams),
            "char_trigrams": int(spec.char_trigrams),
            "hashes": spec.hashes,
            "max_line": line_limit(board, manifest.max_line),
        },
        # Out-of-scope is no action: the starter names the intents a device acts on.
        "actions": action_context([x for x in manifest.labels if not is_oos(x)]),
    }


# What the firmware keeps in RAM beside the arena, counted with it by the budget check
# (generate, info and the report's size plot). Sizes are of a 32-bit target: the
# Cortex-M7's, which tests/host/test_r50_budget_static.py compiles the C for and checks
# these against; the ESP32's Xtensa LX6 lays the same C structs out alike (4-byte
# pointers and size_t, natural alignment).

# sizeof(tinyslm_app_t) (firmware/text/tinyslm_core.h): pointers and counters; the
# line, ids and scores buffers it points to are the glue's and counted apart.
TEXT_APP_BYTES = 64
# tinyslm_tflm.cc's static storage beside g_arena: the MicroInterpreter and op resolver
# (placement new), the error and TFLM-log messages, a few pointers: 676 bytes for the
# text and keyword fixtures with either board's TFLM. The resolver grows with the ops,
# so this is an upper bound (the test holds it within 512 bytes of what they measure).
TFLM_GLUE_BYTES = 1024
# sizeof(uart_event_t) in ESP-IDF 5.3.1 (an enum, a size_t and a bool, padded): each
# event of the UART driver's queue, which uart_driver_install allocates on the heap.
UART_EVENT_BYTES = 12


@dataclass(frozen=True)
class SerialRam:
    """The serial receive buffers a board family's glue keeps (``main.cc.j2``).

    Attributes:
        static: the glue's own receive buffer in .bss (the STM32's interrupt ring,
            ``rx_ring[kRxRing]``; the ESP32's read chunk, ``rx_chunk[]``).
        driver_ring: ESP32: the UART driver's RX ring (``uart_driver_install``'s
            ``rx_buffer_size``, ``kRxRingBytes``), on the heap; 0 elsewhere.
        driver_events: ESP32: its event queue's length (``queue_size``), 0 for none.
    """

    static: int
    driver_ring: int = 0
    driver_events: int = 0

    def parts(self) -> list[tuple[str, int]]:
        """``(what, bytes)`` of each buffer, named as the budget line names them (an
        ESP32's: the one with a driver ring)."""
        if not self.driver_ring:
            return [("serial RX ring", self.static)]
        parts = [("serial read chunk", self.static), ("UART driver RX ring", self.driver_ring)]
        if self.driver_events:
            parts.append(
                (
                    f"UART driver events ({self.driver_events} x {UART_EVENT_BYTES})",
                    self.driver_events * UART_EVENT_BYTES,
                )
            )
        return parts


# The values templates/<family>-text/src/main.cc.j2 declares (kRxRing; rx_chunk,
# kRxRingBytes and kEventQueueLen = kRxRingBytes / 2, passed to uart_driver_install);
# tests/host/test_r50_budget_static.py reads them back from a rendered project.
TEXT_SERIAL = {
    "esp32": SerialRam(static=64, driver_ring=2048, driver_events=1024),
    "stm32": SerialRam(static=1024),
}


def describe_ram(parts: list[tuple[str, int]]) -> tuple[int, str]:
    """The total of ``parts`` and the budget line's words for them: ``what N + what N``."""
    return sum(n for _, n in parts), " + ".join(f"{what} {n}" for what, n in parts)


def ram_bytes(board: Board, manifest: Manifest) -> tuple[int, str]:
    """RAM besides the arena that the budget check counts for a text project.

    Counted: the glue's line buffer (``TINYSLM_MAX_LINE`` bytes), token ids
    (``TINYSLM_SEQ_LEN`` int32) and scores (one int8 per label), the app's state, the
    TFLM glue's interpreter and op resolver, and the serial receive buffers: on the
    STM32 the interrupt's ring, on the ESP32 the read chunk and the UART driver's heap
    (its 2 KiB RX ring and 1024 events of 12 bytes, 14 KiB). Left to what the board
    keeps beside ``arena_ram_kb`` (its ``ram_kb`` less the arena budget): the SDK's own
    RAM (HAL handles, ESP-IDF and FreeRTOS, the UART driver's bookkeeping), the stacks,
    the heap's overhead and the glue's few scalars.
    """
    return firmware_ram(board, manifest.features.seq_len, len(manifest.labels), manifest.max_line)


def firmware_ram(board: Board, seq_len: int, num_labels: int, max_line: int) -> tuple[int, str]:
    """:func:`ram_bytes` from the figures it depends on, for ``train --board`` to plan with
    before any manifest exists (``max_line``: the model's line limit, before the board's
    usual limit raises it)."""
    parts = [
        ("line buffer", line_limit(board, max_line)),
        ("token ids", 4 * seq_len),
        ("scores", num_labels),
        ("app state", TEXT_APP_BYTES),
        ("TFLM glue", TFLM_GLUE_BYTES),
        *TEXT_SERIAL[board.family].parts(),
    ]
    return describe_ram(parts)
