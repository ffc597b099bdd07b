"""Round 51: ``build``'s missing-lib/tflm line and ``emulate --qemu``'s own tree.

- a keyword project's regenerate command in build's refusal carries the ``--mic-pin``
  options tinyslm.json records (it told the user to copy them from the README, even
  for a project without any, and printed a command that moved the microphone back);
- ``emulate --qemu`` refuses a ``lib/tflm`` that is there but no folder (a dangling
  link, a file) with build's line: it ran the ``tinyslm tflm fetch`` cache's tree.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, run_cli
from lib_tflm_fixtures import Made, fake_tree, made_fixture, stray

from tinyslm.errors import ProjectError
from tinyslm.toolchain import build, tflm
from tinyslm.toolchain.cortex_m import resolve_cortex_m_tree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

# --- build: the regenerate command with the recorded microphone pins ------------------


@pytest.fixture(scope="module")
def keyword_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keyword_model_dir(tmp_path_factory.mktemp("r51_kw") / "model")


def _keyword_project(model: Path, out: Path, *pins: str) -> Path:
    args = ["generate", "--board", "stm32h7", "--model", str(model), "-o", str(out), "-q"]
    made = run_cli(*args, *(x for pin in pins for x in ("--mic-pin", pin)))
    assert made.returncode == 0, made.stderr
    shutil.rmtree(out / "lib" / "tflm", ignore_errors=True)  # a fetch cache may have given one
    return out


def test_builds_regenerate_command_carries_the_recorded_mic_pins(
    keyword_model: Path, tmp_path: Path
) -> None:
    project = _keyword_project(keyword_model, tmp_path / "pins", "sd=PD6:AF6")
    readme = (project / "README.md").read_text()
    command = next(ln for ln in readme.splitlines() if ln.startswith("tinyslm generate --model"))
    assert command.endswith("--force --mic-pin sd=PD6:AF6"), command
    line = assert_one_error_line(run_cli("build", str(project)), "no lib/tflm")
    assert line.endswith(f"-o {project} --force --mic-pin sd=PD6:AF6"), line
    assert "README" not in line


def test_builds_regenerate_command_of_a_project_without_moved_pins(
    keyword_model: Path, tmp_path: Path
) -> None:
    project = _keyword_project(keyword_model, tmp_path / "plain")
    line = assert_one_error_line(run_cli("build", str(project)), "no lib/tflm")
    assert line.endswith(f"-o {project} --force"), line
    assert "--mic-pin" not in line and "README" not in line


# --- emulate --qemu: a lib/tflm that is no folder ------------------------------------


made = made_fixture("r51_qemu_tree")


@pytest.mark.parametrize("entry", ["dangling link", "file"])
def test_qemu_refuses_a_lib_tflm_that_is_no_folder_with_builds_line(
    made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "cache"))
    cached = fake_tree(tflm.default_cache_dir("cortex-m7"))  # what QEMU ran instead
    project = stray(made, tmp_path, entry)
    own = project / "lib" / "tflm"
    with pytest.raises(ProjectError) as built:
        build.open_checked(project)
    # Not "no lib/tflm": something is there, and the user removes it first.
    assert "no usable lib/tflm (a " in str(built.value)
    step = (
        f"move it away yourself (mv {own} {own}.mine)"
        if entry == "file"
        else f"remove it yourself (rm {own})"
    )
    assert f"builds TFLM from; {step}" in str(built.value)
    with pytest.raises(ProjectError) as emulated:
        resolve_cortex_m_tree(None, project)
    assert str(emulated.value) == str(built.value)
    # An explicit --tflm-dir is the user's choice, as before.
    assert resolve_cortex_m_tree(cached, project) == cached.resolve()
