"""Run a generated project's firmware off the board, and score datasets through it.

- :mod:`~tinyslm.emulate.library`: the project's C core built into a shared library
  (cached); :mod:`~tinyslm.emulate.emulator`: that library under ctypes, TFLM's
  Python runtime behind it; :mod:`~tinyslm.emulate.coverage`: gcov line coverage.
- :mod:`~tinyslm.emulate.native`: the whole firmware built for the host
  (``--native``); :mod:`~tinyslm.emulate.qemu`: built for Cortex-M7 under QEMU
  (``--qemu``).
- :mod:`~tinyslm.emulate.phrases`: dataset phrases through any of them, the report,
  and parity with the Python reference.
- :mod:`~tinyslm.emulate.keywords`: the same three ways for a keyword (audio)
  project: recordings in, detections out.
- ``glue/``: the C that stands in for the board (host shim, native main, QEMU and
  STM32H7 startup and linker scripts).
"""
