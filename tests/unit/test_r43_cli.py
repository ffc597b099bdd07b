"""Round 43's command-line defects that need no trained model of their own."""

from __future__ import annotations

import dataclasses
import errno
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tinyslm import outdir, quantize, tflm_runtime
from tinyslm.cli import cli
from tinyslm.errors import DatasetError, ModelError, OutputError, OutputExistsError, one_line
from tinyslm.outdir import check_file_target, is_json_document, json_document, write_file

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


def _one_error(result: Any) -> str:
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "Traceback" not in result.output
    return errors[0]


# --- #1: a user's JSON naming the tool is not tinyslm's --json document ---


@pytest.mark.parametrize(
    "theirs",
    [
        b'{"tinyslm": "0.1.0", "numpy": "1.26.4"}',
        # The same, sorted and indented as jq -S writes it (as tinyslm wrote its own).
        b'{\n  "numpy": "1.26.4",\n  "tinyslm": "0.1.0"\n}\n',
    ],
    ids=["one-line", "jq-sorted"],
)
def test_json_naming_the_tool_is_not_replaced(tmp_path: Path, theirs: bytes) -> None:
    mine = tmp_path / "versions.json"
    mine.write_bytes(theirs)
    assert not is_json_document(theirs)
    with pytest.raises(OutputExistsError):
        check_file_target(mine, "--json", is_json_document)
    with pytest.raises(OutputExistsError):
        write_file(mine, json_document({"a": 1}, "9.9.9"), "--json", is_json_document)
    assert mine.read_bytes() == theirs


def test_info_json_keeps_a_users_version_pins(tmp_path: Path) -> None:
    mine = tmp_path / "versions.json"
    mine.write_text('{"tinyslm": "0.1.0", "numpy": "1.26.4"}')
    result = CliRunner().invoke(cli, ["info", str(FIXTURE_MODEL), "--json", str(mine)])
    assert "is not a --json figures file" in _one_error(result)
    assert mine.read_text() == '{"tinyslm": "0.1.0", "numpy": "1.26.4"}'
    # Its own document is still replaced, and an edited one is the user's.
    own = tmp_path / "info.json"
    for _ in range(2):
        result = CliRunner().invoke(cli, ["info", str(FIXTURE_MODEL), "--json", str(own)])
        assert result.exit_code == 0, result.output
    assert is_json_document(own.read_bytes())
    own.write_bytes(own.read_bytes().replace(b"\n}", b',\n  "mine": 1\n}'))
    result = CliRunner().invoke(cli, ["info", str(FIXTURE_MODEL), "--json", str(own)])
    assert "is not a --json figures file" in _one_error(result)


# --- #3: a failed TFLite conversion is one line naming the temporary folder ---


def test_conversion_failure_names_the_temporary_folder() -> None:
    class Broken:
        def convert(self) -> bytes:
            raise TypeError("'NoneType' object is not callable")

    with pytest.raises(ModelError) as err:
        quantize.run_converter(Broken())
    import tempfile

    assert tempfile.gettempdir() in str(err.value)
    assert "TFLite conversion failed (TypeError" in str(err.value)


# --- #4: write failures name what could not be written ---


def test_arena_probe_write_failure_names_the_temporary_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(ModelError, match=r"temporary folder .*tinyslm-arena-.*No space left"):
        tflm_runtime.min_arena_bytes(b"model")
    with pytest.raises(ModelError, match=r"temporary folder .*tinyslm-arena-"):
        tflm_runtime.arena_fits(b"model", 4096)


def test_synth_write_failure_names_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared_paths import require_tool

    from tinyslm.audio import synth as synth_mod

    require_tool("flite")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(synth_mod, "write_tree", full)
    config = synth_mod.SynthConfig(
        engines=("flite",),
        max_voices_per_engine=1,
        clips_per_voice=1,
        unknown_clips_per_voice=0,
        near_misses=0,
        background_seconds=0,
    )
    out = tmp_path / "kws"
    with pytest.raises(OutputError) as err:
        synth_mod.synthesize(["yes", "no"], out, config)
    assert str(err.value) == f"cannot write {out}: No space left on device"


# --- #7: one spelling for one concept ---


@pytest.mark.parametrize("command", ["train", "generate", "report", "synth"])
@pytest.mark.parametrize("spelling", ["-o", "--out", "--output"])
def test_every_output_option_takes_both_names(command: str, spelling: str) -> None:
    args = {"generate": ["--board", "esp32"], "report": ["m"], "synth": ["yes", "no"]}
    ctx = cli.commands[command].make_context(command, [*args.get(command, []), spelling, "x"])
    name = {"train": "out", "synth": "out_dir"}.get(command, "output")
    assert str(ctx.params[name]) == "x"


