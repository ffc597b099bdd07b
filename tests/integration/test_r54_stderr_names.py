"""Round 54: every stderr line that names the user's file shows it as the stdout lines do.

Round 53 made stdout and JSON show a path's byte that is not UTF-8 as the shell shows it
(``\\xff``, :func:`tinyslm.errors.one_line`), but the lines on stderr alone were printed
raw: Python's stderr writes the lone surrogate that byte is held as with
``backslashreplace``, ``\\udcff``, a character the path does not hold, and a line break in
a name split the line in two. Each test below runs the real command on such a name, one
holding byte 0xff and one holding a line break, and reads the whole of stderr:

- ``emulate PROJECT --wav FILE``'s parity line, and the error naming a WAV it cannot read;
- the emulator's banner at a terminal (standard input a pty);
- the warning for an unusable cache entry (``tinyslm.errors.tell``), whose cache folder
  holding 0xff was not even a warning: ctypes decodes dlopen's message strictly, and
  emulate ended in a UnicodeDecodeError traceback;
- click's usage errors, which quote a typed value as its repr (``'x\\udcff'``), and
  tinyslm's own that name a path;
- ``monitor --wav``'s first line and ``tflm fetch``'s.
"""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_support import REPO, run_cli
from click.testing import CliRunner
from fake_serial import FakePort, use_port
from lib_tflm_fixtures import fake_tree
from shared_paths import require_tool

from tinyslm.audio.wav import write_wav
from tinyslm.cli import cli
from tinyslm.errors import one_line
from tinyslm.pipeline import run_generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

# A byte that is not UTF-8, and a line break: each name is shown as one_line writes it.
NAMES = [pytest.param(b"\xff", id="byte-ff"), pytest.param(b"\n", id="line-break")]


def _named(folder: Path, stem: bytes, odd: bytes, suffix: bytes = b"") -> Path:
    """``folder / (stem + odd + suffix)``, the bytes as they are (0xff: Python's
    ``'\\udcff'``)."""
    return folder / os.fsdecode(stem + odd + suffix)


def _clean(stderr: str) -> list[str]:
    """stderr's lines, after checking that none shows a byte as a character it is not."""
    assert "\\udc" not in stderr, stderr
    assert "Traceback" not in stderr, stderr
    return stderr.splitlines()


