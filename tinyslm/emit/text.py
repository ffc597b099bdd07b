"""The text modality's template values: the tokenizer's settings and the line limit."""

from __future__ import annotations

from typing import Any

from tinyslm.boards import Board
from tinyslm.emit.actions import action_context
from tinyslm.manifest import Manifest
from tinyslm.text.dataset import is_oos


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
            # The board's usual limit, raised when the training phrases need more.
            "max_line": max(board.serial.max_line, manifest.max_line),
        },
        # Out-of-scope is no action: the starter names the intents a device acts on.
        "actions": action_context([x for x in manifest.labels if not is_oos(x)]),
    }


def ram_bytes(board: Board, manifest: Manifest) -> tuple[int, str]:
    """RAM besides the arena that the budget check counts: none for text.

    The text firmware's own RAM is left to what the board keeps beside ``arena_ram_kb``
    (its ``ram_kb`` less the arena budget, which also holds the SDK's RAM, the stacks and
    the heap): the line buffer (``max_line`` bytes), the serial receive ring and, on the
    ESP32, the UART driver's event queue. Not a few hundred bytes there: ESP-IDF's heap
    holds a 2 KB ring and 1024 events of 12 bytes, about 14 KiB
    (``templates/esp32-text/src/main.cc.j2``).
    """
    del board, manifest
    return 0, ""
