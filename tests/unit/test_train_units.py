"""Pure parts of train / quantize / pipeline: configs, calibration subset, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from tinyslm.quantize import representative_ids
from tinyslm.train import TrainConfig


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 0},
        {"hidden": 0},
        {"epochs": 0},
        {"learning_rate": 0.0},
        {"label_smoothing": 1.0},
        {"dropout": -0.1},
        {"batch_size": 0},
    ],
)
def test_train_config_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_train_config_dict_has_features() -> None:
    d = TrainConfig().to_dict()
    assert d["features"]["buckets"] == 4096 and d["dim"] == 32


def test_late_options_are_recorded_only_when_used() -> None:
    plain = TrainConfig().to_dict()
    assert "token_dropout" not in plain and "cosine_decay" not in plain
    used = TrainConfig(token_dropout=0.2, cosine_decay=True).to_dict()
    assert used["token_dropout"] == 0.2 and used["cosine_decay"] is True


def test_representative_subset_is_deterministic_and_spans_the_data() -> None:
    ids = np.arange(2000 * 4, dtype=np.int32).reshape(2000, 4)
    a, b = representative_ids(ids, 100), representative_ids(ids, 100)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 100 and a[0, 0] == 0 and a[-1, 0] == ids[-1, 0]
    assert representative_ids(ids[:10], 100) is not None and len(representative_ids(ids[:10])) == 10


@pytest.mark.slow
def test_tiny_training_keeps_pad_row_zero_and_token_dropout_adds_no_op() -> None:
    from tinyslm.features import FeatureSpec, encode
    from tinyslm.quantize import quantize
    from tinyslm.train import predict_scores, train
    from tinyslm.verify import model_ops

    texts = ["turn on the light", "lights on please", "switch the lights off", "lights off now"]
    labels = ["on", "on", "off", "off"]
    config = TrainConfig(
        features=FeatureSpec(buckets=64, seq_len=12),
        dim=4,
        hidden=4,
        epochs=3,
        batch_size=2,
        token_dropout=0.3,
        cosine_decay=True,
    )
    result = train(config, ("off", "on"), texts, labels)
    table = np.asarray(result.model.get_layer("embed").table)
    assert table.shape == (64, 4)
    assert not table[0].any() and table[1:].any()  # padding row pinned to zero
    assert len(result.history) == 3
    # The cosine schedule has decayed to zero after the last step.
    assert float(result.model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-7)
    ids = encode(texts, config.features)
    np.testing.assert_allclose(predict_scores(result.model, ids).sum(axis=1), 1.0, rtol=1e-5)
    converted = quantize(result.model, ids)
    assert model_ops(converted.model_bytes) == (
        "FULLY_CONNECTED",
        "GATHER",
        "L2_NORMALIZATION",
        "MEAN",
        "SOFTMAX",
    )
    assert converted.output_quant.zero_point == -128
