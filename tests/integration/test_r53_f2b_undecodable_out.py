"""An output folder named with a byte that is not UTF-8 (``out\\xff``), stdout strict UTF-8.

Python holds such a byte as a lone surrogate (``'\\udcff'``), which a UTF-8 stdout
(``PYTHONIOENCODING=utf-8:strict``, as on a UTF-8 locale's terminal) refuses. Before
round 53 (F2b), ``train -o out\\xff`` wrote the model and then ended in a
UnicodeEncodeError traceback printing its summary table (rc 1, the ``--json`` file
never written); ``train --json -`` printed ``"out": ".../out\\udcff"``, which strict
JSON parsers refuse; ``synth -o syn\\xff`` wrote the dataset and then ended in the same
traceback on its ``wrote`` line; and ``synth -o`` naming a file showed the byte as
U+FFFD. Every one of them now shows the byte as every error does, ``\\xff``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import REPO
from shared_paths import require_tool

from tinyslm.errors import one_line

FIXTURE_CSV = REPO / "tests" / "fixtures" / "fixture_commands.csv"
TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "1"]
# A terminal that takes only UTF-8: a lone surrogate printed there is a traceback.
STRICT = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _raw(folder: Path, name: bytes) -> Path:
    """``folder / name`` for a name that is not UTF-8 (Python's ``'\\udcff'``)."""
    return folder / os.fsdecode(name)


def _tinyslm(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, **STRICT}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "tinyslm", *map(str, args)],
        capture_output=True, env=env, timeout=600, check=False,
    )  # fmt: skip


def _ok(done: subprocess.CompletedProcess[bytes]) -> tuple[str, str]:
    """stdout (decoded strictly: it cannot hold a lone surrogate) and stderr of a run
    that exited 0 with no traceback."""
    err = done.stderr.decode("utf-8", "backslashreplace")
    assert done.returncode == 0, err[-800:]
    assert "Traceback" not in err, err[-800:]
    return done.stdout.decode("utf-8"), err


def _row(table: str, key: str) -> str:
    """The value of ``key``'s row in train's summary table."""
    rows = [line for line in table.splitlines() if line.startswith(f"{key} ")]
    assert len(rows) == 1, table
    return rows[0][len(key) :].strip()


@pytest.mark.slow
def test_train_into_such_a_folder_prints_its_table_and_writes_the_json_file(
    tmp_path: Path,
) -> None:
    # Before: "UnicodeEncodeError: 'utf-8' codec can't encode character '\udcff' ...",
    # rc 1, after the model was written; t\xff.json not written.
    out = _raw(tmp_path, b"out\xff")
    json_file = _raw(tmp_path, b"t\xff.json")
    stdout, _ = _ok(_tinyslm("train", FIXTURE_CSV, "-o", out, "--json", json_file, *TINY))
    assert (out / "model.tflite").is_file()
    shown = str(tmp_path) + "/out\\xff"
    assert _row(stdout, "output") == shown == one_line(str(out))
    assert _row(stdout, "report") == shown + "/report.html"
    # The document --json - prints too (the same bytes): before, "out": ".../out\udcff",
    # JSON's escape of a lone surrogate, which jq and JSON.parse refuse.
    raw = json_file.read_bytes()
    assert b"\\u" not in raw
    doc = json.loads(raw.decode("utf-8"))
    assert doc["out"] == shown and doc["report"] == shown + "/report.html"


def test_synth_out_naming_a_file_shows_its_byte_as_the_shell_does(tmp_path: Path) -> None:
    # Before: "Directory '.../cmds\ufffd.csv' is a file." (click's U+FFFD).
    taken = _raw(tmp_path, b"cmds\xff.csv")
    taken.write_text("x\n")
    done = _tinyslm("synth", "yes", "-o", taken)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1 and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert f"'{tmp_path}/cmds\\xff.csv' is a file" in errors[0], errors[0]
    assert "\ufffd" not in err


@pytest.mark.slow
def test_synth_into_such_a_folder_says_what_it_wrote(tmp_path: Path) -> None:
    # Before: the dataset was written, then "UnicodeEncodeError: ... '\udcff' ...", rc 1.
    require_tool("espeak-ng")
    out = _raw(tmp_path, b"syn\xff")
    done = _tinyslm(
        "synth", "yes", "no", "-o", out, "--engine", "espeak-ng", "--max-voices", "1",
        "--clips", "1", "--unknown-clips", "1", "--near-misses", "0",
        "--background-seconds", "1",
    )  # fmt: skip
    stdout, _ = _ok(done)
    assert stdout.startswith(f"wrote {tmp_path}/syn\\xff: "), stdout
    assert (out / "synth.json").is_file()


@pytest.fixture()
def raw_project(tmp_path: Path) -> Path:
    """conftest's minimal_project in a folder ``proj\\xff``."""
    root = _raw(tmp_path, b"proj\xff")
    root.mkdir()
    (root / "tinyslm.json").write_text(
        json.dumps({"board": "esp32", "model_sha256": "0" * 64, "tinyslm_version": "0.1.0"})
    )
    (root / "platformio.ini").write_text("[env:esp32]\nplatform = espressif32@6.9.0\n")
    return root


def test_build_and_flash_of_such_a_project_say_what_they_did(
    fake_pio: Path, raw_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake pio's argv log is a UTF-8 file: the path's byte fails it, not tinyslm.
    monkeypatch.delenv("FAKE_PIO_LOG")
    # Before: PlatformIO ran, then "UnicodeEncodeError: ... '\udcff' ..." printing the
    # "built"/"flashed" line, rc 1; build --json - held "project": ".../proj\udcff".
    shown = one_line(str(raw_project))
    stdout, _ = _ok(_tinyslm("build", raw_project))
    assert stdout.startswith(f"built {shown} for esp32 in "), stdout
    stdout, _ = _ok(_tinyslm("build", raw_project, "--json", "-"))
    assert "\\u" not in stdout
    assert json.loads(stdout)["project"] == shown
    stdout, _ = _ok(_tinyslm("flash", raw_project))
    assert stdout.startswith(f"flashed {shown}; "), stdout


def test_info_json_of_such_a_folder_holds_utf8_text(tmp_path: Path) -> None:
    # Before: "path": ".../model\udcff".
    model = _raw(tmp_path, b"model\xff")
    shutil.copytree(REPO / "tests" / "fixtures" / "model", model)
    stdout, _ = _ok(_tinyslm("info", model, "--json", "-"))
    assert "\\u" not in stdout
    assert json.loads(stdout)["path"] == str(tmp_path) + "/model\\xff"
