"""Round 49's benchmark fixes: a benchmark plans its model as ``tinyslm train DATA``
plans it (sizes and token dropout, the demo model too), escalation.py scores a host only
on phrases it did not train on and only on intents the models know, unmeasured host
times read n/a, settings are checked before the data, --selection's figures are labelled
validation, the figures say what made them, and ``--json DIR/`` is refused.

No test trains: trainings are replaced by stubs that record their config.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tinyslm.manifest import load_model_dir
from tinyslm.outdir import names_folder
from tinyslm.text.dataset import demo_dataset_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_benchmark_cli import RESULTS, _load  # one loader of a benchmark script
from test_r42_benchmarks import _refused

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
FIXTURE_DATA = Path(__file__).resolve().parents[1] / "fixtures" / "fixture_commands.csv"
ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
# What `tinyslm train tinyslm/data/demo_commands.csv` plans, prints and records:
# "size: buckets 4096, dim 32, hidden 128 (... 3,200 distinct n-gram ids ...)" and
# "token_dropout": 0.25 in its manifest.
DEMO_PLAN = (4096, 32, 128, 0.25)


class _Stop(Exception):
    """Raised by a stub where the real step would train for minutes."""


def _plan(config: Any) -> tuple[int, int, int, float]:
    return config.features.buckets, config.dim, config.hidden, config.token_dropout


def _capture_training(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[Any]:
    """``module.run_train`` records its config and stops the run."""
    configs: list[Any] = []

    def run_train(data: Path, out: Path, config: Any) -> Any:
        configs.append(config)
        raise _Stop

    monkeypatch.setattr(module, "run_train", run_train)
    return configs


# -- 1. clinc150.make_config plans as tinyslm train (the data's ids and phrase count) ---


def test_clinc150_plans_the_demo_set_as_train_does(capsys: pytest.CaptureFixture[str]) -> None:
    """It planned 8192/58/256 with token dropout 0.5 for any --data: the distinct n-gram
    ids and the training phrase count, which train sizes by, were left out."""
    bench = _load("clinc150")
    config = bench.make_config(bench.parse_args(["--data", str(demo_dataset_path())]))
    assert _plan(config) == DEMO_PLAN
    line = capsys.readouterr().out
    assert "3,200 distinct n-gram ids -> 4096 buckets" in line, line


def test_clinc150_plans_the_model_train_would_train_for_a_budget() -> None:
    """A budget given keeps its meaning (no data cap), but token dropout follows the
    data's 920 training phrases, as in train."""
    bench = _load("clinc150")
    argv = ["--data", str(demo_dataset_path()), "--max-model-kb", "64"]
    config = bench.make_config(bench.parse_args(argv))
    assert config.token_dropout == 0.25


def test_clinc150_plans_what_train_to_budget_trains_first() -> None:
    """One planner: the config the benchmark takes is the one train_to_budget hands its
    run first (a review found the benchmark faking a run to catch it)."""
    from tinyslm.text.dataset import load_dataset
    from tinyslm.train_options import default_options, plan_config, train_to_budget

    options = default_options()
    load = lambda: load_dataset(demo_dataset_path(), seed=0)  # noqa: E731
    trained: list[Any] = []

    def first_run(config: Any, _again: bool, _accept: Any) -> Any:
        trained.append(config)

    train_to_budget(options, load, first_run, lambda _: None)
    assert trained == [plan_config(options, load, lambda _: None)]


def test_clinc150_refuses_buckets_no_width_fits_as_train_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It said "buckets x dim = 536870912 x 54", a dim nobody gave: train's check of the
    given sizes names the buckets to give."""
    line = _refused("clinc150", ["--buckets", "536870912"], capsys)
    assert line.endswith(
        "--buckets 536870912 leaves the embedding under 4 wide: buckets x dim may be at most "
        "2^28 = 268435456, so give --buckets at most 67108864"
    ), line


# -- 2. cortex_m7's demo model is train's demo model ----------------------------------


def test_cortex_m7_trains_the_demo_model_train_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It trained TrainConfig(): a ~500 KB, token-dropout-0.5 model no user's train or
    generate makes, under the name "the demo model"."""
    bench = _load("cortex_m7")
    monkeypatch.setattr(bench, "tools_missing", lambda _args: None)
    configs = _capture_training(monkeypatch, bench)
    args = bench.parse_args(["--only", "text", "--clinc-data", str(demo_dataset_path())])
    with pytest.raises(_Stop):
        bench.measure(args)
    assert _plan(configs[0]) == DEMO_PLAN


