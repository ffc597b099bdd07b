"""Refusals that named the wrong problem, and a signal that cut the exit short.

- ``generate --label-threshold 'temp=20=1.5'`` for a model whose label is ``temp=20``:
  "more than one threshold", though the item is that label with a P out of range.
- A ``.tsv`` whose header quotes one of text and label: "missing column(s) text".
- ``train EMPTY.csv --keyword-model ...``: refused for the keyword option, not for the
  file being empty (a file with no row names no ``.wav``, so it is taken for text).
- A SIGTERM while the interpreter exits, after the command finished, was: exit 143 and no
  error line (or a KeyboardInterrupt traceback from an atexit callback).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.errors import DatasetError
from tinyslm.manifest import load_model_dir
from tinyslm.text.dataset import load_dataset

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = ROOT / "tests" / "fixtures" / "model"
FIXTURE_CSV = ROOT / "tests" / "fixtures" / "fixture_commands.csv"


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# --- generate --label-threshold with a label holding '=' ---------------------------


@pytest.fixture(scope="module")
def equals_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture model with its first label renamed 'temp=20' (manifest re-hashed)."""
    folder = tmp_path_factory.mktemp("eq") / "model"
    shutil.copytree(FIXTURE_MODEL, folder)
    manifest, _ = load_model_dir(folder, probe_arena=False)
    manifest = replace(manifest, labels=("temp=20", *manifest.labels[1:]))
    (folder / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2))
    return folder


@pytest.mark.parametrize(
    ("given", "said"),
    [
        # Both were "--label-threshold 'temp=20=1.5': more than one threshold; give one
        # LABEL=P, e.g. temp=0.9".
        (
            "temp=20=1.5",
            "error: --label-threshold temp=20=1.5 (label 'temp=20', P 1.5): "
            "must be between 0 and 1, both excluded (0 < P < 1)",
        ),
        (
            "temp=20=0.999",
            "error: --label-threshold temp=20=0.999 (label 'temp=20', P 0.999): above the "
            "highest score the model's int8 output can give (0.99609375), so nothing would "
            "ever pass it",
        ),
    ],
)
def test_a_label_holding_equals_with_its_p_out_of_range_is_said_so(
    equals_model: Path, tmp_path: Path, given: str, said: str
) -> None:
    out = tmp_path / "proj"
    result = CliRunner().invoke(
        cli,
        ["generate", "--board", "esp32", "--model", str(equals_model), "-o", str(out),
         "--label-threshold", given],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert _error_lines(result.stderr) == [said], result.stderr
    assert not out.exists()


def test_the_label_threshold_forms_accepted_before_still_are(
    equals_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "proj"
    args = ["generate", "--board", "esp32", "--model", str(equals_model), "-o", str(out), "-q"]
    result = CliRunner().invoke(cli, [*args, "--label-threshold", "temp=20=0.5"])
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "tinyslm.json").read_text())["manifest"]
    assert recorded["label_thresholds"] == {"temp=20": {"threshold": 0.5, "threshold_q": 0}}
    # Two thresholds in one option, for a label the model lacks: still said so.
    result = CliRunner().invoke(cli, [*args, "--label-threshold", "door_unlock=0.9=1"])
    assert result.exit_code == 1
    assert _error_lines(result.stderr) == [
        "error: --label-threshold 'door_unlock=0.9=1': more than one threshold; give one "
        "LABEL=P, e.g. door_unlock=0.9"
    ], result.stderr


