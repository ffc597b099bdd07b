"""Round 52: a keyword dataset's name is recorded as UTF-8 text.

The manifest records the folder's or list's name (and each ``--extra-train`` set's), and
the report page and a project's tinyslm.json repeat it. A name with a byte that is not
UTF-8 (Linux allows 0xff in a file name; Python holds it as the lone surrogate U+DCFF)
reached the report as such, and training ended in a UnicodeEncodeError traceback after
the whole run, as the text side did before H1's fix. ``eval`` compares the same name, so
the folder a model was trained on is still recognised.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tinyslm.audio.dataset import dataset_name
from tinyslm.audio.fit import _recorded_config
from tinyslm.audio.train import AudioTrainConfig

UNDECODABLE = os.fsdecode(b"clips\xff")


def test_an_undecodable_name_is_recorded_as_the_shell_shows_it(tmp_path: Path) -> None:
    folder = tmp_path / UNDECODABLE
    name = dataset_name(folder)
    assert name == "clips\\xff"
    json.dumps(name, ensure_ascii=False).encode("utf-8")  # what the manifest writer does
    # Ordinary names are unchanged, '.' still resolves to the folder's own name.
    assert dataset_name(tmp_path / "speech_commands") == "speech_commands"
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert dataset_name(".") == tmp_path.name
    finally:
        os.chdir(cwd)


def test_a_line_break_in_the_name_stays_on_the_line(tmp_path: Path) -> None:
    assert dataset_name(tmp_path / "a\nb") == "a\\nb"


def test_extra_train_sets_are_recorded_by_that_name(tmp_path: Path) -> None:
    cfg = AudioTrainConfig(extra_train=(str(tmp_path / UNDECODABLE), str(tmp_path / "more")))
    recorded = _recorded_config(cfg)["extra_train"]
    assert recorded == ["clips\\xff", "more"]
    json.dumps(recorded, ensure_ascii=False).encode("utf-8")
