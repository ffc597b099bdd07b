"""The host test drivers built for 32-bit Arm and run under ``qemu-arm`` (user mode).

The boards are 32-bit (Cortex-M7, Xtensa LX6: ``long`` and pointers are 4 bytes,
``char`` is unsigned on Arm), while the other host tests build the firmware C for
x86-64 only, where a bug that needs 32-bit ``long``, ``size_t`` or pointers passes.
Here the same driver is built twice: with ``arm-none-eabi-gcc`` and newlib's
semihosting (``-specs=rdimon.specs``: argv, stdin, stdout and files reach the host
through ``qemu-arm``) and with the host compiler (under ASan+UBSan where the host
runs them), so a test can require the two to write the same bytes.

``-mcpu=cortex-a9``, not the boards' Cortex-M7: ``qemu-arm`` runs A-profile code
only, and the data model (ILP32, AAPCS, unsigned ``char``) is the same. As on the
M7, an unaligned word load works and an unaligned doubleword load (``ldrd``) faults:
qemu-arm stops the program with SIGBUS, which fails the run.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core_harness import SANITIZE_FLAGS, SANITIZER_ENV, sanitizers_work
from shared_paths import missing, require_tool

from tinyslm.errors import ToolchainError
from tinyslm.toolchain import ccompile

ARM_CC = "arm-none-eabi-gcc"
QEMU_ARM = "qemu-arm"
ARM32_FLAGS = ("-specs=rdimon.specs", "-mcpu=cortex-a9")
# newlib's semihosting start-up reads the command line into a 256-byte buffer and
# gives main argc 0 when it is longer; stay under it (short names, run in cwd).
CMDLINE_MAX = 250

_PROBE_C = """#include <stdio.h>
int main(int argc, char **argv) {
  printf("%d %d %d %s\\n", (int)sizeof(long), (int)sizeof(void *), argc, argv[argc - 1]);
  return 0;
}
"""


@dataclass(frozen=True)
class Program:
    """One build of a driver: ``prefix`` runs it (``("qemu-arm",)`` for the Arm one)."""

    path: Path
    name: str
    prefix: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def run(
        self, args: Sequence[str], stdin: bytes = b"", cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        """Run in ``cwd`` (file arguments relative to it keep the command line short)."""
        exe = str(self.path) if cwd is None else os.path.join(".", os.path.relpath(self.path, cwd))
        if self.prefix:
            line = " ".join([exe, *args])
            assert len(line) <= CMDLINE_MAX, f"semihosting command line too long: {line!r}"
        argv = [*self.prefix, exe, *args]
        # The semihosted build sees no environment, so neither build gets the drivers'
        # TINYSLM_TEST_* switches: both take their defaults.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TINYSLM_TEST_")}
        proc = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            cwd=cwd,
            env={**env, **self.env},
            check=False,
        )
        return proc

    def run_ok(self, args: Sequence[str], stdin: bytes = b"", cwd: Path | None = None) -> bytes:
        """stdout of a run that must exit 0 with no sanitizer report."""
        res = self.run(args, stdin, cwd)
        err = res.stderr.decode("utf-8", "replace")
        assert res.returncode == 0, f"{self.name} exit {res.returncode} for {args}:\n{err[-3000:]}"
        assert "runtime error" not in err and "Sanitizer" not in err, err[-3000:]
        return res.stdout


@dataclass(frozen=True)
class Pair:
    """The same driver for 32-bit Arm (``arm``) and for the host (``host``)."""

    arm: Program
    host: Program


def arm32_works(work: Path) -> str | None:
    """None when a semihosted Arm program builds and runs under qemu-arm here, else why not."""
    require_tool(ARM_CC, QEMU_ARM)
    probe = work / "arm32_probe.c"
    probe.write_text(_PROBE_C)
    try:
        exe = ccompile.compile_executable(
            [probe], work / "arm32_probe", cflags=list(ARM32_FLAGS), cc=[ARM_CC]
        )
    except ToolchainError as exc:
        return f"{ARM_CC} cannot link with newlib's rdimon.specs (libnewlib-arm-none-eabi): {exc}"
    res = Program(exe, "probe", (QEMU_ARM,)).run(["x"], cwd=work, timeout=60)
    if res.returncode != 0 or res.stdout != b"4 4 2 x\n":
        return f"{QEMU_ARM} did not run a 32-bit Arm program: {res.stdout!r} {res.stderr[-300:]!r}"
    return None


def require_arm32(work: Path) -> None:
    """Skip (or fail where toolchains are required) unless arm32 builds run here."""
    reason = arm32_works(work)
    if reason is not None:
        missing(reason)


def build_pair(
    sources: Sequence[Path],
    work: Path,
    name: str,
    include_dirs: Sequence[Path],
    cflags: Sequence[str],
) -> Pair:
    """``sources`` built for Arm (semihosted) and for the host (ASan+UBSan where they run)."""
    arm = ccompile.compile_executable(
        sources, work / f"{name}_arm", include_dirs=include_dirs,
        cflags=[*cflags, *ARM32_FLAGS], cc=[ARM_CC],
    )  # fmt: skip
    if sanitizers_work(work) is None:
        host_flags, env, host_name = [*cflags, *SANITIZE_FLAGS], dict(SANITIZER_ENV), "asan"
    else:
        host_flags, env, host_name = list(cflags), {}, "plain"
    host = ccompile.compile_executable(
        sources, work / f"{name}_host", include_dirs=include_dirs, cflags=host_flags
    )
    return Pair(
        Program(arm, f"{name} (arm32, qemu-arm)", (QEMU_ARM,)),
        Program(host, f"{name} (x86-64 {host_name})", env=env),
    )


def assert_same_output(arm: bytes, host: bytes, what: str) -> None:
    """The two builds wrote the same bytes; on a difference, show where."""
    __tracebackhide__ = True  # the message says it all; the frame would print both outputs
    if arm == host:
        return
    at = next((i for i, (a, b) in enumerate(zip(arm, host, strict=False)) if a != b), None)
    at = min(len(arm), len(host)) if at is None else at
    lo = max(0, at - 120)
    raise AssertionError(
        f"{what}: 32-bit Arm output differs from x86-64 at byte {at} "
        f"(lengths {len(arm)} and {len(host)})\n"
        f"  arm32: {arm[lo : at + 120]!r}\n  x86-64: {host[lo : at + 120]!r}"
    )
