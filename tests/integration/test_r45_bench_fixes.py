"""Round 45's benchmark fixes: figures that are not measured read n/a, a rule ``tinyslm
train`` refuses is refused before training, a model is sized for the data given, every
measured keyword model keeps its figures, options that would be ignored are refused,
``--json`` replaces only the benchmark's own figures, and the shared folder is
``$TINYSLM_SHARED_DIR``.

No test trains: the trainings and QEMU runs are replaced by stubs where the point is
what comes before or after them.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tinyslm.text.dataset import demo_dataset_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_benchmark_cli import RESULTS, _load  # one loader of a benchmark script
from test_r42_benchmarks import _refused
from test_r43_kwopts_train import yes_no_slice

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


class _Stop(Exception):
    """Raised by a stub where the real step would train or emulate for minutes."""


def _tools_present(monkeypatch: pytest.MonkeyPatch) -> None:
    """QEMU and the Arm compilers on PATH as far as cortex_m7.py asks (none is run)."""
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "tinyslm-tflm.json").write_text("{}\n")
    return tree


# -- 1. speech_commands.py: an unmeasured stream figure -------------------------------


def test_unmeasured_stream_figures_print_n_a() -> None:
    """A set without ``_unknown_/`` has no unknown-word stream (null), and a split
    without keyword clips no false-rejection rate: formatting the null as a number was
    a TypeError after every model had trained, and no figure was written."""
    bench = _load("speech_commands")
    streams = {
        "stride_ms": 400,
        "average": 2,
        "threshold_q": 100,
        "threshold_found": True,
        "false_rejection_rate": None,
        "keyword_clips": 0,
        "keyword_false_accepts": 0,
        "noise_fa_per_hour": None,
        "noise_false_accepts": 0,
        "noise_seconds": 0.0,
        "unknown_fa_per_hour": None,
        "unknown_false_accepts": 0,
        "unknown_seconds": 0.0,
    }
    rows = dict(bench.stream_rows("small", streams))
    assert rows["[small] streams: false rejections"].startswith("n/a of 0 keywords")
    per_hour = rows["[small] streams: false accepts per hour"]
    # fa_text's words, as train and eval give them: no rate is no count either.
    assert (
        per_hour.startswith("noise n/a (no audio)") and "unknown words n/a (no audio)" in per_hour
    )
    measured = dict(
        bench.stream_rows(
            "small",
            {**streams, "false_rejection_rate": 0.25, "noise_fa_per_hour": 1.234},
        )
    )
    assert measured["[small] streams: false rejections"].startswith("25.0% of 0 keywords")
    assert measured["[small] streams: false accepts per hour"].startswith("noise 1.2 (")


# -- 2. speech_commands.py: a rule train refuses ---------------------------------------


def test_unfirable_streaming_rule_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tinyslm train`` refuses --stride-ms 980 x --average 16 on the yes/no slice (its
    val streams are 11.5 s) in a second; the benchmark trained, converted, then ended in a
    TypeError. It loads the 28 clips and refuses, with train's own line."""
    data = yes_no_slice(tmp_path / "yn")
    bench = _load("speech_commands")

    def trained(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("trained a rule tinyslm train refuses")

    monkeypatch.setattr(bench, "train_audio", trained)
    out = tmp_path / "figures.json"
    argv = ["--data", str(data), "--sizes", "small", "--epochs", "1", "--quiet"]
    assert bench.main([*argv, "--stride-ms", "980", "--average", "16", "--json", str(out)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --stride-ms 980 x --average 16: the first detection needs")
    assert "lower --average to 11 or less" in line and not out.exists()


# -- 3. emulate_parity.py and cortex_m7.py: the model sized for the data given ----------


def _demo_copy(tmp_path: Path) -> Path:
    data = tmp_path / "commands.csv"
    shutil.copyfile(demo_dataset_path(), data)
    return data


def _train_shape(data: Path) -> tuple[int, int, int]:
    """What ``tinyslm train DATA`` sizes the model to (buckets, dim, hidden): its plan
    counts the training split's distinct n-gram ids, which cap the default budget
    (without them this reference was the benchmarks' own 500 KB mistake, round 49)."""
    from tinyslm.text.dataset import load_dataset
    from tinyslm.train_options import default_options, distinct_ids, plan_size

    options, dataset = default_options(), load_dataset(data, seed=0)
    shape = plan_size(options, len(dataset.labels), distinct_ids(dataset, options)).shape
    return shape.buckets, shape.dim, shape.hidden


def _capture_training(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[Any]:
    """``module.run_train`` records its config and stops the run."""
    configs: list[Any] = []

    def run_train(data: Path, out: Path, config: Any) -> Any:
        configs.append(config)
        raise _Stop

    monkeypatch.setattr(module, "run_train", run_train)
    return configs


def test_emulate_parity_sizes_its_model_for_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It sized the model from the default CLINC150 path, whatever --data said: 'dataset
    not found' naming a path the user never gave, or a CLINC-sized model of another set."""
    bench = _load("emulate_parity")
    monkeypatch.setattr(bench.clinc150, "DEFAULT_DATA", tmp_path / "absent" / "data_full.json")
    configs = _capture_training(monkeypatch, bench)
    data = _demo_copy(tmp_path)
    with pytest.raises(_Stop):
        bench.main(["--data", str(data), "--epochs", "1"])
    (config,) = configs
    assert (config.features.buckets, config.dim, config.hidden) == _train_shape(data)
    assert config.epochs == 1


def _cortex_text_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[str], list[str]]:
    """cortex_m7.py for the text models, QEMU replaced: (module, argv, measured names)."""
    bench = _load("cortex_m7")
    monkeypatch.setattr(bench.clinc150, "DEFAULT_DATA", tmp_path / "absent" / "data_full.json")
    _tools_present(monkeypatch)
    measured: list[str] = []

    def measure_model(name: str, *_args: Any) -> dict[str, Any]:
        measured.append(name)
        return {}

    monkeypatch.setattr(bench, "measure_model", measure_model)
    monkeypatch.setattr(bench, "print_model", lambda *_args: None)
    argv = ["--only", "text", "--tflm-dir", str(_tree(tmp_path))]
    return bench, [*argv, "--demo-model", str(FIXTURE_MODEL)], measured


def test_cortex_m7_sizes_the_clinc_model_for_clinc_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench, argv, measured = _cortex_text_run(tmp_path, monkeypatch)
    configs = _capture_training(monkeypatch, bench)
    data = _demo_copy(tmp_path)
    with pytest.raises(_Stop):
        bench.main([*argv, "--clinc-data", str(data)])
    (config,) = configs
    assert (config.features.buckets, config.dim, config.hidden) == _train_shape(data)
    assert measured == ["demo"]


def test_cortex_m7_bad_clinc_data_is_one_line_before_any_measurement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its error was a traceback, after the demo model's minutes of QEMU."""
    bench, argv, measured = _cortex_text_run(tmp_path, monkeypatch)
    notes = tmp_path / "notes.md"
    notes.write_text("not a dataset\n")
    assert bench.main([*argv, "--clinc-data", str(notes)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "unknown dataset format '.md'" in line
    assert measured == []


# -- 4. cortex_m7.py: every measured keyword model keeps its figures --------------------


def test_cortex_m7_keeps_every_keyword_models_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keyed by folder name, ``X/fixture`` replaced the committed fixture's figures and
    ``b/model`` replaced ``a/model``'s: four measured and printed, two written."""
    bench = _load("cortex_m7")
    _tools_present(monkeypatch)
    given = [
        keyword_model_dir(tmp_path / "x" / "fixture"),
        keyword_model_dir(tmp_path / "a" / "model"),
        keyword_model_dir(tmp_path / "b" / "model"),
    ]
    measured: list[Path] = []

    def measure_keyword_model(name: str, model_dir: Path, _args: Any) -> dict[str, Any]:
        measured.append(model_dir)
        parity = {"device": 1, "reference": 1, "identical": 1}
        return {"folder": str(model_dir), "parity_with_stream_py": parity}

    monkeypatch.setattr(bench, "measure_keyword_model", measure_keyword_model)
    monkeypatch.setattr(bench, "print_keyword_model", lambda *_args: None)
    keyword_data = tmp_path / "kw"
    keyword_data.mkdir()
    out = tmp_path / "m7.json"
    argv = ["--only", "keywords", "--tflm-dir", str(_tree(tmp_path))]
    argv += ["--keyword-data", str(keyword_data), "--json", str(out)]
    for folder in given:
        argv += ["--keyword-model", str(folder)]
    assert bench.main(argv) == 0
    written = json.loads(out.read_text())["keywords"]
    assert len(measured) == len(written) == 4
    assert sorted(f["folder"] for f in written.values()) == sorted(str(m) for m in measured)
    assert written["fixture"]["folder"] not in {str(g) for g in given}
    assert {str(given[0]), str(given[1]), str(given[2])} <= set(written)
    # The same folder twice is one model measured twice: refused.
    line = _refused(bench, ["--keyword-model", str(given[1])] * 2, capsys)
    assert f"--keyword-model {given[1]}: given twice" in line


def test_keyword_labels_are_unique_and_short_where_they_can_be() -> None:
    bench = _load("cortex_m7")
    assert bench.keyword_labels([Path("runs/a/yes_no"), Path("runs/b/model")]) == [
        "yes_no",
        "model",
    ]
    labels = bench.keyword_labels([Path("fixture"), Path("a/m"), Path("b/m")])
    assert labels[1:] == ["a/m", "b/m"] and labels[0] not in ("fixture", "a/m", "b/m")


# -- 5. clinc150.py: oos recall not measured --------------------------------------------


def _fake_train_result(metrics: dict[str, Any]) -> Any:
    manifest = SimpleNamespace(
        metrics=metrics, threshold=0.5, threshold_q=100, model_bytes=2048, arena_bytes=512, ops=[]
    )
    return SimpleNamespace(
        manifest=manifest,
        load_seconds=0.1,
        train_seconds=1.0,
        convert_seconds=0.1,
        verify_seconds=0.1,
    )


def test_clinc150_prints_n_a_for_oos_recall_of_a_set_without_oos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed 'oos recall at threshold 0.00%' (its JSON said null)."""
    bench = _load("clinc150")
    data = tmp_path / "nooos.csv"
    lines = demo_dataset_path().read_text().splitlines(keepends=True)
    data.write_text("".join(line for line in lines if not line.rstrip().endswith(",oos")))
    metrics = {
        "n_train": 10,
        "n_eval": 5,
        "n_oos_eval": 0,
        "float_accuracy": 0.8,
        "int8_accuracy": 0.8,
        "int8_accuracy_at_threshold": 0.6,
        "agreement": 1.0,
        "oos_recall": None,
        "threshold_rule": "rule",
    }
    monkeypatch.setattr(bench, "run_train", lambda *_args, **_kw: _fake_train_result(metrics))
    out = tmp_path / "figures.json"
    assert bench.main(["--data", str(data), "--quiet", "--json", str(out)]) == 0
    rows = capsys.readouterr().out.splitlines()
    (oos,) = [row for row in rows if row.startswith("oos recall at threshold")]
    assert oos.endswith("  n/a"), oos
    (accuracy,) = [row for row in rows if row.startswith("in-scope accuracy int8 at threshold")]
    assert accuracy.endswith("60.00%")
    assert json.loads(out.read_text())["oos_recall_int8"] is None


# -- 6. clinc150.py: distill settings without --distill ---------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--distill-alpha", "0.7"], "--distill-alpha only applies with --distill"),
        # The default value typed is still a setting the user asked for.
        (["--distill-alpha", "0.5"], "--distill-alpha only applies with --distill"),
        (
            ["--distill-temperature", "3", "--distill-augment", "2"],
            "--distill-augment, --distill-temperature only apply with --distill",
        ),
    ],
)
def test_clinc150_refuses_distill_settings_without_distill(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """tinyslm train refuses them; the benchmark trained a plain student (alpha 0)."""
    bench = _load("clinc150")
    line = _refused(bench, ["--data", str(demo_dataset_path()), *argv], capsys)
    assert line.endswith(f"error: {message} (the teacher is off without it)"), line


def test_clinc150_distill_settings_with_distill_and_defaults() -> None:
    bench = _load("clinc150")
    data = ["--data", str(demo_dataset_path())]
    args = bench.parse_args([*data, "--distill", "--distill-alpha", "0.7"])
    assert (args.distill_alpha, args.distill_folds) == (0.7, 5)
    plain = bench.parse_args(data)
    assert (plain.distill_alpha, plain.distill_temperature, plain.distill_augment) == (0.5, 2.0, 0)


# -- 7. options that would be ignored ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "small,small"], "--sizes 'small,small': small given twice"),
        (["--sizes", "small, default,small"], "small given twice"),
        (["--synth-voices", "5"], "--synth-voices without --synthetic: used only with --synthetic"),
        (
            ["--synth-voices", "5", "--synth-clips", "2"],
            "--synth-voices and --synth-clips without --synthetic",
        ),
        (
            ["--sizes", "", "--synthetic", "--synth-train", "24"],
            "--synth-train 24 with --sizes '': used only for the recorded models",
        ),
    ],
)
def test_speech_commands_refuses_options_it_would_ignore(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in _refused(_load("speech_commands"), argv, capsys)


def test_speech_commands_synthetic_settings_still_default_to_tinyslm_synths() -> None:
    from tinyslm.audio.synth import SynthConfig

    bench = _load("speech_commands")
    args = bench.parse_args(["--synthetic"])
    assert (args.synth_voices, args.synth_clips) == (
        SynthConfig().max_voices_per_engine,
        SynthConfig().clips_per_voice,
    )
    assert bench.parse_args(["--sizes", "small", "--synth-train", "2"]).synth_train == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--only", "keywords", "--demo-model", str(FIXTURE_MODEL)],
            "--demo-model with --only keywords: used only for the text models",
        ),
        (
            ["--only", "keywords", "--clinc-model", str(FIXTURE_MODEL)],
            "--clinc-model with --only keywords",
        ),
        (
            ["--only", "keywords", "--clinc-data", str(demo_dataset_path())],
            "--clinc-data with --only keywords",
        ),
        # Recorded as the split in the JSON, while the recording came from the test split.
        (["--only", "keywords", "--split", "val"], "--split with --only keywords"),
        (["--only", "text", "--keyword-clips", "3"], "--keyword-clips with --only text"),
    ],
)
def test_cortex_m7_refuses_options_of_the_modality_left_out(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in _refused(_load("cortex_m7"), argv, capsys)


def test_cortex_m7_split_and_clips_keep_their_defaults() -> None:
    bench = _load("cortex_m7")
    args = bench.parse_args([])
    assert (args.split, args.keyword_clips) == ("test", 20)
    args = bench.parse_args(["--only", "text", "--split", "val"])
    assert args.split == "val"


# -- 8. --json replaces only this benchmark's figures -----------------------------------


def _escalation_argv(json_path: Path) -> list[str]:
    models = ["--device", str(FIXTURE_MODEL), "--host", str(FIXTURE_MODEL)]
    return [*models, "--data", str(demo_dataset_path()), "--json", str(json_path)]


def test_json_never_replaces_another_benchmarks_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """escalation.py replaced clinc150's figures, and accepted the hand-kept
    benchmarks/results/speech_commands.json (30 rounds of notes no script writes)."""
    bench = _load("escalation")
    committed = RESULTS / "speech_commands.json"
    before = committed.read_bytes()
    line = _refused(bench, _escalation_argv(committed), capsys)
    assert "which --json never replaces" in line
    assert committed.read_bytes() == before
    clinc = tmp_path / "clinc_figs.json"
    clinc.write_text('{"benchmark": "clinc150", "oos_recall_int8": 0.9}\n')
    line = _refused(bench, _escalation_argv(clinc), capsys)
    assert line.endswith(
        f"error: --json {clinc} holds the clinc150 benchmark's figures, not escalation's;"
        " give another file"
    )
    # Its own earlier run's marked figures are replaced; its own committed file is not:
    # one run's figures would replace the earlier runs and notes kept there by hand.
    own = tmp_path / "esc.json"
    own.write_text('{"benchmark": "escalation", "split": "test"}\n')
    assert bench.parse_args(_escalation_argv(own)).json == own
    before = (RESULTS / "escalation.json").read_bytes()
    line = _refused(bench, _escalation_argv(RESULTS / "escalation.json"), capsys)
    assert "never replaces" in line and (RESULTS / "escalation.json").read_bytes() == before
    clinc150 = _load("clinc150")
    data = ["--data", str(demo_dataset_path())]
    assert "never replaces" in _refused(
        clinc150, [*data, "--json", str(RESULTS / "clinc150_distill.json")], capsys
    )
    # A new file in results/ is written (and marked).
    assert clinc150.parse_args([*data, "--json", str(RESULTS / "new_run.json")]).json


def test_json_written_at_the_end_keeps_another_benchmarks_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that appeared during the run is checked again when the figures are written."""
    sys.path.insert(0, str(RESULTS.parent))
    try:
        from _results import write_json
    finally:
        sys.path.remove(str(RESULTS.parent))
    other = tmp_path / "figures.json"
    other.write_text('{"benchmark": "clinc150"}\n')
    with pytest.raises(SystemExit) as exit_info:
        write_json(other, '{"x": 1}', "escalation")
    assert exit_info.value.code == 2 and other.read_text() == '{"benchmark": "clinc150"}\n'
    assert "error: --json " in capsys.readouterr().err
    write_json(other, '{"x": 1}', "clinc150")
    assert json.loads(other.read_text()) == {"benchmark": "clinc150", "x": 1}


# -- 10. the shared folder is $TINYSLM_SHARED_DIR --------------------------------------


def test_benchmarks_read_the_shared_folder_the_tests_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """They looked only in ../shared and skipped with exit 0 where the tests, given
    TINYSLM_SHARED_DIR, found the data."""
    monkeypatch.setenv("TINYSLM_SHARED_DIR", str(tmp_path))
    clinc = tmp_path / "datasets" / "clinc150" / "data_full.json"
    for name in ("clinc150", "emulate_parity"):
        assert clinc == _load(name).DEFAULT_DATA
    assert clinc == _load("escalation").DEFAULT_DATA
    speech = _load("speech_commands")
    assert tmp_path / "datasets" / "speech_commands_dev" == speech.DEFAULT_DATA
    m7 = _load("cortex_m7")
    assert clinc == m7.DEFAULT_CLINC
    assert tmp_path / "sdk" / "tflm" / "cortex-m7" == m7.DEFAULT_TREE
    # Absent there: the skip line says where it looked and what to set.
    assert _load("clinc150").main([]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line == (
        f"CLINC150 not found at {clinc}; nothing to benchmark (give --data, or set"
        " TINYSLM_SHARED_DIR)."
    )


# -- 12. --help gives each option a word or its default ----------------------


def test_help_gives_every_option_a_default_or_a_word(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("clinc150", "speech_commands", "cortex_m7", "emulate_parity", "escalation"):
        with pytest.raises(SystemExit) as exit_info:
            _load(name).parse_args(["--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        if name == "clinc150":
            assert " ".join(text.split()).count("(default: 25)") == 1  # --epochs
            assert "passes over the training set" in text
        if name == "speech_commands":
            assert "--stride-ms" in text and "(default: 400)" in text
        if name == "escalation":
            # One line, without reST markup ('--host-\nmodel' before).
            assert "on the host adds ('--host-model').\n" in text
        assert "``" not in text
        # --data, --epochs, --seed and more were listed with neither a word nor a default.
        if name != "cortex_m7":
            assert re.search(r"--data DATA\s+the [a-z ]*dataset[a-z ]* \(default:", text), text
