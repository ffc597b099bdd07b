"""Builds and drives the text firmware's C core on the host for the tests in tests/host.

The core is every C file a text project gets (tinyslm.resources.firmware_files):
firmware/common/ (JSON writer, gate) and firmware/text/ (tokenizer, line protocol).
This module only builds and drives it; what it must do lives with the tests
(test_core_protocol.py, test_core_tokenizer.py). Two ways in:

- ``CoreLib``: the core as a shared library through ctypes (tokenizer and
  decision checks against the Python spec).
- ``Driver``: tests/host/core_driver.c as an executable (plain, ASan+UBSan or
  --coverage build), so the sanitizer and coverage runs replay the same cases
  that the plain run checks.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyslm.emulate.emulator import CompiledFeatures, CompiledInfoHead
from tinyslm.resources import firmware_files
from tinyslm.text.features import FeatureSpec
from tinyslm.toolchain import ccompile

REPO = Path(__file__).resolve().parents[2]
_TEXT_FIRMWARE = firmware_files("text")
# The C core: common (tinyslm_gate.c, tinyslm_json.c) and text (tinyslm_core.c,
# tinyslm_tokenizer.c); the C++ TFLM adapter and MEAN kernel are tested elsewhere.
CORE_SOURCES = tuple(p for name, p in _TEXT_FIRMWARE.items() if name.endswith(".c"))
INCLUDE_DIRS = tuple(sorted({p.parent for p in _TEXT_FIRMWARE.values()}))
DRIVER_C = Path(__file__).resolve().parent / "core_driver.c"
FUZZ_C = REPO / "tests" / "fuzz" / "fuzz_line.c"

WARN_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
SANITIZE_FLAGS = (
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
)
# LeakSanitizer needs ptrace, which some containers forbid; the core never
# allocates, so leak checking adds nothing here.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=87",
}


def have_host_cc() -> bool:
    try:
        ccompile.compiler_command("c")
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------
# ctypes view of the core


# The features and the head of the model info are the emulator's own mirror, so that one
# ctypes view of each C struct exists; the fields text projects added later follow.
CFeatures = CompiledFeatures


class CModelInfo(ctypes.Structure):
    _fields_ = (
        *CompiledInfoHead._fields_,
        ("model_sha256", ctypes.c_char_p),
        ("model_bytes", ctypes.c_uint32),
        ("arena_bytes", ctypes.c_uint32),
        ("ops", ctypes.c_char_p),
        ("board", ctypes.c_char_p),
        ("version", ctypes.c_char_p),
        # NULL here (zero-initialised): every label at threshold_q. Without these two the
        # struct ended early and tinyslm_decide read a pointer past it, a segfault
        # whenever that memory was not zero.
        ("label_threshold_q", ctypes.POINTER(ctypes.c_int32)),
        ("label_threshold_milli", ctypes.POINTER(ctypes.c_uint32)),
    )


class CDecision(ctypes.Structure):
    _fields_ = (
        ("index", ctypes.c_uint32),
        ("score_q", ctypes.c_int32),
        ("score_milli", ctypes.c_uint32),
        ("local", ctypes.c_uint8),
    )


def c_features(spec: FeatureSpec) -> CFeatures:
    return CFeatures(
        spec.buckets,
        spec.seq_len,
        int(spec.unigrams),
        int(spec.bigrams),
        int(spec.char_trigrams),
        spec.hashes,
    )


class CoreLib:
    """The C core compiled as a shared library."""

    def __init__(self, path: Path) -> None:
        self.lib = ctypes.CDLL(str(path))
        self.lib.tinyslm_tokenize.restype = ctypes.c_size_t
        self.lib.tinyslm_tokenize.argtypes = (
            ctypes.POINTER(CFeatures),
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_int32),
        )
        self.lib.tinyslm_decide.restype = CDecision
        self.lib.tinyslm_decide.argtypes = (
            ctypes.POINTER(CModelInfo),
            ctypes.POINTER(ctypes.c_int8),
        )

    def tokenizer(self, spec: FeatureSpec) -> Callable[[bytes], tuple[int, list[int]]]:
        """A function bytes -> (returned count, ids) bound to ``spec``."""
        cspec = c_features(spec)
        ids = (ctypes.c_int32 * spec.seq_len)()
        fn = self.lib.tinyslm_tokenize
        spec_ref = ctypes.byref(cspec)

        def run(text: bytes) -> tuple[int, list[int]]:
            n = fn(spec_ref, text, len(text), ids)
            return int(n), list(ids)

        run.keep_alive = (cspec, ids)  # type: ignore[attr-defined]
        return run

    def decide(
        self, scores: Sequence[int], scale: float, zero_point: int, threshold_q: int
    ) -> CDecision:
        info = CModelInfo()
        info.num_labels = len(scores)
        info.score_scale = scale
        info.score_zero_point = zero_point
        info.threshold_q = threshold_q
        arr = (ctypes.c_int8 * len(scores))(*scores)
        return self.lib.tinyslm_decide(ctypes.byref(info), arr)  # type: ignore[no-any-return]


# The C layout of the structs ctypes mirrors, so a field added in C and not here fails a
# test instead of reading past the Python struct.
LAYOUT_C = """#include <stddef.h>
#include "tinyslm_core.h"
size_t tinyslm_test_model_info_size(void) { return sizeof(tinyslm_model_info_t); }
size_t tinyslm_test_model_info_last(void) {
  return offsetof(tinyslm_model_info_t, label_threshold_milli);
}
size_t tinyslm_test_decision_size(void) { return sizeof(tinyslm_decision_t); }
"""


def build_core_lib(out_dir: Path) -> CoreLib:
    layout = out_dir / "core_layout.c"
    layout.write_text(LAYOUT_C)
    lib = ccompile.compile_shared(
        [*CORE_SOURCES, layout],
        out_dir / "libtinyslm_core.so",
        include_dirs=list(INCLUDE_DIRS),
        cflags=[*WARN_FLAGS, "-O2"],
    )
    return CoreLib(lib)


# --------------------------------------------------------------------------
# the executable driver


@dataclass(frozen=True)
class Driver:
    path: Path
    env: dict[str, str] = field(default_factory=dict)
    name: str = "plain"

    def run(self, args: Sequence[str], stdin: bytes, timeout: float = 60.0) -> bytes:
        """Run the driver; fail the test on a non-zero exit or a sanitizer report."""
        proc = subprocess.run(
            [str(self.path), *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env={**os.environ, **self.env},
            check=False,
        )
        err = proc.stderr.decode("utf-8", "replace")
        assert proc.returncode == 0, f"{self.name} driver exit {proc.returncode}:\n{err[-3000:]}"
        assert "runtime error" not in err and "Sanitizer" not in err, err[-3000:]
        return proc.stdout

    def proto_raw(
        self, data: bytes, labels: Sequence[str], scores: Sequence[str], **opts: object
    ) -> bytes:
        args = ["proto"]
        for label in labels:
            args += ["--label", label]
        for vec in scores:
            args += ["--scores", vec]
        for key, value in opts.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        return self.run(args, data)

    def proto(
        self, data: bytes, labels: Sequence[str], scores: Sequence[str], **opts: object
    ) -> list[dict[str, object]]:
        """Device output as parsed JSON objects (every line must parse)."""
        return parse_lines(self.proto_raw(data, labels, scores, **opts))

    def error_lines(self, records: Sequence[tuple[bytes | None, bytes | None]]) -> bytes:
        """What tinyslm_write_error writes for each (code, reason); None stands for NULL."""

        def field(value: bytes | None) -> bytes:
            if value is None:
                return struct.pack("<I", 0xFFFFFFFF)
            return struct.pack("<I", len(value)) + value

        return self.run(["err"], b"".join(field(c) + field(r) for c, r in records))

    def tokenize_batch(
        self, texts: Sequence[bytes], spec: FeatureSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        """(counts, ids) for every text, through the driver's tok mode."""
        payload = b"".join(struct.pack("<I", len(t)) + t for t in texts)
        flags = [str(int(f)) for f in (spec.unigrams, spec.bigrams, spec.char_trigrams)]
        out = self.run(
            ["tok", str(spec.buckets), str(spec.seq_len), *flags, str(spec.hashes)], payload
        )
        rows = np.frombuffer(out, dtype="<i4").reshape(len(texts), spec.seq_len + 1)
        return rows[:, 0], rows[:, 1:]