def _run_bytes(*args: str, stdin: int | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m tinyslm ARGS`` as run_cli runs it, its output as bytes: stdout may
    hold a path's own bytes (``tflm fetch`` prints the tree for ``$(...)``)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "tinyslm", *args],
        stdin=stdin, capture_output=True, env=env, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def kws_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An esp32 keyword project in a folder named ``kw\\xff``."""
    require_tool("cc")  # emulate builds the firmware for the host
    base = tmp_path_factory.mktemp("r54_stderr")
    out = _named(base, b"kw", b"\xff")
    run_generate("esp32", out, model_dir=keyword_model_dir(base / "model"))
    return out


@pytest.mark.parametrize("odd", NAMES)
def test_emulate_wav_names_the_recording_as_the_shell_shows_it(
    kws_project: Path, tmp_path: Path, odd: bytes
) -> None:
    wav = _named(tmp_path, b"clip", odd, b".wav")
    write_wav(wav, np.zeros(16000, dtype=np.int16))  # 1 s of silence: nothing fires
    proc = run_cli("emulate", str(kws_project), "--wav", str(wav))
    assert proc.returncode == 0, proc.stderr
    lines = _clean(proc.stderr)
    # Before: "emulator: .../clip\udcff.wav (1.00 s): ...", and with a line break the
    # line ended at ".../clip" and went on as "nl.wav (1.00 s): ...".
    assert lines[0] == (
        f"emulator: {tmp_path}/clip{one_line(os.fsdecode(odd))}.wav (1.00 s): 0 "
        "detections; parity with verify's Python loop: identical (0/0 identical)"
    )
    assert len(lines) == 2 and lines[1].startswith("warning: 1.00 s is too short"), lines


def test_emulate_wav_that_cannot_be_read_is_named_as_the_shell_shows_it(
    kws_project: Path, tmp_path: Path
) -> None:
    missing = _named(tmp_path, b"no", b"\xff", b".wav")
    proc = run_cli("emulate", str(kws_project), "--wav", str(missing))
    assert proc.returncode == 1
    # Before: "error: '.../no\udcff.wav': cannot read: ..." (tinyslm.audio.wav quoted the
    # path as its repr).
    assert _clean(proc.stderr) == [
        f"error: '{tmp_path}/no\\xff.wav': cannot read: No such file or directory"
    ]


@pytest.mark.parametrize("odd", NAMES)
def test_the_emulator_banner_names_the_project_as_the_shell_shows_it(
    esp32_project: Path, tmp_path: Path, odd: bytes
) -> None:
    require_tool("cc")
    project = _named(tmp_path, b"p", odd)
    shutil.copytree(esp32_project, project)
    # Standard input a terminal (the banner is for a user typing), Ctrl-D at once.
    leader, follower = pty.openpty()
    try:
        os.write(leader, b"\x04")
        proc = _run_bytes("emulate", str(project), stdin=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 0, proc.stderr
    shown = f"{tmp_path}/p{one_line(os.fsdecode(odd))}"
    # Before: "... esp32 project .../p\udcff; type ...", or the line split at the break.
    assert _clean(proc.stderr.decode("utf-8")) == [
        f"tinyslm emulator: esp32 project {shown}; type a phrase or :info, Ctrl-D to quit"
    ]


@pytest.mark.parametrize("odd", NAMES)
def test_an_unusable_cache_entry_is_one_warning_naming_it_as_the_shell_does(
    esp32_project: Path, tmp_path: Path, odd: bytes
) -> None:
    require_tool("cc")
    cache = _named(tmp_path, b"cache", odd)
    env = {"TINYSLM_CACHE_DIR": str(cache)}
    first = run_cli("emulate", str(esp32_project), "--text", "hi", env=env)
    assert first.returncode == 0, first.stderr
    (lib,) = cache.glob("emulate/*/libtinyslm_emu.so")
    lib.write_bytes(b"cut short")  # as a full disk leaves it
    again = run_cli("emulate", str(esp32_project), "--text", "hi", env=env)
    # Before: with 0xff, "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff" from
    # ctypes, rc 1; with a line break, the warning in two lines.
    assert again.returncode == 0, again.stderr
    lines = _clean(again.stderr)
    assert len(lines) == 1, lines
    shown = f"{tmp_path}/cache{one_line(os.fsdecode(odd))}/emulate/{lib.parent.name}"
    # The reason is the loader's own words (glibc: "file too short").
    assert lines[0].startswith(f"warning: the cache entry {shown}/libtinyslm_emu.so is "), lines
    assert lines[0].endswith("); rebuilding it"), lines
    assert lib.stat().st_size > len(b"cut short")  # built again


@pytest.mark.parametrize(
    "given", [["--board", os.fsdecode(b"x\xff")], [os.fsdecode(b"--board=x\xff")]]
)
def test_click_usage_errors_show_a_typed_byte_as_the_shell_does(given: list[str]) -> None:
    proc = run_cli("generate", *given)
    assert proc.returncode == 1
    (line,) = _clean(proc.stderr)
    # click quotes a value as its repr: before, "'x\\udcff' is not one of ...".
    assert line.startswith(
        "error: Invalid value for '--board': 'x\\xff' is not one of 'esp32', 'stm32h7'."
    ), line


def test_a_usage_error_of_tinyslm_names_the_path_as_the_shell_does(tmp_path: Path) -> None:
    data = _named(tmp_path, b"d", b"\xff", b".csv")
    data.write_text("text,label\n")
    proc = run_cli("train", str(data), "--json", str(data))
    assert proc.returncode == 1
    (line,) = _clean(proc.stderr)
    # Before: "error: --json names the input .../d\\udcff.csv; ...".
    assert line.startswith(
        f"error: --json names the input {tmp_path}/d\\xff.csv; give another file name"
    ), line


class _Unplugged(FakePort):
    """A board whose cable is pulled as soon as the recording starts."""

    def read(self, n: int) -> bytes:
        raise OSError(5, "Input/output error")


@pytest.mark.parametrize("odd", NAMES)
def test_monitor_wav_names_the_recording_as_the_shell_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: bytes
) -> None:
    wav = _named(tmp_path, b"clip", odd, b".wav")
    write_wav(wav, np.zeros(8000, dtype=np.int16))
    use_port(monkeypatch, _Unplugged())
    result = CliRunner().invoke(cli, ["monitor", "--wav", str(wav), "--port", "fake", "--fast"])
    assert result.exit_code == 1  # the port closed; the line before it is the one here
    lines = _clean(result.stderr)
    # Before: "monitor: .../clip\\udcff.wav (0.5 s) to fake ...", or split at the break.
    assert lines[0] == (
        f"monitor: {tmp_path}/clip{one_line(os.fsdecode(odd))}.wav (0.5 s) to fake at 115200 baud"
    )
    assert len(lines) == 2 and lines[1].startswith("error: "), lines


@pytest.mark.parametrize("odd", NAMES)
def test_tflm_fetch_names_the_tree_as_the_shell_does(tmp_path: Path, odd: bytes) -> None:
    tree = fake_tree(_named(tmp_path, b"t", odd))
    proc = _run_bytes("tflm", "fetch", "--cache-dir", str(tree))
    assert proc.returncode == 0, proc.stderr
    # Before: "TFLM tree already at .../t\\udcff", or split at the break.
    assert _clean(proc.stderr.decode("utf-8")) == [
        f"TFLM tree already at {tmp_path}/t{one_line(os.fsdecode(odd))}"
    ]
