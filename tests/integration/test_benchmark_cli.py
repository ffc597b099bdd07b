"""The benchmarks as commands: JSON only where ``--json`` says, bad input in one line.

``benchmarks/results/*.json`` are committed figures; a plain benchmark run used to
overwrite ``clinc150.json`` (and ``emulate_parity.json``) in the working tree. A bad
setting, dataset or model folder stopped them with a traceback.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tinyslm.text.dataset import demo_dataset_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RESULTS = BENCHMARKS / "results"
TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "1"]


def _load(name: str) -> Any:
    # emulate_parity imports clinc150 as a sibling module, as when run as a script.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _snapshot() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(RESULTS.glob("*.json"))}


@pytest.mark.parametrize("name", ["clinc150", "emulate_parity"])
def test_no_json_unless_asked(name: str) -> None:
    assert _load(name).parse_args([]).json is None


def test_clinc150_benchmark_writes_only_the_given_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _load("clinc150")
    monkeypatch.chdir(tmp_path)
    before = _snapshot()
    data = ["--data", str(demo_dataset_path()), *TINY, "--quiet"]
    assert bench.main(data) == 0
    assert _snapshot() == before and list(tmp_path.iterdir()) == []
    out = tmp_path / "figures" / "clinc.json"
    assert bench.main([*data, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert next(iter(figures.items())) == ("benchmark", "clinc150")  # marked as figures
    assert figures["n_train"] == 920 and figures["config"]["dim"] == 8
    assert figures["load_seconds"] >= 0  # the loader's time, in the benchmark, not a unit test
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("bench", "argv", "message"),
    [
        (
            "clinc150",
            ["--epochs", "0"],
            "invalid value for --epochs: 0 is not in the range 1<=x<=100000.",
        ),
        (
            "clinc150",
            ["--buckets", "1"],
            "invalid value for --buckets: 1 is not in the range 2<=x<=2147483647.",
        ),
        (
            "clinc150",
            ["--max-model-kb", "1"],
            "invalid value for --max-model-kb: 1 is not in the range 4<=x<=1048576.",
        ),
        (
            "speech_commands",
            ["--freq-warp", "0.5"],
            "--freq-warp: freq_warp must be in 0..0.3, got 0.5",
        ),
        (
            "speech_commands",
            ["--freq-warp", "-0.1"],
            "--freq-warp: freq_warp must be in 0..0.3, got -0.1",
        ),
        ("speech_commands", ["--tilt", "2"], "--tilt: tilt_probability must be in 0..1, got 2.0"),
        # A --data typo printed "not found ... nothing to benchmark" and exit 0, as for the
        # absent default; --distill-alpha 0 silently turned the teacher off.
        ("clinc150", ["--data", "nosuch.json"], "--data nosuch.json: no such dataset file"),
        (
            "escalation",
            ["--device", "m", "--host", "m", "--data", "x.csv"],
            "--data x.csv: no such dataset file",
        ),
        ("emulate_parity", ["--data", "nosuch.csv"], "--data nosuch.csv: no such dataset file"),
        ("speech_commands", ["--data", "nosuch"], "--data nosuch: no such dataset folder"),
        # Taken as a file named '-' (one already there failed after the whole run).
        (
            "clinc150",
            ["--json", "-"],
            "--json -: a benchmark writes its figures to a file; give a path",
        ),
        # cortex_m7 skipped a mistyped dataset as if ../shared lacked it ("not measured").
        (
            "cortex_m7",
            ["--clinc-data", "nosuch.json"],
            "--clinc-data nosuch.json: no such dataset file",
        ),
        ("cortex_m7", ["--keyword-data", "no"], "--keyword-data no: no such dataset folder"),
        ("cortex_m7", ["--tflm-dir", "nosuch"], "--tflm-dir nosuch: no such TFLM tree"),
        ("speech_commands", ["--bogus"], "unrecognized arguments: --bogus"),
        ("escalation", [], "the following arguments are required: --device, --host"),
        (
            "clinc150",
            ["--distill", "--distill-alpha", "0"],
            "--distill-alpha 0.0: with --distill it must be in (0, 1]",
        ),
    ],
)
def test_a_benchmark_refuses_a_bad_setting_before_loading(
    bench: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _load(bench).parse_args(argv)
    assert exit_info.value.code == 2
    # One line: argparse's usage block (a dozen lines for clinc150.py) came first before.
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(f": error: {message}")


@pytest.mark.parametrize(
    ("bench", "argv"),
    [
        ("clinc150", ["--data", "{d}/data.csv", "--json", "{d}/data.csv"]),
        ("emulate_parity", ["--data", "{d}/data.csv", "--model", "{d}/m",
                            "--json", "{d}/m/manifest.json"]),
        ("escalation", ["--device", "{d}/m", "--host", "{d}/h", "--data", "{d}/data.csv",
                        "--json", "{d}/h/r.json"]),
        ("speech_commands", ["--data", "{d}/kw", "--json", "{d}/kw/figures.json"]),
        ("cortex_m7", ["--keyword-data", "{d}/kw", "--json", "{d}/kw"]),
    ],
)  # fmt: skip
def test_a_benchmark_json_never_names_its_own_input(
    bench: str, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --json data.csv replaced the dataset with the figures; --json MODEL/manifest.json
    # the model's manifest: the scripts wrote wherever --json said.
    (tmp_path / "data.csv").write_text("text,label\n")
    for folder in ("m", "h", "kw"):
        (tmp_path / folder).mkdir()
    (tmp_path / "m" / "manifest.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        _load(bench).parse_args([a.format(d=tmp_path) for a in argv])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert "error: --json " in last and ("this run's input" in last or "is a folder" in last)
    assert (tmp_path / "data.csv").read_text() == "text,label\n"
    assert (tmp_path / "m" / "manifest.json").read_text() == "{}"


def test_a_benchmark_json_replaces_figures_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("clinc150")
    data = ["--data", str(demo_dataset_path())]
    notes = tmp_path / "notes.json"
    notes.write_text("[1, 2]\n")  # JSON, but no figures object: the user's
    with pytest.raises(SystemExit):
        bench.parse_args([*data, "--json", str(notes)])
    assert "error: --json " in capsys.readouterr().err.splitlines()[-1]
    # A JSON object of the user's (any object was taken for figures: --json
    # boards/schema.json replaced the board schema).
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object"}\n')
    with pytest.raises(SystemExit):
        bench.parse_args([*data, "--json", str(schema)])
    assert "error: --json " in capsys.readouterr().err.splitlines()[-1]
    old = tmp_path / "old.json"
    old.write_text('{"benchmark": "clinc150", "accuracy": 0.5}\n')  # an earlier run's figures
    assert bench.parse_args([*data, "--json", str(old)]).json == old
    # The committed figures are kept by hand (earlier runs, notes): never replaced whole.
    committed = RESULTS / "clinc150.json"
    assert "benchmark" not in json.loads(committed.read_text())
    with pytest.raises(SystemExit):
        bench.parse_args([*data, "--json", str(committed)])
    assert "never replaces" in capsys.readouterr().err.splitlines()[-1]


def test_emulate_parity_on_a_split_without_in_scope_phrases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The in-scope figures are None there: round(None) was a TypeError after the run.
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "model"
    data = tmp_path / "oos.csv"
    data.write_text(
        "text,label,split\nturn on the lights,lights_on,train\n"
        "what is the capital of peru,oos,test\nsing me a song,oos,test\n"
    )
    out = tmp_path / "parity.json"
    code = _load("emulate_parity").main(
        ["--data", str(data), "--model", str(fixture), "--json", str(out)]
    )
    figures = json.loads(out.read_text())
    assert code == 0 and figures["phrases"] == 0 and figures["oos_phrases"] == 2
    assert figures["accuracy"] is None and figures["oos_recall"] is not None


def _one_error_line(code: int, capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


def test_bad_data_or_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.md"
    bad.write_text("not a dataset\n")
    assert "unknown dataset format '.md'" in _one_error_line(
        _load("clinc150").main(["--data", str(bad), *TINY, "--quiet"]), capsys
    )
    # A model folder is checked with the arguments, before the dataset (exit 2, one line).
    with pytest.raises(SystemExit) as exit_info:
        _load("emulate_parity").main(
            ["--data", str(demo_dataset_path()), "--model", str(tmp_path / "none")]
        )
    (line,) = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and "error: --model: " in line
    assert "run 'tinyslm train' first" in line
    empty = tmp_path / "speech"
    empty.mkdir()
    assert "no keyword folders with .wav files" in _one_error_line(
        _load("speech_commands").main(["--data", str(empty), "--sizes", "small"]), capsys
    )


def test_cortex_m7_checks_model_folders_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("cortex_m7")
    keyword = keyword_model_dir(tmp_path / "kws")
    cases = [
        (["--demo-model", str(tmp_path / "none")], "--demo-model: ", "run 'tinyslm train' first"),
        (["--clinc-model", str(keyword)], "--clinc-model ", "a keyword model, not a text intent"),
        (["--keyword-clips", "0"], "--keyword-clips 0: ", "at least 1"),
    ]
    for argv, flag, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            bench.parse_args(argv)
        assert exit_info.value.code == 2
        last = capsys.readouterr().err.splitlines()[-1]
        assert f"error: {flag}" in last and message in last, last
    assert bench.parse_args(["--keyword-model", str(keyword)]).keyword_model == [keyword]


def test_cortex_m7_keyword_recording_reads_the_test_split(tmp_path: Path) -> None:
    # load_keyword_split returns (dataset, split): the benchmark's default run (keyword
    # part first) died on "'tuple' object has no attribute 'split'".
    from shared_paths import dataset_path, require_path

    data = require_path(dataset_path("speech_commands_dev"), "speech_commands_dev")
    bench = _load("cortex_m7")
    args = bench.parse_args(["--keyword-data", str(data), "--keyword-clips", "3"])
    stream = bench.keyword_recording(keyword_model_dir(tmp_path / "kws"), args)
    assert len(stream.spans) == 3


def test_synthetic_only_model_defaults_to_what_tinyslm_synth_writes() -> None:
    # The figure the README quotes is "what a user of 'tinyslm synth' gets".
    from tinyslm.audio.synth import SynthConfig

    bench = _load("speech_commands")
    made = bench.synthetic_only_config(bench.parse_args(["--synthetic"]))
    assert made == SynthConfig()
    chosen = bench.synthetic_only_config(
        bench.parse_args(["--synthetic", "--synth-voices", "10", "--synth-clips", "4"])
    )
    assert (chosen.max_voices_per_engine, chosen.clips_per_voice) == (10, 4)


def test_keyword_benchmark_trains_the_recipe_unless_a_flag_says_otherwise() -> None:
    """Without flags a benchmarked model is ``tinyslm train``'s recipe; each screening flag
    turns on its own setting and nothing else."""
    import dataclasses

    from tinyslm.audio.train import AudioTrainConfig

    bench = _load("speech_commands")
    assert bench.train_config(bench.parse_args([]), "default") == AudioTrainConfig()
    screened = {
        "--noise-per-epoch": {"noise_per_epoch": True},
        "--freq-warp=0.1": {"freq_warp": 0.1},
        "--tilt=0.5": {"tilt_probability": 0.5},
        "--reverb=0.3": {"reverb_probability": 0.3},
    }
    for flag, fields in screened.items():
        made = bench.train_config(bench.parse_args([flag]), "small")
        assert made == dataclasses.replace(AudioTrainConfig(size="small"), **fields), flag


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--synth-clips", "0"], "clips_per_voice must be >= 1, got 0"),
        (["--synth-voices", "-1"], "max_voices_per_engine must be >= 0, got -1"),
    ],
)
def test_a_bad_synthetic_setting_is_refused_before_anything_trains(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("speech_commands")
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--synthetic", *argv])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert "error: --synth-voices " in last and message in last, last


def _speakers_dataset(unknown_speakers: int) -> Any:
    """Clips of one keyword and of `_unknown_` in every split, a speaker per clip."""
    import numpy as np

    from tinyslm.audio.dataset import AudioDataset, Clip

    silent = np.zeros(16, np.int16)
    clips = [
        Clip(label, split, f"{label}{split}{i}", f"{label}/{split}{i}.wav", silent)
        for label, n in (("_unknown_", unknown_speakers), ("yes", 3))
        for split in ("train", "val", "test")
        for i in range(n)
    ]
    clips.append(Clip("_unknown_", "train", "_unknown_train0", "_unknown_/again.wav", silent))
    return AudioDataset(("_unknown_", "yes"), tuple(clips), (), "mem")


def test_selection_harness_moves_unknown_speakers_and_leaves_test_out() -> None:
    import hashlib

    bench = _load("speech_commands")
    dataset = _speakers_dataset(6)
    chosen = sorted(
        (f"_unknown_train{i}" for i in range(6)),
        key=lambda n: hashlib.sha1(n.encode()).hexdigest(),
    )[: bench.SELECTION_UNKNOWN_SPEAKERS]
    assert chosen != [f"_unknown_train{i}" for i in range(4)]  # SHA-1 order, not name order
    sel = bench.selection_split(dataset)
    by_split = {s: [c for c in sel.clips if c.split == s] for s in ("train", "val", "test")}
    original_test = {c.source for c in dataset.clips if c.split == "test"}
    assert not original_test & {c.source for c in sel.clips}
    moved = {c.speaker for c in by_split["val"] if c.label == "_unknown_"} - {
        c.speaker for c in dataset.clips if c.split == "val"
    }
    assert moved == set(chosen)
    # Every clip of a moved speaker left training (the speaker with two clips too).
    assert not moved & {c.speaker for c in by_split["train"]}
    assert len(by_split["train"]) == len([c for c in dataset.clips if c.split == "train"]) - sum(
        1 for c in dataset.clips if c.split == "train" and c.speaker in moved
    )
    # The scored split is the validation split, clip for clip.
    assert [c.source for c in by_split["test"]] == [c.source for c in by_split["val"]]
    assert sel.labels == dataset.labels


def test_selection_harness_refuses_too_few_unknown_speakers() -> None:
    from tinyslm.errors import DatasetError

    bench = _load("speech_commands")
    with pytest.raises(DatasetError, match=r"moves 4 training _unknown_ speakers.*has 4$"):
        bench.selection_split(_speakers_dataset(4))


def test_selection_is_not_for_the_synthetic_only_model(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("speech_commands")
    assert not bench.parse_args([]).selection
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--selection", "--synthetic"])
    assert exit_info.value.code == 2
    assert "--selection with --synthetic" in capsys.readouterr().err.splitlines()[-1]


def test_escalation_benchmark_same_model_on_both_sides(
    tmp_path: Path, fixture_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The host is the device's own model: it is never sure of what the device escalated,
    # so the system's figures are the device's, phrase for phrase.
    bench = _load("escalation")
    before = _snapshot()
    argv = ["--device", str(fixture_model), "--host", str(fixture_model)]
    argv += ["--data", str(demo_dataset_path())]
    assert bench.parse_args(argv).json is None
    assert bench.main(argv) == 0
    assert _snapshot() == before and list(tmp_path.iterdir()) == []
    out = tmp_path / "figures" / "escalation.json"
    assert bench.main([*argv, "--json", str(out)]) == 0
    f = json.loads(out.read_text())
    d, h, s = f["device"], f["host"], f["system"]
    assert h["sure_on_escalated"] == 0.0 and h["accuracy"] == d["accuracy"]
    assert s["answered_right"] == d["accuracy_at_threshold"]
    assert s["unanswered"] == d["escalation_rate"] and s["oos_recall"] == d["oos_recall"]
    assert s["phrases"] == 260 and s["oos_phrases"] == 20
    printed = capsys.readouterr().out
    assert "system answered right" in printed and f"figures written to {out}" in printed
    keyword = keyword_model_dir(tmp_path / "kws")
    with pytest.raises(SystemExit) as exit_info:
        bench.main([*argv[:2], "--host", str(keyword), *argv[4:]])
    (line,) = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and "error: --host: " in line
    assert "a keyword model, not a text intent model" in line