def parse_lines(raw: bytes) -> list[dict[str, object]]:
    assert raw == b"" or raw.endswith(b"\n"), raw[-200:]
    lines = raw.split(b"\n")[:-1]
    out = []
    for line in lines:
        try:  # strict UTF-8: the device must emit valid JSON text
            obj = json.loads(line.decode("utf-8"))
        except ValueError as exc:
            raise AssertionError(f"not a JSON line: {line[:200]!r}: {exc}") from exc
        assert isinstance(obj, dict)
        out.append(obj)
    return out


def build_driver(out_dir: Path, variant: str) -> Driver:
    """variant: "plain", "asan" (ASan+UBSan) or "coverage" (objects kept in out_dir/obj)."""
    sources = [DRIVER_C, *CORE_SOURCES]
    common = {"include_dirs": list(INCLUDE_DIRS)}
    if variant == "plain":
        exe = ccompile.compile_executable(
            sources, out_dir / "core_driver", cflags=[*WARN_FLAGS, "-O2", "-g"], **common
        )
        return Driver(exe, name=variant)
    if variant == "asan":
        exe = ccompile.compile_executable(
            sources,
            out_dir / "core_driver_asan",
            cflags=[*WARN_FLAGS, "-O1", "-g", *SANITIZE_FLAGS],
            **common,
        )
        return Driver(exe, env=dict(SANITIZER_ENV), name=variant)
    if variant == "coverage":
        exe = ccompile.compile_executable(
            sources,
            out_dir / "core_driver_cov",
            cflags=[*WARN_FLAGS, "-O0", "-g"],
            coverage=True,
            object_dir=out_dir / "obj",
            **common,
        )
        return Driver(exe, name=variant)
    raise ValueError(variant)


def sanitizers_work(out_dir: Path) -> str | None:
    """None when an ASan+UBSan program builds and runs here, else why not."""
    probe = out_dir / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    try:
        exe = ccompile.compile_executable([probe], out_dir / "probe", cflags=list(SANITIZE_FLAGS))
    except Exception as exc:
        return f"the host compiler cannot build with -fsanitize=address,undefined: {exc}"
    proc = subprocess.run(
        [str(exe)], capture_output=True, env={**os.environ, **SANITIZER_ENV}, check=False
    )
    if proc.returncode != 0:
        return f"ASan programs do not run here: {proc.stderr.decode(errors='replace')[-300:]}"
    return None
