"""Round 49: keyword ``emulate --qemu/--native --data`` reads DATA before it builds.

The firmware was compiled and linked first (about a minute for ``--qemu`` on a cold
cache), and only then was a mistyped or empty DATA refused; the two modalities also
worded a missing DATA differently ("no such file or folder" for keywords, "dataset not
found" for text, eval and report --data). Here the builds raise a sentinel: the one-line
refusal must come without reaching it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.pipeline import run_generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir


class _Built(Exception):
    """The firmware build was reached."""


@pytest.fixture(scope="module")
def kws_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An esp32 project generated from the keyword fixture model (treat as read-only)."""
    base = tmp_path_factory.mktemp("r49_kws")
    out = base / "esp32"
    run_generate("esp32", out, model_dir=keyword_model_dir(base / "model"))
    return out


@pytest.fixture
def no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tools and trees there; any build raises :class:`_Built`."""
    from tinyslm.emulate import qemu
    from tinyslm.toolchain import cortex_m, host

    def built(*_a: object, **_k: object) -> Path:
        raise _Built

    monkeypatch.setattr(qemu, "check_tools", lambda: None)
    monkeypatch.setattr(cortex_m, "resolve_cortex_m_tree", lambda _d, _p=None: Path("/tree"))
    monkeypatch.setattr(host, "resolve_host_tree", lambda _d: Path("/tree"))
    monkeypatch.setattr(cortex_m, "build_image", built)
    monkeypatch.setattr(host, "build_native", built)


def _emulate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["emulate", *args])
    assert not isinstance(result.exception, _Built), "the firmware was built before DATA"
    return result.exit_code, result.stderr


@pytest.mark.usefixtures("no_build")
@pytest.mark.parametrize("engine", ["--qemu", "--native"])
def test_a_missing_data_is_refused_before_the_build(
    kws_project: Path, tmp_path: Path, engine: str
) -> None:
    missing = tmp_path / "nonexist"
    code, err = _emulate(str(kws_project), engine, "--data", str(missing))
    assert (code, err) == (1, f"error: {missing}: dataset not found\n")


@pytest.mark.usefixtures("no_build")
@pytest.mark.parametrize("engine", ["--qemu", "--native"])
def test_an_empty_folder_is_refused_before_the_build(
    kws_project: Path, tmp_path: Path, engine: str
) -> None:
    empty = tmp_path / "emptyd"
    empty.mkdir()
    code, err = _emulate(str(kws_project), engine, "--data", str(empty))
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"error: {empty}: no keyword folders with .wav files"), err


def test_both_modalities_word_a_missing_data_alike(
    kws_project: Path, esp32_project: Path, tmp_path: Path
) -> None:
    # The host engine: the keyword loader said "no such file or folder", the text one,
    # eval and report --data "dataset not found".
    missing = tmp_path / "nonexist"
    for project in (kws_project, esp32_project):
        code, err = _emulate(str(project), "--data", str(missing))
        assert (code, err) == (1, f"error: {missing}: dataset not found\n"), project
