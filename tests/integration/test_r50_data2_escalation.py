"""Round 50, second data fixer: escalation.py reads its data once (a host of another seed
read the file a second time for its own split), through the text loader's seam
(:func:`tinyslm.text.dataset.read_dataset`, then :meth:`DatasetRows.split` with each
seed), which ``load_dataset`` itself is made of."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import tinyslm.text.dataset as td
from tinyslm.text.dataset import demo_dataset_path, load_dataset, read_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_benchmark_cli import _load  # one loader of a benchmark script
from test_r49_bench_fixes import FIXTURE_MODEL, _with_seed


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each dataset file is read (its stream opened)."""
    reads: Counter[str] = Counter()
    stream = td._read_stream

    def counted(path: Path, *args: Any, **kwargs: Any) -> Any:
        reads[Path(path).name] += 1
        return stream(path, *args, **kwargs)

    monkeypatch.setattr(td, "_read_stream", counted)
    return reads


def test_a_host_of_another_seed_reads_the_data_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refusal is the one it was (182 of the demo set's 260 test phrases)."""
    reads = _count_reads(monkeypatch)
    bench = _load("escalation")
    host = _with_seed(tmp_path / "host1", 1)
    argv = ["--device", str(FIXTURE_MODEL), "--host", str(host)]
    assert bench.main([*argv, "--data", str(demo_dataset_path())]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "182 of the test phrases scored are in the host's training split" in line, line
    assert reads == {demo_dataset_path().name: 1}


def test_the_figures_are_those_of_two_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A split column fixes the split: a seed-1 host is taken, its figures as before."""
    data = tmp_path / "fixed.csv"
    data.write_text(
        "text,label,split\nturn on the lights,lights_on,train\nlights on please,lights_on,test\n"
        "lock the door,door_lock,test\nsing me a song,oos,test\n"
    )
    reads = _count_reads(monkeypatch)
    bench = _load("escalation")
    host = _with_seed(tmp_path / "host1", 1)
    out = tmp_path / "figures.json"
    argv = ["--device", str(FIXTURE_MODEL), "--host", str(host), "--data", str(data)]
    assert bench.main([*argv, "--json", str(out)]) == 0
    assert reads == {"fixed.csv": 1}
    figures = json.loads(out.read_text())
    assert (figures["device"]["seed"], figures["host"]["seed"]) == (0, 1)
    assert (figures["system"]["phrases"], figures["system"]["oos_phrases"]) == (2, 1)


def test_an_empty_split_is_said_as_eval_says_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "trained.csv"
    data.write_text("text,label,split\nturn on the lights,lights_on,train\nhi,oos,train\n")
    bench = _load("escalation")
    argv = ["--device", str(FIXTURE_MODEL), "--host", str(FIXTURE_MODEL), "--data", str(data)]
    assert bench.main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {data}: split 'test' has no phrases (try --split all)"
    ]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_one_read_split_with_each_seed_is_load_dataset(seed: int) -> None:
    read = read_dataset(None, for_training=False)
    # Twice from one read: a split adds its findings to a copy of the read's warnings.
    for _ in range(2):
        assert read.split(seed=seed) == load_dataset(None, seed=seed, for_training=False)
    assert read.split(seed=seed, val_fraction=0.2, test_fraction=0.1) == load_dataset(
        seed=seed, val_fraction=0.2, test_fraction=0.1, for_training=False
    )


def test_a_reads_warnings_are_not_added_to_by_its_splits(tmp_path: Path) -> None:
    data = tmp_path / "small.csv"
    data.write_text("text,label\na b,x\nc d,x\ne f,y\ng h,y\na b,y\n")
    read = read_dataset(data)
    first, second = read.split(seed=0), read.split(seed=0)
    assert first.warnings and first.warnings == second.warnings
    assert first == load_dataset(data)


def test_bad_fractions_are_refused_before_the_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _count_reads(monkeypatch)
    with pytest.raises(td.DatasetError, match="must be below 1, got 1"):
        load_dataset(None, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(td.DatasetError, match=r"must be in \[0, 1\)"):
        read_dataset(None).split(val_fraction=1.0)
    assert reads == {"demo_commands.csv": 1}
