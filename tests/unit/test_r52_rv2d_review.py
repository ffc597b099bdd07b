"""Round 52 (review of a09e4aa, 6c2cf39, 4b2c228, 17b168c, 49ff9ce): cases those commits
missed.

- ``extends = a,b``: PlatformIO splits a list option at a line break, else at ``", "``
  (``parse_multi_values``), so a bare comma names one section, ``a,b``, which it finds
  none of; tinyslm split at the comma and checked b's file, one the build does not read.
- A keyword model trained before 6c2cf39 with an ``--extra-train`` folder whose name is
  not UTF-8 recorded it as a lone surrogate in ``train_config``; a09e4aa refuses one in
  the metrics only, so ``generate`` still ended in a UnicodeEncodeError traceback writing
  tinyslm.json (the whole manifest).
- A ``synth.json`` nested thousands deep (a damaged file) beside a ``silence/`` folder:
  4b2c228 reads it to exempt the words synth spoke, and json's RecursionError ended
  ``train`` in a traceback.
- A data path's name that is not UTF-8 on the lines and in the ``--json`` a user reads
  (``report --data``'s wrote line, keyword ``eval`` and ``emulate --data``): below.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tinyslm.audio.dataset import load_audio_dataset
from tinyslm.audio.wav import write_wav
from tinyslm.cli import cli
from tinyslm.emulate.keywords import format_data_result
from tinyslm.errors import DatasetError
from tinyslm.manifest import load_model_dir
from tinyslm.toolchain.sdkconfig import pio_configs, unchecked_configs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures.kws import keyword_manifest, keyword_model_dir

PATH = "board_build.esp-idf.sdkconfig_path"

# Each a platformio.ini with one env x, and the file PlatformIO's build reads for it
# (None: it sets none, so the build reads sdkconfig.x).
CASES = {
    "a bare comma names one section": (
        f"[a]\n{PATH} = a.cfg\n[b]\n{PATH} = b.cfg\n[env:x]\nextends = a,b\n",
        None,
    ),
    "a bare comma, [env]'s value": (
        f"[env]\n{PATH} = e.cfg\n[a]\n{PATH} = a.cfg\n[b]\n{PATH} = b.cfg\n"
        "[env:x]\nextends = a,b\n",
        "e.cfg",
    ),
    "one a line: 'a, b' on a line is one section": (
        f"[a]\n{PATH} = a.cfg\n[b]\n{PATH} = b.cfg\n[c]\nd = 1\n[env:x]\nextends =\n  a, b\n  c\n",
        None,
    ),
    "a comment after the sections": (
        f"[a]\n{PATH} = a.cfg\n[b]\n{PATH} = b.cfg\n[env:x]\nextends = a, b ; the bases\n",
        "b.cfg",
    ),
}


@pytest.mark.parametrize(("ini", "expected"), CASES.values(), ids=list(CASES))
def test_extends_is_split_as_platformio_splits_it(
    tmp_path: Path, ini: str, expected: str | None
) -> None:
    """Before: ``b.cfg`` for each of the first three."""
    assert pio_configs(tmp_path, ini) == [tmp_path / (expected or "sdkconfig.x")]
    assert unchecked_configs(tmp_path, ini) == []


@pytest.mark.parametrize(("ini", "expected"), CASES.values(), ids=list(CASES))
def test_platformio_itself_reads_extends_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ini: str, expected: str | None
) -> None:
    """The expectations above are PlatformIO's own (the installed package, offline)."""
    config_module = pytest.importorskip("platformio.project.config")
    (tmp_path / "platformio.ini").write_text(ini, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = config_module.ProjectConfig(str(tmp_path / "platformio.ini"))
    assert config.get("env:x", PATH, None) == expected


def test_a_lone_surrogate_in_train_config_is_read_as_the_shell_shows_it(tmp_path: Path) -> None:
    # What 'train --extra-train $'ex\xff'' recorded before 6c2cf39 (the report page does
    # not show the extra sets, so that training ended well). Round 52 refused the model
    # ("train the model again"); round 53 reads the name as 6c2cf39 records it, and
    # generate's tinyslm.json (UTF-8, the whole manifest) holds it so.
    from tinyslm.boards import load_board
    from tinyslm.emit.project import render_project

    config = {"extra_train": ["ex\udcff"], "seed": 0}
    model = keyword_model_dir(
        tmp_path / "m", dataclasses.replace(keyword_manifest(), train_config=config)
    )
    assert '"ex\\udcff"' in (model / "manifest.json").read_text(encoding="utf-8")
    manifest, tflite = load_model_dir(model, probe_arena=False)
    assert manifest.train_config == {"extra_train": ["ex\\xff"], "seed": 0}
    plan = render_project(load_board("esp32"), manifest, tflite)
    written = next(f for f in plan.files if f.path == "tinyslm.json")
    project = json.loads(written.data.decode("utf-8"))
    assert project["manifest"]["train_config"]["extra_train"] == ["ex\\xff"]


def test_utf8_text_in_train_config_is_kept(tmp_path: Path) -> None:
    config = {"extra_train": ["exé", "more"], "nested": {"k": ["ü"]}}
    model = keyword_model_dir(
        tmp_path / "m", dataclasses.replace(keyword_manifest(), train_config=config)
    )
    manifest, _ = load_model_dir(model, probe_arena=False)
    assert manifest.train_config == config


def _clips(folder: Path, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(6):
        with wave.open(str(folder / f"spk{i:02d}_nohash_0.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(rng.normal(0, 3000, 16000).astype("<i2").tobytes())


def test_a_synth_record_nested_deep_is_no_traceback(tmp_path: Path) -> None:
    root = tmp_path / "syn"
    for seed, label in enumerate(("silence", "yes", "no")):
        _clips(root / label, seed)
    (root / "synth.json").write_text(json.dumps({"words": ["silence", "yes", "no"]}))
    # A readable record exempts the word synth spoke (4b2c228's case).
    assert "silence" in load_audio_dataset(root).labels
    (root / "synth.json").write_text("[" * 100_000)
    # Before: RecursionError, a traceback. A damaged record exempts nothing.
    with pytest.raises(DatasetError, match="label 'silence' would be trained as a keyword"):
        load_audio_dataset(root)


# --- names not UTF-8 on the lines and in the --json a user reads ------------------------
# a09e4aa and 6c2cf39 record the name as the shell shows it; these three still printed it
# raw: on a terminal whose stdout is strict UTF-8 (Python's for a UTF-8 locale other than
# C.UTF-8, such as en_US.UTF-8) that was a UnicodeEncodeError traceback after the work was
# done, and --json held the lone surrogate (JSON's "\udcff", which strict parsers refuse).

NOT_UTF8 = os.fsdecode(b"\xff")


def test_report_data_s_wrote_line_shows_the_name_so(tmp_path: Path) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    data = tmp_path / f"cmds{NOT_UTF8}.csv"
    data.write_bytes((fixtures / "fixture_commands.csv").read_bytes())
    out = tmp_path / "r.html"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    done = subprocess.run(
        [sys.executable, "-m", "tinyslm", "report", str(fixtures / "model"), "--data", str(data),
         "-o", str(out)],
        capture_output=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-300:]
    assert done.stdout.decode() == f"wrote {out} (figures from {tmp_path}/cmds\\xff.csv)\n"


def _wav_list(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = ["path,label,split"]
    for i, label in enumerate(("yes", "yes", "no")):
        rng = np.random.default_rng(i)
        path = folder / f"{label}_{i}_nohash_0.wav"
        write_wav(path, rng.normal(0, 2000, 16000).clip(-32768, 32767).astype(np.int16))
        lines.append(f"{path},{label},test")
    out = folder / f"list{NOT_UTF8}.csv"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def test_keyword_eval_shows_the_name_so_and_knows_its_dataset(tmp_path: Path) -> None:
    # As train records it (6c2cf39): eval takes the list for the one train measured.
    trained = {"dataset": "list\\xff.csv", "eval_split": "test", "n_test": 3}
    manifest = dataclasses.replace(keyword_manifest(), metrics=trained)
    model = keyword_model_dir(tmp_path / "kw", manifest)
    data = _wav_list(tmp_path / "data")
    result = CliRunner().invoke(cli, ["eval", str(model), str(data), "--json", "-"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["source"] == f"{tmp_path}/data/list\\xff.csv"
    assert doc["trained_same_dataset"] is True
    assert "\\udcff" not in result.stdout
    result = CliRunner().invoke(cli, ["eval", str(model), str(data)])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.split() == ["dataset", f"{tmp_path}/data/list\\xff.csv", "(test", "split)"]


def test_keyword_emulate_data_shows_the_name_so() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_r44_json_figures import _data_result, _figures

    result = dataclasses.replace(_data_result(_figures()), source=f"room{NOT_UTF8}")
    assert result.summary()["source"] == "room\\xff"
    text = format_data_result(result, "emulator")
    assert text.splitlines()[0].startswith("emulator: room\\xff [test], ")
    text.encode("utf-8")
