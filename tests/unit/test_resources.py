"""tinyslm.resources.firmware_files: which hand-written sources a modality's project gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyslm.resources import FIRMWARE_SUFFIXES, firmware_dir, firmware_files


def _tree(root: Path, names: dict[str, str]) -> Path:
    for rel, text in names.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_common_plus_the_modality_folder_by_flat_name(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "common/tinyslm_json.c": "",
            "common/tinyslm_json.h": "",
            "common/README.md": "",
            "text/tinyslm_core.c": "",
            "text/notes.txt": "",
            "audio/tinyslm_listen.c": "",
            "tinyslm_stray.c": "",  # top level: no modality's
        },
    )
    files = firmware_files("text", root)
    assert list(files) == ["tinyslm_core.c", "tinyslm_json.c", "tinyslm_json.h"]
    assert files["tinyslm_core.c"] == root / "text" / "tinyslm_core.c"
    assert files["tinyslm_json.h"] == root / "common" / "tinyslm_json.h"
    assert list(firmware_files("audio", root)) == [
        "tinyslm_json.c",
        "tinyslm_json.h",
        "tinyslm_listen.c",
    ]


def test_a_name_in_both_folders_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"common/tinyslm_gate.h": "", "text/tinyslm_gate.h": ""})
    with pytest.raises(ValueError, match=r"would both be src/tinyslm_gate\.h"):
        firmware_files("text", root)


@pytest.mark.parametrize("name", ["common", "", "../text", "text/x"])
def test_only_modality_folder_names(tmp_path: Path, name: str) -> None:
    _tree(tmp_path, {"common/a.c": "", "text/b.c": ""})
    with pytest.raises(ValueError, match="is not a modality firmware folder"):
        firmware_files(name, tmp_path)


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    _tree(tmp_path, {"common/a.c": ""})
    with pytest.raises(FileNotFoundError, match="speech/ is missing"):
        firmware_files("speech", tmp_path)


def test_the_bundled_firmware() -> None:
    """The checkout's (or wheel's) folders: what emit, the emulator and the tests use."""
    text = firmware_files("text")
    audio = firmware_files("audio")
    common = {n for n in text if text[n].parent.name == "common"}
    assert common == {
        "tinyslm_gate.c",
        "tinyslm_gate.h",
        "tinyslm_json.c",
        "tinyslm_json.h",
        "tinyslm_mean.cc",
        "tinyslm_mean.h",
        "tinyslm_tflm.cc",
        "tinyslm_tflm.h",
    }
    assert common <= set(audio)
    assert {"tinyslm_core.c", "tinyslm_core.h", "tinyslm_tokenizer.c"} <= set(text)
    assert "tinyslm_core.c" not in audio
    # every source file below firmware/ belongs to common/ or a modality folder
    root = firmware_dir()
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix in FIRMWARE_SUFFIXES]
    assert loose == []
