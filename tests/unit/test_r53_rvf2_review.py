"""Review of 7210e2b (round 53, F2): what the manifest reader still passed on.

- A ``train_config`` (or ``metrics``) nested 500 deep was read (the escaping is a loop),
  and then ``info --json`` and ``generate`` ended in a RecursionError traceback:
  ``asdict`` and ``json.dumps`` with an indent recurse on what the reader took. Past
  :data:`~tinyslm.manifest.MAX_NESTING` it is now refused in one line, as the manifest
  is read; tinyslm writes a few levels.
- ``tinyslm_version`` is outside the content hash like ``metrics`` and ``train_config``,
  but was read as it was: an edited ``"0.1.0\\udcff"`` ended generate in a
  UnicodeEncodeError traceback writing tinyslm.json, and ``info --json -`` printed the
  lone surrogate (JSON's ``\\udcff``) that no UTF-8 text holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinyslm.boards import load_board
from tinyslm.emit.project import render_project
from tinyslm.errors import ModelError
from tinyslm.manifest import MANIFEST_NAME, MAX_NESTING, load_model_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# A terminal whose stdout takes only UTF-8 (as test_r53_f2_raw_names runs the CLI).
STRICT = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}


def _edited(tmp_path: Path, field: str, insert: str) -> Path:
    """The text fixture model with ``insert`` put first in the object ``field``."""
    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "model", model)
    manifest = model / MANIFEST_NAME
    text = manifest.read_text(encoding="utf-8")
    assert f'"{field}": {{' in text
    manifest.write_text(text.replace(f'"{field}": {{', f'"{field}": {{{insert},', 1))
    return model


def _nested(tmp_path: Path, field: str, depth: int) -> Path:
    """``field`` holding ``depth`` objects inside it, one in the other: ``depth`` + 1 levels."""
    return _edited(tmp_path, field, '"deep": ' + '{"a": ' * depth + '"x"' + "}" * depth)


def _tinyslm(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tinyslm", *map(str, args)],
        capture_output=True, env={**os.environ, **STRICT}, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("field", ["train_config", "metrics"])
@pytest.mark.parametrize("depth", [MAX_NESTING, 500, 900])
def test_an_object_nested_past_the_bound_is_refused_in_one_line(
    tmp_path: Path, field: str, depth: int
) -> None:
    with pytest.raises(ModelError) as caught:
        load_model_dir(_nested(tmp_path, field, depth), probe_arena=False)
    message = str(caught.value)
    assert message.endswith(
        f"manifest is malformed: field '{field}': nested more than {MAX_NESTING} deep,"
        " which tinyslm never writes"
    )
    assert "\n" not in message


def test_the_commands_take_the_deepest_read_and_refuse_past_it(tmp_path: Path) -> None:
    # The bound is below where the commands after the reader fail (near 450).
    deepest = _nested(tmp_path / "ok", "train_config", MAX_NESTING - 1)
    done = _tinyslm("info", deepest, "--json", "-")
    assert done.returncode == 0, done.stderr[-600:]
    assert json.loads(done.stdout)["train_config"]["deep"]["a"]
    done = _tinyslm("generate", "--model", deepest, "--board", "esp32", "-o", tmp_path / "proj")
    assert done.returncode == 0, done.stderr[-600:]
    # Before: rc 1 with a RecursionError traceback ("maximum recursion depth exceeded").
    done = _tinyslm("info", _nested(tmp_path / "bad", "train_config", 500), "--json", "-")
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1
    assert "Traceback" not in err, err[-600:]
    assert err.startswith("error: ") and err.count("\n") == 1, err[-600:]
    assert err.rstrip().endswith(f"nested more than {MAX_NESTING} deep, which tinyslm never writes")


def test_an_edited_version_is_read_as_the_shell_shows_it(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "model", model)
    manifest = model / MANIFEST_NAME
    text = manifest.read_text(encoding="utf-8")
    version = json.loads(text)["tinyslm_version"]
    manifest.write_text(
        text.replace(f'"tinyslm_version": "{version}"', f'"tinyslm_version": "{version}\\udcff"')
    )
    loaded, tflite = load_model_dir(model, probe_arena=False)  # outside the hash: taken
    assert loaded.tinyslm_version == f"{version}\\xff"
    # Before: UnicodeEncodeError writing tinyslm.json (UTF-8, the whole manifest).
    plan = render_project(load_board("esp32"), loaded, tflite)
    written = next(f for f in plan.files if f.path == "tinyslm.json")
    recorded = json.loads(written.data.decode("utf-8"))
    assert recorded["manifest"]["tinyslm_version"] == f"{version}\\xff"
    # Before: "0.1.0\udcff" (JSON's escape of a lone surrogate) in the document.
    done = _tinyslm("info", model, "--json", "-")
    assert done.returncode == 0, done.stderr[-600:]
    assert "\\udc" not in done.stdout.decode("utf-8")
