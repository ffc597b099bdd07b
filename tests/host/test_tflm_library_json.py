"""The ``lib/tflm/library.json`` that ``generate --tflm-dir`` writes names only the TFLM
commit the tree itself records.

It named the pinned commit (``tinyslm.toolchain.tflm.TFLM_COMMIT``) whatever tree was
copied: a tree a user built from another tflite-micro commit went into the project
labelled as the pinned one. The trees here are small fakes with the files
``validate_tree`` asks for; ``fetch`` marks its own trees with ``tinyslm-tflm.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from tinyslm.pipeline import run_generate
from tinyslm.toolchain import tflm

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
OTHER_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_tree(root: Path, record: dict[str, object] | None = None) -> Path:
    """A Cortex-M7 tree as create_tflm_tree.py makes it; ``record`` as fetch writes it."""
    for rel in (*tflm.REQUIRED_FILES, tflm.CORTEX_M_MARKER):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"// {rel}\n", encoding="utf-8")
    if record is not None:
        (root / tflm.TREE_INFO).write_text(json.dumps(record), encoding="utf-8")
    return root


def generated_library_json(tmp_path: Path, tree: Path) -> str:
    out = tmp_path / "proj"
    run_generate("stm32h7", out, model_dir=FIXTURE_MODEL, tflm_dir=tree)
    return (out / "lib" / "tflm" / "library.json").read_text(encoding="utf-8")


def test_a_tree_without_a_record_does_not_claim_the_pinned_commit(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "my tree")
    text = generated_library_json(tmp_path, tree)
    doc = json.loads(text)
    assert tflm.TFLM_COMMIT[:12] not in text
    assert doc["version"] == "0.0.0+user-tree"
    assert "commit is not recorded" in doc["description"]
    # Path-free: the same file whichever folder the tree was in.
    assert str(tmp_path) not in text and "my tree" not in text


def test_a_recorded_commit_is_the_one_named(tmp_path: Path) -> None:
    record = {"repository": tflm.TFLM_REPOSITORY, "commit": OTHER_COMMIT, "target": "cortex-m7"}
    text = generated_library_json(tmp_path, fake_tree(tmp_path / "tree", record))
    doc = json.loads(text)
    assert doc["version"] == "0.0.0+" + OTHER_COMMIT[:12]
    assert OTHER_COMMIT in doc["description"]
    assert tflm.TFLM_COMMIT[:12] not in text


def test_a_fetched_tree_names_the_pinned_commit(tmp_path: Path) -> None:
    record = {"repository": tflm.TFLM_REPOSITORY, "commit": tflm.TFLM_COMMIT, "target": "x"}
    doc = json.loads(generated_library_json(tmp_path, fake_tree(tmp_path / "tree", record)))
    assert doc["version"] == "0.0.0+" + tflm.TFLM_COMMIT[:12]
    assert tflm.TFLM_COMMIT in doc["description"]


def test_a_record_that_is_not_tflms_names_no_commit(tmp_path: Path) -> None:
    for i, record in enumerate(
        (
            {"repository": "someone/fork", "commit": OTHER_COMMIT},
            {"repository": tflm.TFLM_REPOSITORY, "commit": "main; rm -rf /"},
            {"repository": tflm.TFLM_REPOSITORY},
            [tflm.TFLM_REPOSITORY, OTHER_COMMIT],
        )
    ):
        tree = fake_tree(tmp_path / f"tree{i}", record)  # type: ignore[arg-type]
        assert tflm.recorded_commit(tree) is None, record
    (tmp_path / "tree0" / tflm.TREE_INFO).write_text("{not json", encoding="utf-8")
    assert tflm.recorded_commit(tmp_path / "tree0") is None


def test_library_json_is_the_same_for_the_same_tree_anywhere(tmp_path: Path) -> None:
    a = generated_library_json(tmp_path / "a", fake_tree(tmp_path / "a" / "t"))
    b = generated_library_json(tmp_path / "b", fake_tree(tmp_path / "b" / "elsewhere" / "t"))
    assert a == b
