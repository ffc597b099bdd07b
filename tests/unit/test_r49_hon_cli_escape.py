"""Round 49 test-honesty audit: 0c730ec sent every ``warning:`` and ``note:`` line of the
CLI through ``for_terminal`` (a newline, a C1 control or a bidi override in a label or a
file name cannot break the line or reprogram the terminal); the test of round 48 covered
generate's own notes and the error line, not these sites, each of which could go back to
printing raw with every test passing: generate's "is yours" and "no longer generated"
notes, and the warnings of eval, emulate --data and train.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_r48_cli_text import MODEL, ODD, _raw

from tinyslm.cli import _say_generated, cli

NAMES = tuple(f"src/{label}.c" for label in ODD)
SHOWN = ", ".join(f"src/{label}.c" for label in ("a\\u2028b", "c\\x9bd", "e\\u202ef"))


def _regenerated(**report: object) -> object:
    fields: dict[str, object] = {
        "started": (),
        "created": False,
        "changed": (),
        "added": (),
        "removed": (),
        "unchanged": (),
        "stale": (),
        "stale_edited": (),
        "stale_unlisted": (),
        "kept": (),
    }
    fields.update(report)
    return types.SimpleNamespace(
        notes=(),
        tflm_tree=None,
        report=types.SimpleNamespace(**fields),
        out=Path("p"),
        files=(),
        board="esp32",
        model_bytes=1,
        arena_size=1,
        modality="text",
    )


def test_the_starter_is_yours_note_is_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    _say_generated(_regenerated(started=NAMES[2:]), quiet=True)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert _raw(err) == [], err
    assert "note: src/e\\u202ef.c is yours: what the board does on each answer" in err, err


def test_the_no_longer_generated_notes_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    result = _regenerated(stale=NAMES, stale_edited=NAMES[1:])
    _say_generated(result, quiet=True)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert _raw(err) == [], err
    assert "note: no longer generated, kept (remove with --force --prune): src/a\\u2028b.c" in err
    assert (
        "note: no longer generated, kept because edited since tinyslm wrote them (remove them"
        " yourself if unneeded): " + SHOWN.split(", ", 1)[1]
    ) in err, err


def test_evals_warnings_are_escaped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tinyslm.evaluate

    # A warning naming a file (the data's own name, say), as written: not a repr.
    result = types.SimpleNamespace(
        warnings=(f"{tmp_path}/{ODD[2]}.csv: 1 row skipped",),
        summary=lambda: {},
    )
    monkeypatch.setattr(tinyslm.evaluate, "run_eval", lambda _config: result)
    monkeypatch.setattr(tinyslm.evaluate, "format_eval", lambda _result: "figures")
    data = tmp_path / "d.csv"
    data.write_text("text,label\nhi,x\n", encoding="utf-8")
    run = CliRunner().invoke(cli, ["eval", str(MODEL), str(data)])
    assert run.exit_code == 0, run.output
    assert _raw(run.stderr) == [], run.stderr
    assert f"warning: {tmp_path}/e\\u202ef.csv: 1 row skipped" in run.stderr, run.stderr


def test_trains_warnings_are_escaped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # train's warn callback (0c730ec: through _tell); the training itself stands in: it
    # warns of a file, then fails.
    import tinyslm.pipeline
    from tinyslm.errors import ModelError

    def run_train(*_args: object, warn: object, **_kwargs: object) -> object:
        warn(f"{tmp_path}/{ODD[2]}.csv: 1 row skipped")  # type: ignore[operator]
        raise ModelError("stand-in training stops here")

    monkeypatch.setattr(tinyslm.pipeline, "run_train", run_train)
    data = tmp_path / "d"
    for word in ("yes", "no"):
        (data / word).mkdir(parents=True)
        (data / word / "a.wav").write_bytes(b"")
    run = CliRunner().invoke(cli, ["train", str(data), "-o", str(tmp_path / "m")])
    assert "stand-in training stops here" in run.stderr, run.output
    assert _raw(run.stderr) == [], run.stderr
    assert f"warning: {tmp_path}/e\\u202ef.csv: 1 row skipped" in run.stderr, run.stderr


def test_emulate_datas_warnings_are_escaped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # emulate --data's warnings (0c730ec: through _tell); the run stands in.
    import tinyslm.pipeline

    result = types.SimpleNamespace(
        warnings=(f"{tmp_path}/{ODD[1]}.csv: 1 row skipped",),
        text="figures",
        summary={},
        coverage=None,
        failure=None,
    )
    monkeypatch.setattr(tinyslm.pipeline, "run_emulate", lambda _config: result)
    data = tmp_path / "d.csv"
    data.write_text("text,label\nhi,x\n", encoding="utf-8")
    run = CliRunner().invoke(cli, ["emulate", str(tmp_path), "--data", str(data)])
    assert run.exit_code == 0, run.output
    assert _raw(run.stderr) == [], run.stderr
    assert f"warning: {tmp_path}/c\\x9bd.csv: 1 row skipped" in run.stderr, run.stderr


def test_the_unlisted_tree_note_is_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    """A tree an old record lists no files of is said as such, not as edited (round 51)."""
    result = _regenerated(stale=NAMES, stale_edited=NAMES[1:], stale_unlisted=NAMES[1:])
    _say_generated(result, quiet=True)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert _raw(err) == [], err
    assert "kept because edited since" not in err, err
    assert (
        "note: no longer generated, kept because the record, written before round 32, lists "
        "none of their files, so they may hold yours (remove them yourself if unneeded): "
        + SHOWN.split(", ", 1)[1]
    ) in err, err
