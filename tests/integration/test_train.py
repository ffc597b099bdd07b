"""``tinyslm train`` end to end on a small demo subset (tiny config, few epochs)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, run_cli

from tinyslm.decision import threshold_to_q
from tinyslm.flatbuffer import model_ops
from tinyslm.manifest import load_model_dir
from tinyslm.text.dataset import demo_dataset_path
from tinyslm.text.train import TrainConfig, resolve_batch_size
from tinyslm.tflm_runtime import tflm_scores

pytestmark = pytest.mark.slow

LABELS = ("lights_off", "lights_on", "timer_set", "weather_query")
TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "8"]


@pytest.fixture(scope="module")
def subset_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four demo intents (20 phrases each) plus 20 out-of-scope phrases."""
    keep: dict[str, list[str]] = defaultdict(list)
    with demo_dataset_path().open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = row["label"]
            if (label in LABELS or label == "oos") and len(keep[label]) < 20:
                keep[label].append(row["text"])
    path = tmp_path_factory.mktemp("data") / "subset.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for label, texts in sorted(keep.items()):
            w.writerows([t, label] for t in texts)
    return path


@pytest.fixture(scope="module")
def trained(subset_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "model"
    proc = run_cli("train", str(subset_csv), "-o", str(out), *TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The summary table and one line per epoch are shown.
    for needle in ("int8 accuracy", "arena bytes", "model bytes", "out-of-scope recall"):
        assert needle in proc.stdout
    assert "epoch   8/8" in proc.stdout
    return out


def test_outputs_and_manifest(trained: Path) -> None:
    manifest, model = load_model_dir(trained)  # also checks the sha256
    assert sorted(p.name for p in trained.iterdir()) == [
        "manifest.json",
        "model.tflite",
        "report.html",
        "report.json",
    ]
    assert manifest.labels == LABELS
    assert manifest.model_bytes == len(model)
    assert manifest.ops == model_ops(model)
    assert set(manifest.ops) == {"FULLY_CONNECTED", "GATHER", "L2_NORMALIZATION", "MEAN", "SOFTMAX"}
    assert (manifest.features.buckets, manifest.features.seq_len) == (256, 16)
    assert manifest.train_config["dim"] == 8 and manifest.train_config["hidden"] == 8
    # --batch-size on auto: the manifest records the size training used, not 0.
    assert manifest.train_config["batch_size"] == resolve_batch_size(
        TrainConfig(), manifest.metrics["n_train"]
    )
    assert manifest.arena_bytes > 0 and manifest.arena_bytes % 16 == 0
    q = manifest.output_quant
    assert manifest.threshold_q == threshold_to_q(manifest.threshold, q.scale, q.zero_point)
    m = manifest.metrics
    for key in ("float_accuracy", "int8_accuracy", "agreement", "oos_recall"):
        assert 0.0 <= m[key] <= 1.0, key
    assert m["n_oos_eval"] > 0
    # Nothing but the output folder is left next to it (no temp folders).
    assert [p.name for p in trained.parent.iterdir()] == ["model"]


def test_metrics_match_tflm_on_the_written_model(trained: Path, subset_csv: Path) -> None:
    """The recorded int8 accuracy is what TFLM gives on the test split at the arena size."""
    from tinyslm.text.dataset import load_dataset
    from tinyslm.text.features import encode

    manifest, model = load_model_dir(trained)
    data = load_dataset(subset_csv, seed=manifest.seed)
    scores = tflm_scores(
        model, encode([e.text for e in data.test], manifest.features), manifest.arena_bytes
    )
    right = sum(
        manifest.labels[int(s.argmax())] == e.label for s, e in zip(scores, data.test, strict=True)
    )
    assert manifest.metrics["int8_accuracy"] == pytest.approx(right / len(data.test), abs=1e-5)


def test_existing_folder_needs_force_and_same_seed_gives_same_bytes(
    trained: Path, subset_csv: Path
) -> None:
    before = {p.name: p.read_bytes() for p in trained.iterdir()}
    proc = run_cli("train", str(subset_csv), "-o", str(trained), *TINY)
    assert_one_error_line(proc, str(trained), "--force")
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == before

    # Second training, another process, same seed and data: byte-identical output.
    proc = run_cli("train", str(subset_csv), "-o", str(trained), "--force", "-q", *TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "epoch" not in proc.stdout  # -q keeps only the table
    after = {p.name: p.read_bytes() for p in trained.iterdir()}
    assert after == before

    # --force replaces only tinyslm's own files: a model folder holding anything
    # else is refused before training, and nothing in it changes.
    (trained / "notes.txt").write_text("mine")
    proc = run_cli("train", str(subset_csv), "-o", str(trained), "--force", "-q", *TINY)
    assert_one_error_line(proc, "notes.txt (not one of the model folder's files)")
    assert "epoch" not in proc.stdout
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == {**before, "notes.txt": b"mine"}
    (trained / "notes.txt").unlink()


def test_bad_dataset_is_one_error_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nturn on the lights,lights_on\n")
    out = tmp_path / "out"
    proc = run_cli("train", str(bad), "-o", str(out), *TINY)
    assert_one_error_line(proc, "bad.csv")
    assert not out.exists()


def test_manifest_is_valid_json_with_sorted_keys(trained: Path) -> None:
    text = (trained / "manifest.json").read_text()
    data = json.loads(text)
    assert list(data) == sorted(data)


def test_without_oos_long_phrases_and_too_many_intents(subset_csv: Path, tmp_path: Path) -> None:
    """Issue 9, items 3, 5, 6: each used to pass silently (or fail after training)."""
    rows = [r for r in csv.reader(subset_csv.open(encoding="utf-8"))][1:]
    long_phrase = "turn the lights off in every room of the house " * 7  # 328 bytes stripped
    data = tmp_path / "no_oos.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(r for r in rows if r[1] != "oos")
        w.writerow([long_phrase, "lights_off"])
    out = tmp_path / "model"
    proc = run_cli("train", str(data), "-o", str(out), *TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: ")]
    # Item 5: no out-of-scope phrases: said, and the threshold still escalates something.
    assert any(
        "no out-of-scope phrases in val to calibrate the threshold" in w for w in warnings
    ), proc.stderr
    manifest, _ = load_model_dir(out)
    assert manifest.threshold_q > -128 and manifest.threshold > 0.0
    assert manifest.metrics["threshold_rule"] == "gate_accuracy+keep_95pct_local"
    assert "no out-of-scope phrases: the higher of the level with the best in-scope gate" in (
        proc.stdout.replace("\n", " ")
    )
    # Item 6: the line limit grows to fit the longest phrase, and says so.
    assert any("1 phrase(s) longer than 256 bytes (longest 328)" in w for w in warnings)
    assert manifest.max_line == 384
    assert "device line limit           384 bytes" in proc.stdout
    # ... and the generated firmware takes the phrase instead of line_too_long.
    project = tmp_path / "proj"
    gen = run_cli("generate", "--board", "esp32", "--model", str(out), "-o", str(project))
    assert gen.returncode == 0, gen.stderr
    settings = (project / "src" / "tinyslm_settings.h").read_text()
    assert "#define TINYSLM_MAX_LINE 384" in settings
    answer = run_cli("emulate", str(project), "--text", long_phrase.strip())
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["intent"] in LABELS

    # Item 3: 512 intents are refused before training, with the cause and the limit.
    many = tmp_path / "many.csv"
    many.write_text(
        "text,label\n"
        + "".join(f"do thing {i},intent_{i}\ndo stuff {i},intent_{i}\n" for i in range(512))
    )
    refused = run_cli("train", str(many), "-o", str(tmp_path / "m2"), *TINY)
    line = assert_one_error_line(refused, "512 intents", "at most 511", "SOFTMAX")
    assert "epoch" not in refused.stdout, line
    assert not (tmp_path / "m2").exists()
