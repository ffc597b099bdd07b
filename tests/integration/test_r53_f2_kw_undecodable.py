"""A keyword model trained on a folder whose name is not UTF-8, end to end.

6c2cf39 records the folder's name (and each ``--extra-train`` set's) as the shell shows
it: ``kw\\xff``, not the lone surrogate Python holds the byte 0xff as, which ended
keyword training in a UnicodeEncodeError traceback at the report, after the whole run
(and, with --no-report, left ``"kw\\udcff"`` in the manifest for generate to fail on).
Only ``dataset_name``'s unit tests held that: ``fit_audio``'s ``"dataset"`` line could
go back to ``Path(dataset.source).resolve().name`` with every test passing. Here the
fit is real (a slice of speech_commands_dev, a small model, one epoch, no augmentation:
about 25 s), the report included, and the model folder it writes is read back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from shared_paths import dataset_path, require_path

from tinyslm.audio import fit
from tinyslm.audio.train import AudioTrainConfig
from tinyslm.manifest import MANIFEST_NAME, load_model_dir

pytestmark = pytest.mark.slow

DATA = os.fsdecode(b"kw\xff")  # 'kw\udcff'
EXTRA = os.fsdecode(b"ex\xfe")


def _slice(root: Path, out: Path, start: int, stop: int, noise: bool) -> Path:
    """Symlinks to clips ``start:stop`` (by name) of yes and no, and, with ``noise``,
    two background recordings (the val and test streams)."""
    for label in ("yes", "no"):
        (out / label).mkdir(parents=True)
        for wav in sorted((root / label).glob("*.wav"))[start:stop]:
            os.symlink(wav, out / label / wav.name)
    if noise:
        (out / "_background_noise_").mkdir()
        for name in ("white_noise.wav", "running_tap.wav"):
            os.symlink(root / "_background_noise_" / name, out / "_background_noise_" / name)
    return out


def test_the_names_are_recorded_as_the_shell_shows_them(tmp_path: Path) -> None:
    root = require_path(dataset_path("speech_commands_dev"), "speech_commands_dev")
    data = _slice(root, tmp_path / DATA, 0, 14, noise=True)
    extra = _slice(root, tmp_path / EXTRA, 14, 17, noise=False)
    config = AudioTrainConfig(
        size="small", epochs=1, augment_copies=0, balance_classes=False,
        cache_features=False, extra_train=(str(extra),),
    )  # fmt: skip
    # Before (the line reverted): UnicodeEncodeError drawing report.html.
    fitted = fit.fit_audio(data, config, report=True)
    model = tmp_path / "model"
    model.mkdir()
    for name, content in fitted.files.items():
        (model / name).write_bytes(content)
    text = (model / MANIFEST_NAME).read_text(encoding="utf-8")
    assert "\\udc" not in text  # JSON's escape of a lone surrogate: no UTF-8 file holds one
    recorded = json.loads(text)
    assert recorded["metrics"]["dataset"] == "kw\\xff"
    assert recorded["train_config"]["extra_train"] == ["ex\\xfe"]
    assert "kw\\xff" in (model / "report.html").read_text(encoding="utf-8")
    manifest, _ = load_model_dir(model, probe_arena=False)
    assert manifest.metrics["dataset"] == "kw\\xff"
