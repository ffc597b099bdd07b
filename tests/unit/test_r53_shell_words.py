"""Commands that a message tells a user to paste name the very folder, when its name holds
a byte that is not UTF-8 (round 53). ``shlex.quote`` of such a path gave ``'.../t\\udcff'``,
shown as ``'.../t\\xff'``: single quotes keep those four characters, so the pasted
command named a folder that does not exist. F2b fixed build's and flash's refusal; these
are the three other places that wrote such a command with ``shlex.quote``."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from shell_paths import bash_words

from tinyslm.audio.synth import _check_not_in_a_dataset
from tinyslm.cli import one_word_note
from tinyslm.errors import OutputExistsError
from tinyslm.outdir import TreeBlock

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

RAW = os.fsdecode(b"t\xff")  # a name with an undecodable byte, as Python lists it


def _bash_words(text: str) -> list[bytes]:
    """The ANSI-C quoted words (``$'...'``) in ``text``, as bash reads them back."""
    words = re.findall(r"\$'(?:[^'\\]|\\.)*'", text)
    assert words, text
    return [word for found in words for word in bash_words(found)]


def test_one_word_notes_commands_name_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / RAW
    note = one_word_note("yes", folder)
    assert _bash_words(note) == [os.fsencode(folder)] * 2


def test_a_tree_blocks_mv_names_the_file_and_a_free_name(tmp_path: Path) -> None:
    project = tmp_path / RAW
    (project / "lib").mkdir(parents=True)
    (project / "lib" / "tflm").write_text("mine\n")
    block = TreeBlock(project / "lib" / "tflm", "lib/tflm", "a file, not a folder", "lib/tflm")
    step = block.step()
    assert step.startswith("move it away yourself (mv $'")
    assert _bash_words(step) == [
        os.fsencode(project / "lib" / "tflm"),
        os.fsencode(project / "lib" / "tflm.mine"),
    ]


def test_synth_inside_a_dataset_names_both_folders(tmp_path: Path) -> None:
    data = tmp_path / RAW
    for word in ("yes", "no"):
        (data / word).mkdir(parents=True)
        (data / word / "a_nohash_0.wav").write_bytes(b"")
    with pytest.raises(OutputExistsError) as caught:
        _check_not_in_a_dataset(data / "synth")
    beside = os.fsencode(tmp_path / os.fsdecode(b"t\xff-synth"))
    assert _bash_words(str(caught.value)) == [beside, os.fsencode(data), beside]
