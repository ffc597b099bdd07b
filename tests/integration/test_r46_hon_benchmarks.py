"""Two benchmark fixes of 5f7d35a that its tests did not hold.

- cortex_m7.py measures two keyword models of one folder name (``--keyword-model a/model
  --keyword-model b/model``): their labels are paths, and a temp folder named after the
  label asked for ``/tmp/tinyslm-m7-a/model-XXXX``, a FileNotFoundError after the text part
  had run. The test runs the real measure_keyword_model up to the image build.
- Each benchmark that finds no data says what to give or set, not only that it skipped.

No test trains, builds or emulates.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

from tinyslm.toolchain import tflm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_benchmark_cli import _load  # one loader of a benchmark script

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


class _Stop(Exception):
    """Raised where the real step would build the image and run it on QEMU for minutes."""


def test_cortex_m7_measures_two_keyword_models_of_one_folder_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _load("cortex_m7")
    monkeypatch.chdir(tmp_path)
    given = [Path("a/model"), Path("b/model")]
    for folder in given:
        keyword_model_dir(tmp_path / folder)
    labels = bench.keyword_labels(given)
    assert labels == ["a/model", "b/model"]  # paths: the folder name alone is taken twice
    # Temp folders in a folder of this test's own, so a stray tinyslm-m7-a/ elsewhere
    # cannot hide the bug, and what is left behind can be seen.
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    tree = tmp_path / "tree"  # the files a Cortex-M tree is checked for, empty
    for rel in (*tflm.REQUIRED_FILES, tflm.CORTEX_M_MARKER):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("")
    args = SimpleNamespace(tflm_dir=tree, stm32_sdk=None)
    # Stubbed: the keyword stream (it reads the Speech Commands test split), and the image
    # build that QEMU would run next. run_generate and the temp folder are the real ones.
    monkeypatch.setattr(
        bench, "keyword_recording", lambda *_a: SimpleNamespace(seconds=1.0, samples=None)
    )
    projects: list[Path] = []

    def build_image(project: Path, *_a: Any) -> Path:
        assert (project / "tinyslm.json").is_file()  # generated in the temp folder
        projects.append(project)
        raise _Stop

    monkeypatch.setattr(bench.cortex_m, "build_image", build_image)
    for label, folder in zip(labels, given, strict=True):
        with pytest.raises(_Stop):
            bench.measure_keyword_model(label, folder, args)
    assert len(projects) == 2 and projects[0] != projects[1]
    assert all(p.parent.parent == temp for p in projects), projects
    assert list(temp.iterdir()) == []  # each temp folder removed


@pytest.mark.parametrize(
    ("name", "argv", "what"),
    [
        ("clinc150", [], "CLINC150"),
        ("emulate_parity", [], "CLINC150"),
        ("escalation", ["--device", str(FIXTURE_MODEL), "--host", str(FIXTURE_MODEL)], "dataset"),
        ("speech_commands", [], "Speech Commands"),
    ],
)
def test_a_benchmark_without_its_data_says_what_to_give_or_set(
    name: str,
    argv: list[str],
    what: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TINYSLM_SHARED_DIR", str(tmp_path))
    bench = _load(name)  # reads the variable when loaded
    assert bench.main(argv) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line == (
        f"{what} not found at {bench.DEFAULT_DATA}; nothing to benchmark (give --data, or set"
        " TINYSLM_SHARED_DIR)."
    )
    assert str(bench.DEFAULT_DATA).startswith(str(tmp_path))
