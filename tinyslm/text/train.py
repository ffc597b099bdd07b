"""Build and fit the Keras intent classifier (seeded, deterministic).

The model is deliberately made of ops that TFLM runs with INT8 tensors:

``ids (L,) int32 -> GATHER (B x D table) -> MEAN over L -> L2_NORMALIZATION
-> FULLY_CONNECTED + ReLU -> FULLY_CONNECTED -> SOFTMAX``

Row 0 of the table is the padding row and is pinned to zero (initialised to zero
and re-zeroed by a constraint after every optimizer step). The mean therefore
averages real features plus zeros, and the L2 normalisation that follows removes
the ``1 / L`` factor, so no mask op is needed on the device: the result equals
the normalised sum of the phrase's feature embeddings.

The embedding is a plain ``tf.gather`` layer rather than ``keras.layers.Embedding``
because Keras 3's embedding does not convert to a plain TFLite GATHER.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

# Importing it pins the environment before TensorFlow loads: the same model on every
# x86-64 CPU (docs/reproducibility.md).
from tinyslm.determinism import configure_tensorflow
from tinyslm.errors import DatasetError
from tinyslm.text.features import FeatureSpec, encode

Log = Callable[[str], None]


# TFLM's int8 SOFTMAX sums exp(score - max) over the intents in Q19.12 fixed
# point and divides by 2^(23 + bits of that sum above 1.0); the shift must stay
# <= 31, so the sum must stay below 512. Each intent adds up to exactly 1.0
# (exp(0), rounded), so 511 intents always fit, while 512 intents scored alike
# (a phrase the model knows nothing about, e.g. an empty line) overflow it:
# TFLM's reference kernel (the Python runtime, ESP32 without ESP-NN) hits
# TFLITE_CHECK and abort()s, and CMSIS-NN's arm_softmax_s8 (STM32H7) shifts by
# 32 or more and writes -128 for every intent. Measured: 511 flat scores run,
# 512 abort (tests/unit/test_train_units.py).
MAX_INTENTS = 511
# Phrases from which training says that it is encoding them (otherwise silent).
ENCODE_NOTICE_MIN = 20_000


def check_intent_count(n: int) -> None:
    """Refuse more intents than the device's int8 softmax can handle (see MAX_INTENTS).

    Raises:
        DatasetError: ``n`` exceeds :data:`MAX_INTENTS`.
    """
    if n > MAX_INTENTS:
        raise DatasetError(
            f"{n} intents, but TFLM's int8 SOFTMAX handles at most {MAX_INTENTS}: with 512 or "
            "more, a phrase scored alike on them overflows its fixed-point sum (TFLM aborts; "
            "on an ESP32 the board resets, CMSIS-NN on the STM32H7 answers -128 for every "
            "intent); merge intents or split them across models"
        )


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    Attributes:
        features: tokenizer spec (buckets B = embedding rows, seq_len L).
        dim: embedding width D.
        hidden: width of the ReLU layer.
        epochs: passes over the training set.
        batch_size: examples per optimizer step; 0 picks it from the training set's
            size: 32 below 5,000 phrases (twice the steps where there are few), else 64.
        learning_rate: Adam learning rate (the peak one with ``cosine_decay``).
        seed: seeds the dataset split of text files without a split column and of
            keyword clips whose names carry no ``<speaker>_nohash_`` (speaker-named
            clips are split by a hash of the speaker, and listed splits are kept,
            whatever the seed), and Python, NumPy and TensorFlow (same seed and data,
            same bytes).
        label_smoothing: cross-entropy label smoothing in [0, 1).
        dropout: dropout rate on the normalised phrase vector.
        token_dropout: share of a phrase's feature ids dropped per training step
            (whole embedding rows), so the model cannot lean on any one n-gram;
            training only, it adds no op to the converted model.
        cosine_decay: decay the learning rate to 0 along a cosine over all
            steps instead of keeping it constant.
        adversarial: size (L2 norm over the phrase) of the adversarial step on each
            training phrase's embedding rows; 0 is off. Every batch is also trained
            moved that far in the direction that raises its loss most, so phrases
            near a training phrase keep its intent; training only, it adds no op to
            the converted model.
        distill_alpha: weight of the teacher's soft targets in the loss
            (0 = plain cross-entropy, no teacher; see ``tinyslm.text.distill``).
        distill_temperature: softmax temperature of teacher and student in the
            soft term.
        distill_folds: cross-fitting folds for the teacher's soft targets; 1 fits it once on
            all phrases (in-sample, not cross-fitted); more folds than phrases use one each.
        distill_augment: noisy copies of each training phrase, labelled by the
            teacher, added to the training set (``tinyslm.text.distill.augment_texts``).
        gate_temperature: the trained logits are divided by this before the softmax
            (temperature scaling, folded into the last layer's weights after
            training: no op is added and the float model's top intent does not
            change), so the confidence the gate compares with the threshold also
            weighs the runner-up intents and out-of-scope phrases stand apart
            better; 1 keeps the scores as trained.
    """

    # The defaults are the recipe benchmarks/clinc150.py measured best (issue 12):
    # strong regularisation (smoothing, both dropouts) and a cosine schedule. The
    # batch follows the data (see resolve_batch_size). buckets/dim/hidden are the
    # 512,000 byte point for ~150 intents; ``tinyslm train`` sizes them for the
    # budget instead (tinyslm.sizing).
    features: FeatureSpec = field(default_factory=lambda: FeatureSpec(buckets=8192))
    dim: int = 54
    hidden: int = 256
    epochs: int = 25
    batch_size: int = 0
    learning_rate: float = 0.01
    seed: int = 0
    label_smoothing: float = 0.2
    dropout: float = 0.3
    token_dropout: float = 0.5
    cosine_decay: bool = True
    adversarial: float = 1.0
    distill_alpha: float = 0.0
    distill_temperature: float = 2.0
    distill_folds: int = 5
    distill_augment: int = 0
    # Chosen on CLINC150's val split, seeds 0-5 (docs/architecture.md, "Round 13").
    gate_temperature: float = 1.5

    def __post_init__(self) -> None:
        # The CLI's ranges (tinyslm.train_options._RANGES), for callers of the API too:
        # comparisons are False for nan, and every upper end refuses inf.
        checks = {
            "dim": 1 <= self.dim <= 4096,
            "hidden": 1 <= self.hidden <= 65536,
            "epochs": 1 <= self.epochs <= 100_000,
            "batch_size": 0 <= self.batch_size <= 1_000_000,
            "learning_rate": 0 < self.learning_rate <= 10,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "dropout": 0 <= self.dropout < 1,
            "token_dropout": 0 <= self.token_dropout < 1,
            "adversarial": 0 <= self.adversarial <= 100,
            "distill_alpha": 0 <= self.distill_alpha <= 1,
            "distill_temperature": 0 < self.distill_temperature <= 100,
            "distill_folds": 1 <= self.distill_folds <= 100,
            "distill_augment": 0 <= self.distill_augment <= 100,
            "gate_temperature": 0.01 <= self.gate_temperature <= 100,
            "seed": 0 <= self.seed < 2**32,
            # 256 MiB of INT8 table: past it only an out-of-memory traceback followed.
            # Named with the product and the limit: "buckets x dim" alone left the user
            # guessing which number was too large, and by how much.
            f"buckets x dim = {self.features.buckets} x {self.dim} = "
            f"{self.features.buckets * self.dim} (at most 2^28 = {2**28})": (
                self.features.buckets * self.dim <= 2**28
            ),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training setting(s): {', '.join(bad)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = self.features.to_dict()
        # Options added after format 1 are recorded only when used, so that
        # manifests of models trained without them stay byte-identical to those
        # written before the options existed.
        for late in ("token_dropout", "cosine_decay", "adversarial"):
            if not d[late]:
                del d[late]
        if d["gate_temperature"] == 1.0:
            del d["gate_temperature"]
        if not self.distill_alpha:
            for key in ("distill_alpha", "distill_temperature", "distill_folds", "distill_augment"):
                del d[key]
        return d


@dataclass(frozen=True)
class TrainResult:
    """A fitted float model and what it took.

    Attributes:
        model: the Keras model (``(None, L)`` int32 ids -> softmax scores).
        labels: intent names in output order.
        history: per-epoch ``{"loss", "accuracy", "val_accuracy"}`` figures.
        seconds: wall time of ``fit``.
    """

    model: Any
    labels: tuple[str, ...]
    history: tuple[dict[str, float], ...]
    seconds: float


def _tf() -> Any:
    import tensorflow as tf

    return tf


def build_model(config: TrainConfig, num_labels: int) -> Any:
    """The Keras model for ``config`` with ``num_labels`` outputs (untrained).

    The graph is built from ``ids_input`` so that :func:`rebuild_for_batch` can
    re-apply the same layers to a fixed batch-1 input for conversion.
    """
    import keras

    tf = _tf()

    class PadRowZero(keras.constraints.Constraint):  # type: ignore[misc]
        """Keep row 0 (the padding id) exactly zero after each update."""

        def __call__(self, w: Any) -> Any:
            mask = tf.concat(
                [tf.zeros((1, 1), w.dtype), tf.ones((tf.shape(w)[0] - 1, 1), w.dtype)], 0
            )
            return w * mask

    class HashedEmbedding(keras.layers.Layer):  # type: ignore[misc]
        """``tf.gather`` over a B x D table; converts to a single GATHER op."""

        def __init__(self, buckets: int, dim: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.buckets, self.dim = buckets, dim

        def build(self, input_shape: Any) -> None:
            init = keras.initializers.RandomUniform(-0.5, 0.5, seed=config.seed)

            def zero_pad_init(shape: Any, dtype: Any = None) -> Any:
                w = init(shape, dtype)
                return tf.concat([tf.zeros((1, shape[1]), w.dtype), w[1:]], 0)

            self.table = self.add_weight(
                name="table",
                shape=(self.buckets, self.dim),
                initializer=zero_pad_init,
                constraint=PadRowZero(),
            )

        def call(self, ids: Any) -> Any:
            return tf.gather(self.table, ids)

    def _l2_normalize(x: Any) -> Any:
        # x / sqrt(sum x^2), not tf.math.l2_normalize's x * rsqrt(sum x^2): TF's Rsqrt
        # kernel starts from the CPU's approximate RSQRTPS, whose results differ
        # between CPU makers, while sqrt and division are exactly rounded on every
        # x86-64 CPU (docs/reproducibility.md). The converter still folds this into
        # one L2_NORMALIZATION op.
        sum_sq = tf.reduce_sum(tf.square(x), axis=-1, keepdims=True)
        return x / tf.sqrt(tf.maximum(sum_sq, 1e-12))

    seq_len = config.features.seq_len
    ids = keras.Input(shape=(seq_len,), dtype="int32", name="ids")
    token_dropout = []
    if config.token_dropout > 0:
        # noise_shape (batch, L, 1): drop whole feature rows, not single values.
        token_dropout = [
            keras.layers.Dropout(
                config.token_dropout,
                noise_shape=(None, seq_len, 1),
                seed=config.seed + 3,
                name="token_dropout",
            )
        ]
    layers = [
        HashedEmbedding(config.features.buckets, config.dim, name="embed"),
        *token_dropout,
        keras.layers.Lambda(lambda x: tf.reduce_mean(x, axis=1), name="mean"),
        keras.layers.Lambda(_l2_normalize, name="l2norm"),
        keras.layers.Dropout(config.dropout, seed=config.seed, name="dropout"),
        keras.layers.Dense(
            config.hidden,
            activation="relu",
            name="hidden",
            kernel_initializer=keras.initializers.GlorotUniform(seed=config.seed + 1),
        ),
        keras.layers.Dense(
            num_labels,
            name="logits",
            kernel_initializer=keras.initializers.GlorotUniform(seed=config.seed + 2),
        ),
        keras.layers.Softmax(name="scores"),
    ]
    x = ids
    for layer in layers:
        x = layer(x)
    return keras.Model(ids, x, name="tinyslm")


def rebuild_for_batch(model: Any, batch_size: int = 1) -> Any:
    """The same layers (shared weights) on a fixed ``(batch_size, L)`` input.

    The converter needs static shapes to emit a plain GATHER / MEAN / FC graph.
    Dropout is inactive at inference, so it converts to nothing.
    """
    import keras

    seq_len = model.inputs[0].shape[1]
    ids = keras.Input(shape=(seq_len,), batch_size=batch_size, dtype="int32", name="ids")
    x = ids
    for layer in model.layers[1:]:
        x = layer(x)
    return keras.Model(ids, x, name="tinyslm_b1")


# Below this many training phrases the automatic batch is small. Measured at
# seed 0 (issue 12): the demo set (920 phrases) reaches 99.23% test accuracy with
# batches of 32 against 98.85% with 64; CLINC150 (15,000) gets 93.18% INT8 with
# 64 against 92.76% with 32, in about a third of the time.
SMALL_SET = 5000


# ``tinyslm train``'s token dropout on auto (tinyslm.train_options): the recipe's
# 0.5 from SMALL_SET phrases, less below. 0.5 was measured on CLINC150 (100
# phrases per intent); a small set's few, short phrases lose too much of each
# phrase to it. Demo set (920 phrases), INT8 test accuracy, seeds 0/1/2:
# 98.08/99.62/99.62% at 0.5, 98.85/100/100% at 0.25 (oos recall 85/95/85% ->
# 100/95/90%); label smoothing 0.1 or B4096 D32 H64 instead did not lift seed 0.
SMALL_SET_TOKEN_DROPOUT = 0.25


def auto_token_dropout(n_train: int) -> float:
    """The token dropout ``tinyslm train`` uses on auto for ``n_train`` training phrases."""
    return SMALL_SET_TOKEN_DROPOUT if n_train < SMALL_SET else TrainConfig.token_dropout


def resolve_batch_size(config: TrainConfig, n_train: int) -> int:
    """``config.batch_size``, or for 0 the size picked for ``n_train`` phrases."""
    if config.batch_size:
        return config.batch_size
    return 32 if n_train < SMALL_SET else 64


def _learning_rate(config: TrainConfig, n_train: int) -> Any:
    """Constant rate, or a cosine decay to 0 over every step of the run."""
    if not config.cosine_decay:
        return config.learning_rate
    import keras

    steps = config.epochs * -(-n_train // resolve_batch_size(config, n_train))
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)


class _EpochLog:
    """Print one line per epoch through ``log`` (``None`` prints nothing)."""

    def __init__(self, epochs: int, log: Log | None) -> None:
        self.epochs, self.log = epochs, log
        self.rows: list[dict[str, float]] = []
        self.start = time.perf_counter()

    def keras_callback(self) -> Any:
        import keras

        outer = self

        class _Callback(keras.callbacks.Callback):  # type: ignore[misc]
            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                logs = logs or {}
                row = {k: float(v) for k, v in logs.items()}
                outer.rows.append(row)
                if outer.log is not None:
                    val = row.get("val_accuracy")
                    val_txt = f"  val_acc {val:.3f}" if val is not None else ""
                    outer.log(
                        f"epoch {epoch + 1:>3}/{outer.epochs}  loss {row.get('loss', 0.0):.4f}"
                        f"  acc {row.get('accuracy', 0.0):.3f}{val_txt}"
                        f"  {time.perf_counter() - outer.start:5.1f}s"
                    )

        return _Callback()


def label_indices(labels: Sequence[str], names: Sequence[str]) -> npt.NDArray[np.int32]:
    """Map label names to output indices (``labels`` order)."""
    index = {name: i for i, name in enumerate(labels)}
    try:
        return np.asarray([index[n] for n in names], dtype=np.int32)
    except KeyError as exc:
        raise DatasetError(f"label {exc.args[0]!r} is not one of the training labels") from exc


def _distill_fit_setup(
    config: TrainConfig, model: Any, num_labels: int
) -> tuple[Any, Any, Callable[..., Any]]:
    """The logits-output training model, the distillation loss and an accuracy metric.

    Targets are packed as ``[one-hot | teacher soft labels]`` (``2 * labels``
    columns) so Keras can shuffle them together. The training model shares its
    layers (and weights) with ``model``, which keeps its softmax for conversion.
    """
    import keras

    tf = _tf()
    c = num_labels
    alpha, temp, smooth = config.distill_alpha, config.distill_temperature, config.label_smoothing
    fit_model = keras.Model(model.inputs, model.get_layer("logits").output, name="tinyslm_logits")

    def distill_loss(y_true: Any, logits: Any) -> Any:
        # Same as keras' CategoricalCrossentropy(label_smoothing=...) for the hard term;
        # T^2 keeps the soft term's gradient scale independent of T (Hinton et al.).
        hard = y_true[:, :c] * (1.0 - smooth) + smooth / c
        soft = y_true[:, c:]
        ce_hard = -tf.reduce_sum(hard * tf.nn.log_softmax(logits), axis=-1)
        ce_soft = -tf.reduce_sum(soft * tf.nn.log_softmax(logits / temp), axis=-1)
        return (1.0 - alpha) * ce_hard + alpha * temp * temp * ce_soft

    def accuracy(y_true: Any, logits: Any) -> Any:
        hit = tf.equal(tf.argmax(y_true[:, :c], -1), tf.argmax(logits, -1))
        return tf.cast(hit, tf.float32)

    return fit_model, distill_loss, accuracy


def adversarial_shift(grad: Any, ids: Any, eps: float) -> Any:
    """The adversarial step of :func:`_adversarial_fit_model` for a batch.

    ``grad`` is the loss's gradient with respect to the gathered rows ``(B, L, D)``
    of ``ids`` ``(B, L)``: padding rows (id 0) are masked out and each phrase's rest
    is scaled to L2 norm ``eps`` (a phrase of padding only stays put). The step is a
    constant of the training step (``stop_gradient``). ``sqrt`` and division, not
    ``rsqrt``: exactly rounded on every x86-64 CPU (docs/reproducibility.md).
    """
    tf = _tf()
    g = tf.stop_gradient(grad) * tf.cast(tf.not_equal(ids, 0), grad.dtype)[..., None]
    norm = tf.sqrt(tf.reduce_sum(tf.square(g), axis=[1, 2], keepdims=True))
    return eps * g / (norm + 1e-12)


def embedding_head(model: Any) -> tuple[Any, list[Any]]:
    """``model``'s embedding layer and the layers that take its rows to the output.

    The adversarial step feeds moved rows through the rest of the model. That is the
    layers after ``embed`` in ``model.layers`` order, applied one after the other; it
    holds because the graph is a chain (:func:`build_model`), and a model cut at the
    logits (distillation's) lists only the layers up to them.
    """
    embed = model.get_layer("embed")
    layers = list(model.layers)
    return embed, layers[layers.index(embed) + 1 :]


def _adversarial_fit_model(fit_model: Any, eps: float) -> Any:
    """``fit_model``'s layers (shared weights) trained with an adversarial embedding step.

    Each step takes the gradient of the batch's loss with respect to its gathered
    embedding rows (padding rows masked out), scales it to L2 norm ``eps`` per
    phrase, and adds the loss of the phrase moved that way to the clean loss (the
    fast gradient method on embeddings: Miyato, Dai and Goodfellow, "Adversarial
    training methods for semi-supervised text classification", 2017). A bag of
    hashed n-grams has no pretrained neighbourhood between its rows; this trains
    one around each training phrase. The direction is a constant of the step
    (``stop_gradient``): one extra forward and backward pass, no second-order
    terms. The reported loss and metrics are the clean pass's.
    """
    import keras

    tf = _tf()
    embed, head = embedding_head(fit_model)

    def forward(e: Any) -> Any:
        for layer in head:
            e = layer(e, training=True)
        return e

    class AdversarialFit(keras.Model):  # type: ignore[misc]
        def train_step(self, data: Any) -> Any:
            x, y = data[0], data[1]
            with tf.GradientTape() as tape:
                with tf.GradientTape() as probe:
                    e = embed(x)
                    probe.watch(e)
                    y_pred = forward(e)
                    loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
                moved = forward(e + adversarial_shift(probe.gradient(loss, e), x, eps))
                total = loss + self.compute_loss(x=x, y=y, y_pred=moved, training=True)
            weights = self.trainable_weights
            self.optimizer.apply(tape.gradient(total, weights), weights)
            # As Keras' own train_step does (keras/src/backend/tensorflow/trainer.py): the
            # epoch's "loss" is this tracker's mean; compute_metrics adds the compiled metric.
            self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
            return self.compute_metrics(x, y, y_pred, sample_weight=None)

    return AdversarialFit(fit_model.inputs, fit_model.outputs, name=fit_model.name + "_adv")


def plain_fit_model(config: TrainConfig, model: Any, n_train: int) -> Any:
    """The compiled model that ``fit`` trains without a teacher (``model`` or its wrapper).

    With ``config.adversarial > 0`` it is :func:`_adversarial_fit_model`'s wrapper around
    ``model``'s layers, else ``model`` itself; the optimizer, loss and metric are the same.
    """
    import keras

    fit_model = model
    if config.adversarial > 0:
        fit_model = _adversarial_fit_model(model, config.adversarial)
    fit_model.compile(
        optimizer=keras.optimizers.Adam(_learning_rate(config, n_train)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    return fit_model


def train(
    config: TrainConfig,
    labels: Sequence[str],
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    val_texts: Sequence[str] = (),
    val_labels: Sequence[str] = (),
    log: Log | None = None,
    soft_targets: npt.NDArray[Any] | None = None,
) -> TrainResult:
    """Fit the model on labelled texts (tokenised with ``tinyslm.text.features.encode``).

    Args:
        config: hyper-parameters; ``config.seed`` makes the run repeatable.
        labels: intent names; their order is the model's output order.
        train_texts, train_labels: training phrases and their intents.
        val_texts, val_labels: optional validation phrases (shown per epoch only;
            they do not steer training).
        log: called with one line per epoch; ``None`` is silent.
        soft_targets: ``(len(train_texts), len(labels))`` teacher distributions at
            ``config.distill_temperature``; required when ``config.distill_alpha > 0``
            (``tinyslm.text.distill.soft_targets`` makes them), ignored otherwise.

    Raises:
        DatasetError: no training phrases, fewer than two labels, more than
            :data:`MAX_INTENTS`, or a label outside ``labels``.
        ValueError: distillation is on and ``soft_targets`` is missing or misshapen.
    """
    if len(train_texts) == 0:
        raise DatasetError("no training phrases")
    if len(labels) < 2:
        raise DatasetError("at least two intents are needed to train a classifier")
    check_intent_count(len(labels))
    import keras

    configure_tensorflow()
    keras.utils.set_random_seed(config.seed)
    if log is not None and len(train_texts) + len(val_texts) >= ENCODE_NOTICE_MIN:
        # Tokenizing is pure Python: about a minute per 500,000 phrases.
        log(f"encoding {len(train_texts) + len(val_texts)} phrases ...")
    x = encode(train_texts, config.features)
    y = keras.utils.to_categorical(label_indices(labels, train_labels), len(labels))
    validation = None
    if len(val_texts):
        xv = encode(val_texts, config.features)
        yv = keras.utils.to_categorical(label_indices(labels, val_labels), len(labels))
        validation = (xv, yv)

    model = build_model(config, len(labels))
    fit_model = model
    if config.distill_alpha > 0:
        if soft_targets is None or np.shape(soft_targets) != y.shape:
            raise ValueError(f"distillation needs soft targets of shape {y.shape}")
        fit_model, loss, accuracy = _distill_fit_setup(config, model, len(labels))
        if config.adversarial > 0:
            fit_model = _adversarial_fit_model(fit_model, config.adversarial)
        fit_model.compile(
            optimizer=keras.optimizers.Adam(_learning_rate(config, len(x))),
            loss=loss,
            metrics=[accuracy],
        )
        y = np.concatenate([y, np.asarray(soft_targets, y.dtype)], axis=1)
        if validation is not None:
            # Validation is only watched: its "soft" half is the one-hot label.
            validation = (validation[0], np.concatenate([validation[1]] * 2, axis=1))
    else:
        fit_model = plain_fit_model(config, model, len(x))
    epoch_log = _EpochLog(config.epochs, log)
    start = time.perf_counter()
    fit_model.fit(
        x,
        y,
        batch_size=resolve_batch_size(config, len(x)),
        epochs=config.epochs,
        validation_data=validation,
        shuffle=True,
        verbose=0,
        callbacks=[epoch_log.keras_callback()],
    )
    seconds = time.perf_counter() - start
    scale_logits(model, 1.0 / config.gate_temperature)
    return TrainResult(model, tuple(labels), tuple(epoch_log.rows), seconds)


def scale_logits(model: Any, factor: float) -> None:
    """Multiply ``model``'s logits by ``factor``: its last dense layer's kernel and bias.

    Folded into the weights, so the converted graph is the same FULLY_CONNECTED and
    SOFTMAX; ``factor > 0`` keeps every phrase's top intent.
    """
    if factor == 1.0:
        return
    layer = model.get_layer("logits")
    layer.set_weights([w * np.float32(factor) for w in layer.get_weights()])


def predict_scores(
    model: Any, ids: npt.NDArray[Any], batch_size: int = 512
) -> npt.NDArray[np.float32]:
    """Float softmax scores ``(n, labels)`` of the Keras model for int32 ids."""
    # Direct calls rather than model.predict: no tf.data pipeline (and its log noise).
    parts = [np.zeros((0, model.outputs[0].shape[-1]), dtype=np.float32)]
    for i in range(0, len(ids), batch_size):
        parts.append(np.asarray(model(ids[i : i + batch_size], training=False), np.float32))
    return np.concatenate(parts)