# --- a .tsv header with one of its names quoted -------------------------------------


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ('"text"\tlabel', 'the column name "text" is quoted but label is not'),
        ('text\t"label"', 'the column name "label" is quoted but text is not'),
        # A quoted "split" under bare text and label was another column, ignored: the
        # rows' splits were dropped for a seeded split without a word.
        ('text\tlabel\t"split"', 'the column name "split" is quoted but text and label are'),
        ('"text"\tlabel\t"split"', 'the column names "text" and "split" are quoted but label'),
    ],
)
def test_a_tsv_header_quoting_some_names_says_so(tmp_path: Path, header: str, said: str) -> None:
    path = tmp_path / "h.tsv"
    split = "\ttrain" if "split" in header else ""
    path.write_text(
        header + "\n" + "".join(f'"{t}"\t{lb}{split}\n' for t, lb in (("a", "x"), ("b", "y")))
    )
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    # Was "line 1: missing column(s) text; the header must name text and label ...".
    assert message.startswith(f"{path}: line 1: {said}"), message
    assert "missing column" not in message and "\n" not in message
    assert message.endswith(
        "a .tsv is read with CSV quoting only when text and label are both quoted, else "
        "literally, quotes and all: quote every column name or none"
    )


# --- train EMPTY --keyword-model -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("empty.csv", "", "no rows (the dataset is empty)"),
        ("header.csv", "text,label\n", "no rows (the dataset is empty)"),
        ("blank.csv", "text,label\n\n,\n", "no rows (the dataset is empty)"),
        ("empty.jsonl", "\n", "no rows (the dataset is empty)"),
        ("empty.tsv", "text\tlabel\n", "no rows (the dataset is empty)"),
        ("missing.csv", None, "dataset not found"),
    ],
)
@pytest.mark.parametrize("option", [["--keyword-model", "small"], ["--stride-ms", "40"]])
def test_an_empty_dataset_is_refused_for_being_empty_not_for_a_keyword_option(
    tmp_path: Path, name: str, content: str | None, said: str, option: list[str]
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    out = tmp_path / "model"
    result = CliRunner().invoke(cli, ["train", str(path), *option, "-o", str(out)])
    assert result.exit_code == 1, result.output
    # Was "error: --keyword-model: audio keyword options; DATA is a text intent dataset".
    assert _error_lines(result.stderr) == [f"error: {path}: {said}"], result.stderr
    assert not out.exists()


def test_a_text_dataset_with_rows_still_refuses_keyword_options(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["train", str(FIXTURE_CSV), "--keyword-model", "small", "-o", str(tmp_path / "m")]
    )
    assert result.exit_code == 1
    (line,) = _error_lines(result.stderr)
    assert line.startswith(
        "error: --keyword-model: audio keyword options; DATA is a text intent dataset"
    ), result.stderr


# --- a signal while the interpreter exits --------------------------------------------

# tinyslm as a terminal starts it, with a SIGTERM arriving at a chosen point of the exit,
# after the command ('boards') has finished and printed its table.
LATE_SIGNAL = """
import atexit, os, signal, sys, threading, time
from tinyslm import cli

for sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_DFL)


def late():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)  # a signal to one's own process is delivered before kill returns


class Teardown:
    # Module teardown: after CPython has put the default action back for Python handlers.
    def __del__(self):
        late()


def hung():
    # A thread the exit waits for (threading's shutdown joins it) that never ends.
    time.sleep(3)  # 'boards' has long finished by then
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(600)


if sys.argv[1] == "atexit":
    atexit.register(late)  # registered first, so run after any main() registers
elif sys.argv[1] == "hung":
    threading.Thread(target=hung).start()
else:
    keep = Teardown()
sys.argv = ["tinyslm", "boards"]
cli.main()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX")
@pytest.mark.parametrize("when", ["atexit", "teardown", "hung"])
def test_a_signal_while_exiting_keeps_the_commands_exit_status(tmp_path: Path, when: str) -> None:
    script = tmp_path / "late.py"
    script.write_text(LATE_SIGNAL)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), when], capture_output=True, text=True, env=env, timeout=120
    )
    # Was -15 (143 in a shell) and no error line at teardown; a KeyboardInterrupt
    # traceback ("Exception ignored in atexit callback") at atexit; with an exit hung on a
    # thread, a traceback from threading's shutdown (and, had the signal been ignored
    # instead, no exit at all: the timeout).
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "esp32" in done.stdout
    assert done.stderr == "", done.stderr
