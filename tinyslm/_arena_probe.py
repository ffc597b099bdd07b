"""Child process for the arena probe: ``python -m tinyslm._arena_probe MODEL SIZE``.

Exit status 0 when TFLM allocates the model in a SIZE-byte arena and runs one
inference on an all-zero input of the model's input type (padding ids for text,
features for audio); :data:`DOES_NOT_FIT` when it reports a failure. A too-small
arena can also crash the runtime outright (SIGSEGV, SIGBUS, SIGABRT, SIGILL or
SIGFPE), which the parent reads as "does not fit"; that is why this runs in its
own process and imports only tflite_micro. Any other status (1: an exception,
e.g. an import that failed; a kill from outside such as the OOM killer's SIGKILL;
a timeout) is the probe's own failure, not an answer.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Not 1, which Python exits with on any uncaught exception (an import error read as
# "the arena is too small" once).
DOES_NOT_FIT = 3


def main(argv: list[str]) -> int:
    import numpy as np
    from tflite_micro import runtime

    model = Path(argv[0]).read_bytes()
    size = int(argv[1])
    try:
        interp = runtime.Interpreter.from_bytes(model, arena_size=size)
        details = interp.get_input_details(0)
        shape = tuple(int(d) for d in details["shape"])
        # The input's own type: int32 ids for text, int8 features for audio.
        interp.set_input(np.zeros(shape, dtype=details["dtype"]), 0)
        interp.invoke()
        interp.get_output(0)
    except (RuntimeError, ValueError):
        return DOES_NOT_FIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
