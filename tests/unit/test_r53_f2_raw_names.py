"""A model whose manifest already holds a raw undecodable file name is taken, not refused.

A text model trained with ``--no-report`` on ``cmds\\xff.csv`` before round 52 recorded
``"dataset": "cmds\\udcff.csv"`` (JSON's escape of the lone surrogate Python holds the
byte 0xff as); a keyword model so an ``--extra-train`` folder in ``train_config``.
Round 52 refused such a manifest as it was read, so ``info``, ``eval`` and
``emulate --host-model`` stopped with "train the model again" over a name the model does
not depend on (metrics and train_config are outside the content hash), and ``train
--force`` into the model's own folder, the retraining it asked for, refused to replace
it. The name is now read as the shell shows it, ``cmds\\xff.csv``, which is what a
tinyslm of now records for that file: every command takes the model, ``eval`` knows its
dataset, and what generate writes is UTF-8 text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tinyslm import pipeline
from tinyslm.errors import one_line, utf8_text
from tinyslm.manifest import MANIFEST_NAME, MAX_NESTING, load_model_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOT_UTF8 = os.fsdecode(b"cmds\xff.csv")  # 'cmds\udcff.csv'
# A terminal whose stdout takes only UTF-8 (Python's on a UTF-8 locale such as
# en_US.UTF-8): a lone surrogate printed there is a UnicodeEncodeError traceback.
STRICT = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}


def _raw_model(tmp_path: Path) -> Path:
    """The text fixture model as a tinyslm before round 52 wrote it for ``cmds\\xff.csv``
    (``train --no-report``): the name's byte as JSON's ``\\udcff``."""
    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "model", model)
    manifest = model / MANIFEST_NAME
    text = manifest.read_text(encoding="utf-8")
    assert '"dataset": "fixture_commands.csv"' in text
    manifest.write_text(text.replace("fixture_commands.csv", "cmds\\udcff.csv"), encoding="utf-8")
    return model


def _tinyslm(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tinyslm", *map(str, args)],
        capture_output=True, env={**os.environ, **STRICT}, timeout=300, check=False,
    )  # fmt: skip


def _ok(done: subprocess.CompletedProcess[bytes]) -> str:
    err = done.stderr.decode(errors="backslashreplace")
    assert done.returncode == 0, err[-600:]
    assert "Traceback" not in err, err[-600:]
    return done.stdout.decode("utf-8")  # strict: a lone surrogate cannot be in it


def test_utf8_text_writes_only_lone_surrogates_as_the_shell_shows_them() -> None:
    assert utf8_text(NOT_UTF8) == "cmds\\xff.csv" == one_line(NOT_UTF8)
    # A line break is no problem to a UTF-8 file: only what it cannot hold is changed.
    assert utf8_text("two\nlines é.csv") == "two\nlines é.csv"
    assert utf8_text("\ud800x") == "\\ud800x"  # a high surrogate has no byte it stands for
    utf8_text("\ud800" + NOT_UTF8).encode("utf-8")


def test_the_manifest_is_read_with_the_name_as_the_shell_shows_it(tmp_path: Path) -> None:
    # Before: ModelError "field 'metrics': 'dataset': 'cmds\udcff.csv' holds a lone
    # surrogate, ... train the model again)".
    manifest, _ = load_model_dir(_raw_model(tmp_path), probe_arena=False)
    assert manifest.metrics["dataset"] == "cmds\\xff.csv"
    json.dumps(manifest.to_dict(), ensure_ascii=False).encode("utf-8")


def test_info_eval_and_emulate_take_the_model(tmp_path: Path) -> None:
    model = _raw_model(tmp_path)
    assert _ok(_tinyslm("info", model)).startswith("path ")
    # eval on the file it was trained on knows it for train's dataset: the name as a
    # tinyslm of now records it (load_dataset's source) is the name as read.
    data = tmp_path / NOT_UTF8
    shutil.copyfile(FIXTURES / "fixture_commands.csv", data)
    doc = json.loads(_ok(_tinyslm("eval", model, data, "--json", "-")))
    assert doc["trained_same_dataset"] is True
    # generate writes the name into tinyslm.json (UTF-8): before, the refusal; and
    # before round 52, a UnicodeEncodeError traceback.
    project = tmp_path / "proj"
    _ok(_tinyslm("generate", "--model", model, "--board", "esp32", "-o", project))
    recorded = json.loads((project / "tinyslm.json").read_text(encoding="utf-8"))
    assert recorded["manifest"]["metrics"]["dataset"] == "cmds\\xff.csv"
    # emulate --host-model loads the model folder (the same as monitor's).
    said = _ok(_tinyslm("emulate", project, "--text", "turn on", "--host-model", model))
    assert json.loads(said.splitlines()[0])["intent"]


def test_train_force_replaces_such_a_model(tmp_path: Path) -> None:
    # The retraining the refusal asked for: --force refused the folder as not tinyslm's
    # ("manifest.json (not as tinyslm writes it: manifest is malformed: ...").
    assert pipeline._check_model_manifest(_raw_model(tmp_path) / MANIFEST_NAME) is None


def test_a_keyword_model_s_extra_train_name_is_read_so(tmp_path: Path) -> None:
    import dataclasses

    sys.path.insert(0, str(FIXTURES.parent))
    from fixtures.kws import keyword_manifest, keyword_model_dir

    config = {"extra_train": ["ex\udcff"], "nested": {"k\udcfe": ["a\udcff"]}, "seed": 0}
    model = keyword_model_dir(
        tmp_path / "m", dataclasses.replace(keyword_manifest(), train_config=config)
    )
    manifest, _ = load_model_dir(model, probe_arena=False)
    assert manifest.train_config == {
        "extra_train": ["ex\\xff"],
        "nested": {"k\\xfe": ["a\\xff"]},
        "seed": 0,
    }


def test_a_train_config_nested_deep_is_read(tmp_path: Path) -> None:
    # The deepest the reader takes (train_config and MAX_NESTING - 1 objects in it); past
    # it, a one-line refusal (test_r53_rvf2_review: the commands after the reader recurse).
    depth = MAX_NESTING - 1
    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "model", model)
    manifest = model / MANIFEST_NAME
    deep = '{"a": ' * depth + '"x\\udcff"' + "}" * depth
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace('"train_config": {', f'"train_config": {{"deep": {deep},', 1))
    value = load_model_dir(model, probe_arena=False)[0].train_config["deep"]
    for _ in range(depth):
        value = value["a"]
    assert value == "x\\xff"
