"""Keyword figures that said one thing and meant another (round 41).

- ``eval --split val`` printed train's test figures as ``(train: ...)`` beside the val
  split's, as if they were of the split scored.
- ``n_train`` counted the augmented copies, not the training clips.
- ``info --json``'s ``arena_bytes`` (measured) is not a device's ``:info`` ``arena_bytes``
  (the firmware's arena array).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.info import format_info, model_info
from tinyslm.manifest import Manifest
from tinyslm.pipeline import run_generate

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_manifest, keyword_model_dir
from test_audio_train import _unbalanced_dataset
from test_keyword_eval_output import TRAINED, _list


def _read(path: Path) -> Manifest:
    return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _eval_json(model: Path, data: Path, split: str) -> tuple[list[str], dict]:
    result = CliRunner().invoke(
        cli, ["eval", str(model), str(data), "--split", split, "--json", "-"]
    )
    assert result.exit_code == 0, result.stderr
    return result.stderr.splitlines(), json.loads(result.stdout)


def test_eval_of_another_split_labels_trains_figures_as_its_test_splits(tmp_path: Path) -> None:
    """Before: ``clips 3 (...)  (train: 87.50% of 40)`` beside the val split's figures."""
    # The counts of the list's test split (round 44: other counts are another list).
    trained = {**TRAINED, "n_test": 2, "keyword_clips": 2}
    model = keyword_model_dir(tmp_path / "kw", replace(keyword_manifest(), metrics=trained))
    rows = [("yes", "val"), ("no", "val"), ("yes", "test"), ("no", "test")]
    data = _list(tmp_path / "data", rows)
    lines, got = _eval_json(model, data, "val")
    tagged = [ln for ln in lines if "(train" in ln]
    assert len(tagged) == 7, lines  # clips, rejections, 3 false-accept rows, 2 labels
    assert all("(train, test split: " in ln for ln in tagged), tagged
    assert lines[1].endswith("  (train, test split: 87.50% of 2)")
    assert lines[-1].endswith("split test (not the val split scored here)"), lines[-1]
    assert got["split"] == "val" and got["trained_same_split"] is False
    assert got["trained"]["eval_split"] == got["trained"]["stream_split"] == "test"
    # The split train measured: like for like, as before.
    lines, got = _eval_json(model, data, "test")
    assert lines[1].endswith("  (train: 87.50% of 2)")
    assert not any("test split:" in ln or "not the" in ln for ln in lines), lines
    assert got["trained_same_split"] is True
    # --split all holds other splits' clips too: not train's test split.
    lines, got = _eval_json(model, data, "all")
    assert lines[1].endswith("  (train, test split: 87.50% of 2)")
    assert lines[-1].endswith("split test (not every clip, all splits, scored here)"), lines[-1]
    assert got["trained_same_split"] is False


def test_n_train_counts_clips_and_n_train_examples_the_copies() -> None:
    """Before: n_train 45 for 8 training clips (3 labels balanced to 5 clips, times the
    clip and its 2 augmented copies)."""
    from tinyslm.audio.fit import _clip_metrics, summary_rows
    from tinyslm.audio.train import AudioTrainConfig, train_audio

    data = _unbalanced_dataset()
    config = AudioTrainConfig(size="small", epochs=1, cache_features=False)
    result = train_audio(data, config)
    metrics = _clip_metrics(result, True)
    assert metrics["n_train"] == len(data.split("train")) == 8
    assert metrics["n_train_examples"] == 3 * 5 * (config.augment_copies + 1) == 45
    assert (metrics["n_val"], metrics["n_test"]) == (3, 3)
    rows = dict(summary_rows(replace(keyword_manifest(), metrics=metrics)))
    assert rows["training clips"] == "8 (45 training examples with the augmented copies)"


def test_an_older_keyword_manifests_n_train_reads_as_examples(tmp_path: Path) -> None:
    """A keyword manifest from before round 41 counted copies in n_train: read as
    n_train_examples, and neither info nor its --json calls them clips."""
    old = replace(keyword_manifest(), metrics={"eval_split": "test", "n_train": 45})
    model = keyword_model_dir(tmp_path / "kw", old)
    read = _read(model / "manifest.json")
    assert read.metrics == {"eval_split": "test", "n_train_examples": 45}
    info = model_info(model)
    assert "training clips      not recorded (45 training examples" in format_info(info)
    result = CliRunner().invoke(cli, ["info", str(model), "--json", "-"])
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)["metrics"]
    assert "n_train" not in metrics and metrics["n_train_examples"] == 45
    # A new manifest's pair, and a text manifest's n_train (phrases), read as written.
    new = {"eval_split": "test", "n_train": 8, "n_train_examples": 45}
    keyword_model_dir(tmp_path / "kw2", replace(keyword_manifest(), metrics=new))
    assert _read(tmp_path / "kw2" / "manifest.json").metrics == new
    text = Path(__file__).resolve().parents[1] / "fixtures" / "model" / "manifest.json"
    assert _read(text).metrics["n_train"] == 340


def test_info_json_names_the_measured_and_the_firmware_arena_apart(tmp_path: Path) -> None:
    """A device's ':info' arena_bytes is TINYSLM_ARENA_SIZE; info --json's arena_bytes
    is the measured arena. Before: no field named the firmware's as such."""
    model = keyword_model_dir(tmp_path / "kw")
    project = tmp_path / "p"
    run_generate("esp32", project, model_dir=model)
    header = (project / "src" / "tinyslm_settings.h").read_text(encoding="utf-8")
    device = int(re.search(r"#define TINYSLM_ARENA_SIZE (\d+)", header).group(1))  # type: ignore[union-attr]
    measured = keyword_manifest().arena_bytes
    assert device > measured
    for where in (project, model):
        result = CliRunner().invoke(cli, ["info", str(where), "--json", "-"])
        assert result.exit_code == 0, result.stderr
        got = json.loads(result.stdout)
        assert got["firmware_arena_bytes"] == device, where
        assert got["measured_arena_bytes"] == measured, where
        # Kept for older readers, meaning what they meant.
        assert (got["arena_bytes"], got["arena_size"]) == (measured, device), where
