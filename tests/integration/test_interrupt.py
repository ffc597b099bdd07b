"""SIGTERM and SIGHUP stop tinyslm the way Ctrl-C does: every cleanup runs.

Before, nothing handled them: the process died without a single ``finally``, and a
``train --force`` stopped while swapping the model folder left the previous model in
``out/.tinyslm-tmp-XXXX/old/`` (and the next ``--force`` called that folder "not
written by tinyslm"). Here a real ``tinyslm`` process (``tinyslm.cli.main``, as the
console script runs it) is paused inside the swap, right after the previous
``manifest.json`` was moved aside, and sent the signal: no sleeps, the test waits for
the line the pause prints. The pause is the test's own (a wrapper around ``os.rename``
in ``tinyslm.outdir``), not a hook in tinyslm.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import run_cli
from tree_snapshot import tree

from tinyslm.outdir import STAGE_PREFIX

FIXTURE_CSV = Path(__file__).resolve().parents[1] / "fixtures" / "fixture_commands.csv"
TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "1"]

PAUSED = """
import os, signal, sys, types
from tinyslm import cli, outdir

# As a terminal or a service manager starts tinyslm: a test run under nohup hands SIGHUP
# down ignored, and main() leaves an ignored signal ignored (as it should: nohup).
for sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_DFL)

proxy = types.ModuleType("os")
proxy.__dict__.update(os.__dict__)
paused = []

def rename(src, dst):
    os.rename(src, dst)
    if not paused:  # the first swap step: the previous manifest.json is now aside
        paused.append(dst)
        print("paused", flush=True)
        sys.stdin.readline()

proxy.rename = rename
outdir.os = proxy
sys.argv = ["tinyslm", *sys.argv[1:]]
cli.main()
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("interrupt") / "model"
    proc = run_cli("train", str(FIXTURE_CSV), "-o", str(out), "-q", *TINY)
    assert proc.returncode == 0, proc.stderr
    return out


def _signal_while_paused(
    script_text: str, out: Path, tmp_path: Path, sig: signal.Signals, check: Callable[[], None]
) -> str:
    """Run ``train --force`` into ``out`` under ``script_text`` (which prints "paused" and
    waits at its chosen point), run ``check`` there, send ``sig``; tinyslm's stderr."""
    script = tmp_path / "paused.py"
    script.write_text(script_text)
    args = ["train", str(FIXTURE_CSV), "-o", str(out), "--force", "-q", "--seed", "7", *TINY]
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the pause (or the run ended)
        assert line == "paused\n", (line, proc.stderr.read() if proc.stderr else "")
        check()
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, (proc.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    return stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_during_the_swap_puts_the_previous_model_back(
    trained: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "out"
    shutil.copytree(trained, out)
    before = tree(out)

    def inside_the_swap() -> None:
        assert not (out / "manifest.json").exists()

    stderr = _signal_while_paused(PAUSED, out, tmp_path, sig, inside_the_swap)
    assert stderr.splitlines()[-1] == "error: interrupted", stderr
    assert tree(out) == before  # the previous model, whole, and no staging folder
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert not [p for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]


def test_a_signal_nohup_ignores_stays_ignored(tmp_path: Path) -> None:
    """nohup tinyslm ...: SIGHUP, ignored when main() starts, is left ignored."""
    script = tmp_path / "ignored.py"
    script.write_text(
        "import signal, sys\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "from tinyslm import cli\n"
        "sys.argv = ['tinyslm', '--version']\n"
        "cli.main()\n"
    )
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import runpy, signal, sys\n"
        "try:\n"
        f"    runpy.run_path({str(script)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(signal.getsignal(signal.SIGHUP) == signal.SIG_IGN,\n"
        "      signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN))\n"
    )
    done = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True)
    assert done.stdout.split()[-2:] == ["True", "True"], done.stdout + done.stderr


PAUSED_AFTER_THE_SWAP = """
import os, shutil, signal, sys, types
from tinyslm import cli, outdir

for sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_DFL)

proxy = types.ModuleType("shutil")
proxy.__dict__.update(shutil.__dict__)
paused = []

def rmtree(path, *args, **kwargs):
    # The staging folder's removal: the new files are all in, the replaced ones in its old/.
    if not paused and os.path.basename(path).startswith(outdir.STAGE_PREFIX):
        paused.append(path)
        print("paused", flush=True)
        sys.stdin.readline()
    return shutil.rmtree(path, *args, **kwargs)

proxy.rmtree = rmtree
outdir.shutil = proxy
sys.argv = ["tinyslm", *sys.argv[1:]]
cli.main()
"""


def test_a_signal_after_the_swap_says_the_folder_holds_the_new_files(
    trained: Path, tmp_path: Path
) -> None:
    """SIGTERM while the replaced files were being removed (the swap done): the command
    said 'interrupted', which promises the old files back, of a folder holding the new."""
    out = tmp_path / "out"
    shutil.copytree(trained, out)
    before = tree(out)
    new: dict[str, bytes | None] = {}

    def after_the_swap() -> None:
        new.update((k, v) for k, v in tree(out).items() if not k.startswith(STAGE_PREFIX))
        assert new != before  # really after the swap

    stderr = _signal_while_paused(
        PAUSED_AFTER_THE_SWAP, out, tmp_path, signal.SIGTERM, after_the_swap
    )
    assert stderr.splitlines()[-1] == (
        f"error: interrupted after {out} was updated; it holds the new files"
    ), stderr
    assert tree(out) == new  # the new model, whole, and no staging folder
    assert not [p for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]
