"""Round 45 (honesty hunt): two round-44 fixes no test reached.

- ``open_port``: a Ctrl-C (any exception not pyserial's) while a ``spy://`` port opens
  removes the empty log pyserial created, as a failed open does.
- The STM32 image cache key hashes a source file whose name holds a non-UTF-8 byte
  (the file list, not only the flags).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tinyslm.monitor import open_port
from tinyslm.toolchain import stm32_image


def test_an_open_interrupted_leaves_no_spy_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import serial

    log = tmp_path / "log"  # does not exist: never name an existing file in spy://
    assert not log.exists()

    def interrupted(url: str, **_kw: Any) -> None:
        log.write_bytes(b"")  # as pyserial's spy:// does before it opens the port
        raise KeyboardInterrupt

    monkeypatch.setattr(serial, "serial_for_url", interrupted)
    with pytest.raises(KeyboardInterrupt):
        open_port(f"spy://{tmp_path / 'nonexist'}?file={log}", 115200)
    assert not log.exists()


def test_stm32_key_takes_a_source_file_with_a_non_utf8_name(tmp_path: Path) -> None:
    rel = Path("src") / os.fsdecode(b"caf\xe9.cc")
    (tmp_path / "src").mkdir()
    (tmp_path / rel).write_text("int a;\n")
    key = stm32_image._key(tmp_path, "x", files=[(tmp_path, rel)])
    assert len(key) == 16
    assert key != stm32_image._key(tmp_path, "x")