@pytest.mark.parametrize("seed", ["-1", str(2**32), "99999999999999999999999"])
def test_synth_seed_has_trains_range(seed: str, tmp_path: Path) -> None:
    out = str(tmp_path / "s")
    result = CliRunner().invoke(cli, ["synth", "yes", "no", "-o", out, "--seed", seed])
    assert "--seed" in _one_error(result) and "0<=x<=4294967295" in result.output
    result = CliRunner().invoke(cli, ["train", "--seed", seed])
    assert "0<=x<=4294967295" in _one_error(result)


def test_generate_board_is_a_choice_as_on_train() -> None:
    generate = _one_error(CliRunner().invoke(cli, ["generate", "--board", "bogus"]))
    train = _one_error(CliRunner().invoke(cli, ["train", "--board", "bogus"]))
    assert generate.split(" (see ")[0] == train.split(" (see ")[0]
    assert "'bogus' is not one of 'esp32', 'stm32h7'" in generate


# --- #9: one word is said to be what it is ---


def test_synth_one_word_says_train_refuses_it(tmp_path: Path) -> None:
    from shared_paths import require_tool

    require_tool("flite")
    out = tmp_path / "s"
    result = CliRunner().invoke(
        cli,
        [
            "synth",
            "yes",
            "-o",
            str(out),
            "--engine",
            "flite",
            "--max-voices",
            "1",
            "--clips",
            "1",
            "--unknown-clips",
            "1",
            "--near-misses",
            "0",
            "--background-seconds",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"note: one word only: 'tinyslm train {out}' refuses" in result.stderr
    assert f"'--extra-train {out}'" in result.stderr


# --- #10: an unclosed quote is named as one ---


def test_unclosed_quote_is_named(tmp_path: Path) -> None:
    from tinyslm.text.dataset import load_dataset

    bad = tmp_path / "badq.csv"
    bad.write_text('text,label\n"unterminated,lights_on\n')
    with pytest.raises(DatasetError) as err:
        load_dataset(bad)
    assert 'a quote (") opened on line 2 is never closed' in str(err.value)
    assert "quote text that contains" not in str(err.value)


# --- #11: a path's undecodable byte shown as the shell shows it ---


def test_undecodable_path_byte_shown_as_the_byte(tmp_path: Path) -> None:
    assert one_line("nonex\udcff") == "nonex\\xff"
    assert one_line("a\udc80\n\ud800") == "a\\x80\\n\\ud800"  # a real lone surrogate stays
    name = str(tmp_path / "nonex\udcff")
    error = _one_error(CliRunner().invoke(cli, ["info", name]))
    assert "nonex\\xff" in error and "udcff" not in error


def test_info_path_row_shows_the_byte(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "bad\udcffname"
    shutil.copytree(FIXTURE_MODEL, folder)
    result = CliRunner().invoke(cli, ["info", str(folder)])
    assert result.exit_code == 0, result.output
    assert "bad\\xffname" in result.output.splitlines()[0]


# --- (P1): a demo-trained model's report names --data demo, which works ---


def test_report_of_a_demo_trained_project_takes_data_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinyslm import pipeline, report_data
    from tinyslm.manifest import load_model_dir
    from tinyslm.text.dataset import demo_dataset_path

    monkeypatch.chdir(tmp_path)
    assert pipeline._demo_or(Path("demo")) == demo_dataset_path()
    Path("demo").write_text("text,label\n")  # a file of that name is the user's
    assert pipeline._demo_or(Path("demo")) == Path("demo")
    assert pipeline._demo_or(None) is None

    manifest, model = load_model_dir(FIXTURE_MODEL, probe_arena=False)
    demo = dataclasses.replace(manifest, metrics={**manifest.metrics, "dataset": "demo"})
    with pytest.raises(ModelError) as err:
        report_data.text_report_page(tmp_path, demo, model, None, None)
    assert "give --data demo (the bundled demo set the model was trained on)" in str(err.value)
    with pytest.raises(ModelError) as err:
        report_data.text_report_page(tmp_path, manifest, model, None, None)
    assert "give --data DATASET (the file the model was trained on)" in str(err.value)


# --- (P2): generate counts every file that lands ---


def test_generate_counts_every_file_it_writes(tmp_path: Path) -> None:
    out = tmp_path / "p"
    result = CliRunner().invoke(
        cli, ["generate", "--board", "esp32", "--model", str(FIXTURE_MODEL), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    landed = sum(1 for p in out.rglob("*") if p.is_file())
    assert f"writing {landed} files to {out} ..." in result.output
    assert f"wrote {out} ({landed} files)" in result.output


def test_json_document_carries_the_marker() -> None:
    doc = json.loads(json_document({"a": 1}, "1"))
    assert doc == {"a": 1, "tinyslm": "1", outdir.JSON_MARKER_KEY: outdir.JSON_MARKER}


def test_every_conversion_goes_through_run_converter() -> None:
    """Keyword training called converter.convert() itself: a full temp folder still
    ended its run in TensorFlow's traceback there."""
    root = Path(quantize.__file__).resolve().parent
    direct = [
        str(path.relative_to(root))
        for path in sorted(root.rglob("*.py"))
        if ".convert()" in path.read_text() and path.name != "quantize.py"
    ]
    assert direct == []
