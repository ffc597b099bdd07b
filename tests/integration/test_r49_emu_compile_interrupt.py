"""Round 49: SIGTERM, SIGHUP or SIGINT sent to tinyslm alone during an emulator's build
stops the compilers it runs at once.

The builds compile in a thread pool; the interrupt reaches only the main thread, and the
pool then waited for every compile running (6-18 s on a busy machine) before
``error: interrupted``: nothing signalled them (a terminal's Ctrl-C reaches them through
the process group, ``kill PID`` or a supervisor does not). Here the cross compilers on
PATH are fakes that record their pid and their child's, then sleep 30 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cli_support import REPO

from tinyslm.pipeline import run_generate
from tinyslm.toolchain import tflm

FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model"
# The compiler a compile runs: it starts a child (as gcc starts cc1) and waits for it.
FAKE_COMPILER = textwrap.dedent(
    """\
    #!/bin/sh
    sleep 30 &
    echo "$$ $!" >> "$FAKE_CC_PIDS"
    wait
    """
)
# As a terminal or a service manager starts tinyslm: a test run under nohup hands SIGHUP
# down ignored, and main() leaves an ignored signal ignored.
MAIN = (
    "import signal, sys\n"
    "for s in (signal.SIGTERM, signal.SIGHUP): signal.signal(s, signal.SIG_DFL)\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from tinyslm import cli\n"
    "sys.argv = ['tinyslm', *sys.argv[1:]]\n"
    "cli.main()\n"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An STM32H7 text project carrying a (fake) Cortex-M7 tree, so --qemu builds."""
    base = tmp_path_factory.mktemp("r49_interrupt")
    tree = base / "tree"
    for rel in (*tflm.REQUIRED_FILES, tflm.CORTEX_M_MARKER):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(f"// {rel}\n", encoding="utf-8")
    out = base / "stm32h7"
    run_generate("stm32h7", out, model_dir=FIXTURE_MODEL, tflm_dir=tree)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has stopped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_signal_to_tinyslm_stops_the_compilers_at_once(
    project: Path, tmp_path: Path, sig: int, code: int
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm"):
        (fake / name).write_text(FAKE_COMPILER)
        (fake / name).chmod(0o755)
    pids = tmp_path / "pids"
    env = dict(os.environ)
    env.update(
        PATH=f"{fake}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        TINYSLM_CACHE_DIR=str(tmp_path / "cache"),  # nothing compiled yet
        FAKE_CC_PIDS=str(pids),
    )
    command = [sys.executable, "-c", MAIN, "emulate", str(project), "--qemu", "--text", "hi"]
    # A session of its own, so that the cleanup below can stop all of it if the test fails.
    proc = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pids.is_file() and pids.read_text().strip()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no compile started"
            time.sleep(0.05)
        time.sleep(0.3)  # the pool's other workers start theirs
        proc.send_signal(sig)  # tinyslm alone, as `kill PID` does
        sent = time.monotonic()
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
        started = [int(p) for line in pids.read_text().splitlines() for p in line.split()]
        assert (proc.returncode, err) == (code, "error: interrupted\n"), out
        assert took < 3.0, f"{took:.1f} s after the signal"
        assert [p for p in started if _alive(p)] == []  # the compilers and their children
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        if pids.is_file():
            for pid in (int(p) for line in pids.read_text().splitlines() for p in line.split()):
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