# -- 3. escalation.py: a host trained with another seed on a file without splits --------


def _with_seed(folder: Path, seed: int) -> Path:
    """A copy of the fixture model whose manifest says it was trained with ``seed``."""
    shutil.copytree(FIXTURE_MODEL, folder)
    manifest, _ = load_model_dir(folder)
    dataclasses.replace(manifest, seed=seed).write(folder)
    return folder


def test_escalation_refuses_a_host_trained_on_the_scored_phrases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The split was the device's (seed 0): a seed-1 host was scored on phrases it trained
    on (182 of the demo set's 260 test phrases), its figures inflated, exit 0."""
    bench = _load("escalation")
    host = _with_seed(tmp_path / "host1", 1)
    out = tmp_path / "figures.json"
    argv = ["--device", str(FIXTURE_MODEL), "--host", str(host), "--json", str(out)]
    assert bench.main([*argv, "--data", str(demo_dataset_path())]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --device was trained with seed 0, --host with seed 1: ")
    assert "182 of the test phrases scored are in the host's training split" in line, line
    assert line.endswith("train both with one seed") and not out.exists()


def test_escalation_takes_another_host_seed_where_the_file_fixes_the_split(
    tmp_path: Path,
) -> None:
    """A split column fixes the split: the seed moves nothing, so nothing is refused, and
    the figures record each model's seed."""
    bench = _load("escalation")
    data = tmp_path / "fixed.csv"
    data.write_text(
        "text,label,split\nturn on the lights,lights_on,train\nlights on please,lights_on,test\n"
        "lock the door,door_lock,test\nsing me a song,oos,test\n"
    )
    host = _with_seed(tmp_path / "host1", 1)
    out = tmp_path / "figures.json"
    argv = ["--device", str(FIXTURE_MODEL), "--host", str(host), "--data", str(data)]
    assert bench.main([*argv, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["device"]["seed"] == 0 and figures["host"]["seed"] == 1
    assert figures["data"] == str(data) and figures["argv"] == [*argv, "--json", str(out)]


# -- 4. escalation.py: intents the models do not know ----------------------------------


def test_escalation_refuses_data_of_other_intents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed 0.00 % figures and wrote them (exit 0) where eval refuses."""
    bench = _load("escalation")
    data = tmp_path / "foobar.csv"
    data.write_text(
        "text,label,split\nturn on the lights,foo,test\nturn off the lights,bar,test\n"
        "hello,oos,test\n"
    )
    out = tmp_path / "figures.json"
    argv = ["--device", str(FIXTURE_MODEL), "--host", str(FIXTURE_MODEL), "--data", str(data)]
    assert bench.main([*argv, "--json", str(out)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"error: --device: {data}: none of its intents ('bar', 'foo') is one of the model's "
        "20; is this the dataset the model was trained for?"
    )
    assert not out.exists()


def test_escalation_warns_of_a_partial_overlap_as_eval_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("escalation")
    data = tmp_path / "partial.csv"
    data.write_text(
        "text,label,split\nturn on the lights,lights_on,test\nturn it up,foo,test\nhello,oos,test\n"
    )
    argv = ["--device", str(FIXTURE_MODEL), "--host", str(FIXTURE_MODEL), "--data", str(data)]
    assert bench.main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    said = (
        "1 of 2 in-scope phrases expect 1 intent(s) the model does not have ('foo'): "
        "they count as wrong; is this the model's dataset?"
    )
    assert err == [f"warning: --device: {said}", f"warning: --host: {said}"]


# -- 5. clinc150.py: --max-model-kb over train's 1 GiB ---------------------------------


@pytest.mark.parametrize("kb", ["1048577", "99999999999"])
def test_clinc150_refuses_a_budget_train_refuses(
    kb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the lower end was checked: 99999999999 planned a ~98 MB model."""
    line = _refused(_load("clinc150"), ["--max-model-kb", kb], capsys)
    assert line.endswith(
        f"error: invalid value for --max-model-kb: {kb} is not in the range 4<=x<=1048576."
    )


# -- 6. emulate_parity.py: host times not measured ------------------------------------


def test_emulate_parity_prints_na_for_untimed_host_times() -> None:
    """Python's None was printed as the figure: "None / None / None"."""
    bench = _load("emulate_parity")
    figures = {
        "agreement_percent": 0.0,
        "agree": 0,
        "compared": 4,
        "accuracy": None,
        "accuracy_at_threshold": None,
        "escalation_rate": None,
        "oos_recall": None,
        "device_errors": 4,
        "host_us_p50": None,
        "host_us_p95": None,
        "host_us_p99": None,
        "emulate_seconds": 0.1,
        "model_bytes": 1,
        "model_sha256": "0" * 64,
        "mismatches": [],
        "dataset": "long.csv",
        "board": "esp32",
        "split": "test",
        "phrases": 3,
        "oos_phrases": 1,
    }
    text = bench.table(figures)
    assert "n/a / n/a / n/a" in text and "None" not in text
    timed = bench.table({**figures, "host_us_p50": 1.5, "host_us_p95": 2.0, "host_us_p99": 3.25})
    assert "1.5 / 2.0 / 3.25" in timed


# -- 7. the figures say which data, seed and settings made them ---------------------------


def test_emulate_parity_records_argv_data_and_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its figures had the data's base name only: no argv, seed or model given."""
    bench = _load("emulate_parity")
    data = tmp_path / "oos.csv"
    data.write_text(
        "text,label,split\nturn on the lights,lights_on,train\n"
        "what is the capital of peru,oos,test\n"
    )
    out = tmp_path / "parity.json"
    argv = ["--data", str(data), "--model", str(FIXTURE_MODEL), "--json", str(out)]
    assert bench.main(argv) == 0
    figures = json.loads(out.read_text())
    assert figures["argv"] == argv and figures["data"] == str(data)
    assert figures["model"] == str(FIXTURE_MODEL) and figures["seed"] == 0
    assert figures["config"] is None  # given, not trained here


def test_emulate_parity_records_the_config_it_trained(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load("emulate_parity")
    configs = _capture_training(monkeypatch, bench)
    args = bench.parse_args(["--data", str(demo_dataset_path()), "--epochs", "1", "--seed", "3"])
    with pytest.raises(_Stop):
        bench.measure(args)
    assert _plan(configs[0]) == DEMO_PLAN and configs[0].seed == 3 and configs[0].epochs == 1
    assert args.argv == ["--data", str(demo_dataset_path()), "--epochs", "1", "--seed", "3"]


def test_cortex_m7_records_its_data_argv_and_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its figures had the method and split only: no data paths, argv or seeds."""
    bench = _load("cortex_m7")
    monkeypatch.setattr(bench, "tools_missing", lambda _args: None)
    trained: list[Any] = []

    def run_train(data: Path, out: Path, config: Any) -> None:
        trained.append(config)
        shutil.copytree(FIXTURE_MODEL, out)  # stands in for the trained model

    parity = {"parity_with_verify": {"agree": 1, "compared": 1}}
    monkeypatch.setattr(bench, "run_train", run_train)
    monkeypatch.setattr(bench, "measure_model", lambda *_a: {"stock": parity, "tinyslm": parity})
    monkeypatch.setattr(bench, "print_model", lambda *_a: None)
    out = tmp_path / "m7.json"
    argv = ["--only", "text", "--clinc-data", str(demo_dataset_path()), "--json", str(out)]
    assert bench.main(argv) == 0
    figures = json.loads(out.read_text())
    assert figures["argv"] == argv and figures["clinc_data"] == str(demo_dataset_path())
    for name, config in zip(("demo", "clinc150"), trained, strict=True):
        model = figures[name]["model"]
        assert model["folder"] is None and model["seed"] == 0 and model["config"], name
        assert _plan(config) == DEMO_PLAN  # both on the demo set here
    given = bench.model_record(FIXTURE_MODEL, load_model_dir(FIXTURE_MODEL)[0])
    assert given == {"folder": str(FIXTURE_MODEL), "seed": 0, "config": None}


# -- 8. emulate_parity.py: --epochs / --seed checked first ------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "invalid value for --epochs: 0 is not in the range 1<=x<=100000."),
        (["--seed", "-1"], "invalid value for --seed: -1 is not in the range"),
    ],
)
def test_emulate_parity_checks_training_settings_before_the_data(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With the default data absent, --epochs 0 said "nothing to benchmark", exit 0."""
    bench = _load("emulate_parity")
    monkeypatch.setattr(bench, "DEFAULT_DATA", tmp_path / "none" / "data_full.json")
    line = _refused(bench, argv, capsys)
    assert f"error: {message}" in line, line


# -- 9. speech_commands.py --selection: validation clips --------------------------------


def test_speech_commands_labels_selection_figures_as_validation() -> None:
    bench = _load("speech_commands")
    f = {
        "accuracy_float": 0.25,
        "accuracy_int8_tflm": 0.05,
        "n_test": 20,
        "per_class_int8": {},
        "model_bytes": 1,
        "arena_bytes": 1,
        "macs": 1,
        "params": 1,
        "epochs_run": 1,
        "best_epoch": 1,
        "feature_seconds": 0,
        "train_seconds": 0,
        "convert_seconds": 0,
        "verify_seconds": 0,
    }
    (_, value) = bench.rows_of("small", f, "validation")[0]
    assert "on 20 validation clips" in value and "test clips" not in value
    assert "on 20 test clips" in bench.rows_of("small", f)[0][1]


# -- 10. docs/architecture.md: the CLINC150 size table against the committed figures ----


def test_architecture_size_table_plain_row_is_dated_or_current() -> None:
    """The (none) row paired today's bytes with an older recipe's 93.18 %, said to be
    plain train at seed 0, where clinc150.json (plain train, seed 0) says 93.02 %: the
    row either has the committed figure or its paragraph says when it was measured."""
    text = ARCHITECTURE.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| (none) | B8192 D54"))
    int8 = row.split("|")[4].strip()
    committed = json.loads((RESULTS / "clinc150.json").read_text())
    table_at = text.index("| flags | shape |")
    # The paragraph the table follows (a blank line between them).
    paragraph = text[text.rfind("\n\n", 0, table_at - 2) : table_at]
    dated = re.search(r"at commit [0-9a-f]{7}", paragraph) is not None
    assert dated or int8 == f"{committed['in_scope_accuracy_int8'] * 100:.2f}%", paragraph
    # Where dated, today's figures are quoted beside it, as the results file has them.
    assert not dated or f"{committed['in_scope_accuracy_int8'] * 100:.2f}%" in paragraph


# -- 11. --json DIR/ names a folder --------------------------------------------------------


@pytest.mark.parametrize("bench", ["clinc150", "emulate_parity", "cortex_m7", "speech_commands"])
def test_a_benchmark_refuses_json_naming_a_folder(
    bench: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pathlib dropped the slash: --json out/ wrote a file named out."""
    target = str(tmp_path / "out") + "/"
    line = _refused(_load(bench), ["--json", target], capsys)
    assert line.endswith(
        f"error: argument --json: {target} names a folder (it ends in '/'); give a file name"
    ), line
    assert list(tmp_path.iterdir()) == []


def test_escalation_refuses_json_naming_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(tmp_path / "out") + "/"
    argv = ["--device", str(FIXTURE_MODEL), "--host", str(FIXTURE_MODEL), "--json", target]
    line = _refused(_load("escalation"), argv, capsys)
    assert "names a folder (it ends in '/'); give a file name" in line
    assert list(tmp_path.iterdir()) == []


def test_names_folder_reads_the_name_as_typed(tmp_path: Path) -> None:
    """As typed, a name ending in a separator (or in '.' after one) names a folder; a Path
    cannot say: Path() drops both, and '--json out/.' wrote a file named out."""
    typed = str(tmp_path / "out")
    assert names_folder(typed + "/") == (
        f"{typed}/ names a folder (it ends in '/'); give a file name"
    )
    assert names_folder(typed + "/.") == (
        f"{typed}/. names a folder (it ends in '.'); give a file name"
    )
    assert names_folder("..") is not None
    assert names_folder(typed + ".json") is None
    assert names_folder("out.") is None  # a file name ending in a dot is a file name
