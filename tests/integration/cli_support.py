"""Helpers for the CLI end-to-end tests (imported by conftest.py and the tests).

A module of its own (not conftest) so that tests can import it by a unique name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model"
DEMO_CSV = REPO / "tinyslm" / "data" / "demo_commands.csv"

# Figures worth seeing in every run (parity, coverage); conftest prints them last.
SUMMARY: list[str] = []

FAKE_PIO = textwrap.dedent(
    """\
    #!{python}
    import os, sys
    log = os.environ.get("FAKE_PIO_LOG")
    if log:
        with open(log, "a") as f:
            f.write(" ".join(sys.argv[1:]) + "\\n")
    mode = os.environ.get("FAKE_PIO_MODE", "ok")
    print("Processing esp32 (platform: espressif32@6.9.0; board: esp32dev; framework: espidf)")
    print("-" * 80)
    if mode == "offline":
        # What pio 6.2 prints when its registry is unreachable: the "Installing" line,
        # then HTTPClientError after about a minute of retries (FAKE_PIO_RETRY_S).
        import time
        print("Platform Manager: Installing espressif32 @ 6.9.0", flush=True)
        time.sleep(float(os.environ.get("FAKE_PIO_RETRY_S", "0")))
        print("HTTPClientError: ", flush=True)
        # pio 6.2 retries other mirrors after the first error (FAKE_PIO_AFTER_S).
        time.sleep(float(os.environ.get("FAKE_PIO_AFTER_S", "0")))
        sys.exit(1)
    if mode == "slow":
        # A first build: output for a while; the test reads it before pio ends.
        import time
        print("Platform Manager: Installing espressif32 @ 6.9.0", flush=True)
        time.sleep(float(os.environ.get("FAKE_PIO_RETRY_S", "5")))
    if mode in ("noisy", "noisy_fail"):
        # Build lines that happen to hold a network error's name are not one.
        print("Compiling .pio/build/esp32/src/retry_ConnectionError.c.o", flush=True)
        if mode == "noisy_fail":
            print("src/net.c:3:1: error: unknown type name 'ConnectionError'")
            sys.exit(1)
    if mode == "fail":
        for i in range(40):
            print(f"compile step {{i}}")
        print("src/main.cc:12:3: error: 'frobnicate' was not declared in this scope")
        print("*** [.pio/build/esp32/src/main.cc.o] Error 1")
        print("========== [FAILED] Took 3.21 seconds ==========")
        sys.exit(1)
    ram = os.environ.get("FAKE_PIO_RAM", "17032")
    print("Checking size .pio/build/esp32/firmware.elf")
    print(f"RAM:   [=         ]   5.2% (used {{ram}} bytes from 327680 bytes)")
    print("Flash: [==        ]  25.4% (used 399598 bytes from 1572864 bytes)")
    print("========== [SUCCESS] Took 4.20 seconds ==========")
    """
)


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment run_cli runs tinyslm in (this checkout first on PYTHONPATH, TF's
    log quiet), with ``env`` on top: for a test that runs Python itself (``-c``, bytes out)."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if env:
        full_env.update(env)
    return full_env


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 300,
    close_stdin: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tinyslm ARGS`` in a subprocess (as a user would); ``close_stdin``:
    with file descriptor 0 closed (a shell's ``<&-``)."""
    return subprocess.run(
        [sys.executable, "-m", "tinyslm", *args],
        capture_output=True,
        text=True,
        env=cli_env(env),
        cwd=cwd,
        input=stdin,
        timeout=timeout,
        check=False,
        preexec_fn=(lambda: os.close(0)) if close_stdin else None,
    )


def assert_one_error_line(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit code 1, no traceback, exactly one ``error:`` line naming ``needles``."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def have_tool(name: str) -> bool:
    return shutil.which(name) is not None


def copy_project(project: Path, tmp_path: Path) -> Path:
    """A copy of a (read-only, module-scoped) project to edit: ``tmp_path/copy``."""
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    return copy


def edit_once(path: Path, old: str, new: str) -> None:
    """``old`` (which must occur exactly once in ``path``) replaced by ``new``."""
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
