"""An empty path is refused on every command, not read as the current folder.

Path("") is "."; ``tinyslm build "$P"`` with P unset built the folder it ran in, and
``generate --tflm-dir ""`` blamed the user for an output folder "inside the TFLM tree
(.)" they never named. 9d71213 made each path parameter refuse "" in one line, but its
tests held 9 of the 20 parameters: the other 11 could go back to ``click.Path`` with no
test failing. One test walks the whole command tree (a new parameter included), and each
of those 11 is run as the user would type it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tinyslm.cli import _FileName, _PathName, cli

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model"

# Path parameters that are not _PathName / _FileName, each refusing "" its own way
# (held by test_the_exempt_paths_refuse_an_empty_name_too):
EXEMPT = {
    # A str on purpose (Path("") is "."): the command refuses an empty -o itself.
    ("report", "output"),
    # exists=True: click refuses "" as a path that does not exist.
    ("train", "extra_train"),
}


def _path_params(
    command: click.Command, names: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Parameter]]:
    for param in command.params:
        if isinstance(param.type, click.Path):
            yield names, param
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _path_params(sub, (*names, name))


def test_every_path_parameter_refuses_an_empty_name() -> None:
    found = list(_path_params(cli))
    # The walk reaches the subcommands and the tflm group (a walk that found nothing
    # would pass whatever the types were).
    reached = {names for names, _ in found}
    assert {("generate",), ("emulate",), ("monitor",), ("tflm", "fetch")} <= reached
    plain = [
        f"{' '.join(names)} {param.name}: {type(param.type).__name__}"
        for names, param in found
        if not isinstance(param.type, (_PathName, _FileName))
        and (names[-1], param.name) not in EXEMPT
    ]
    assert plain == [], "click.Path reads '' as '.': use _PathName (or _FileName)"


def test_the_exempt_paths_refuse_an_empty_name_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for argv, needle in [
        (["report", str(FIXTURE_MODEL), "-o", ""], "-o is empty"),
        (["train", "demo", "--extra-train", "", "-o", "m"], "'--extra-train'"),
    ]:
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code != 0, result.output
        lines = [x for x in result.output.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert needle in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ESP32 text project of the fixture model (about a second, no build)."""
    out = tmp_path_factory.mktemp("empty-paths") / "p"
    argv = ["generate", "--board", "esp32", "--model", str(FIXTURE_MODEL), "-o", str(out), "-q"]
    made = CliRunner().invoke(cli, argv)
    assert made.exit_code == 0, made.output
    return out


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(folder.rglob("*"))
    }


# (argv, the option named in the refusal); P is the project, M the fixture model.
ROWS = [
    (["generate", "--board", "stm32h7", "--model", "M", "--tflm-dir", "", "-o", "q"], "--tflm-dir"),
    (["build", ""], "PROJECT_DIR"),
    (["flash", ""], "PROJECT_DIR"),
    (["emulate", "P", "--data", ""], "--data"),
    (["emulate", "P", "--wav", ""], "--wav"),
    (["emulate", "P", "--native", "--tflm-dir", "", "--text", "hi"], "--tflm-dir"),
    (["emulate", "P", "--host-model", "", "--text", "hi"], "--host-model"),
    (["monitor", "--wav", ""], "--wav"),
    (["monitor", "--host-model", ""], "--host-model"),
    (["report", "M", "--data", ""], "--data"),
    (["eval", "M", ""], "DATA"),
    (["tflm", "fetch", "--cache-dir", ""], "--cache-dir"),
]


@pytest.mark.parametrize(
    ("argv", "option"),
    ROWS,
    ids=[
        "generate-tflm-dir",
        "build",
        "flash",
        "emulate-data",
        "emulate-wav",
        "emulate-native-tflm-dir",
        "emulate-host-model",
        "monitor-wav",
        "monitor-host-model",
        "report-data",
        "eval-data",
        "tflm-fetch-cache-dir",
    ],
)
def test_an_empty_path_is_one_line_and_writes_nothing(
    argv: list[str],
    option: str,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetched: list[object] = []
    # Were "" read as ".", tflm fetch would download into the current folder: the stub
    # keeps a regression off the network (and says so below).
    monkeypatch.setattr("tinyslm.toolchain.tflm.fetch", lambda *a, **k: fetched.append(a))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    before = _tree(project)
    names = {"P": str(project), "M": str(FIXTURE_MODEL)}
    result = CliRunner().invoke(cli, [names.get(a, a) for a in argv])
    assert result.exit_code != 0, result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: Invalid value for ") and "an empty path" in lines[0]
    assert option in lines[0], lines[0]
    assert os.listdir(here) == [] and fetched == []
    assert _tree(project) == before
