"""A pyserial port as far as :mod:`tinyslm.monitor` uses it (read, write, flush,
in_waiting, close), for tests that put a fake board behind ``monitor``: a subclass says
what the board answers (``write``) or how the port fails (``read``)."""

from __future__ import annotations

import threading
import time

import pytest

from tinyslm import monitor


class FakePort:
    """Bytes in ``out`` are what the board sent and ``read`` hands out; ``written`` is
    what the monitor sent it."""

    def __init__(self, out: bytes = b"") -> None:
        self.lock = threading.Lock()
        self.out = bytearray(out)
        self.written = bytearray()
        self.closed = False

    def answer(self, data: bytes) -> None:
        """Make ``data`` readable, as the board sending it."""
        with self.lock:
            self.out += data

    def read(self, n: int) -> bytes:
        with self.lock:
            chunk = bytes(self.out[:n])
            del self.out[:n]
        if not chunk:
            time.sleep(0.01)  # pyserial's read waits for its timeout
        return chunk

    def write(self, data: bytes) -> int:
        with self.lock:
            self.written += data
        return len(data)

    def flush(self) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def close(self) -> None:
        self.closed = True


def use_port(monkeypatch: pytest.MonkeyPatch, port: FakePort) -> None:
    """``monitor`` opens ``port`` whatever port name it is given."""
    monkeypatch.setattr(monitor, "open_port", lambda name, baud: port)
