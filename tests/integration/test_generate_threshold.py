"""``tinyslm generate --threshold P``: another operating point without retraining.

The project's manifest carries the new threshold (so the firmware, ``info`` and the
emulator's reference agree), training's threshold-dependent figures move under
``at_trained_threshold``, and the generated firmware answers by the new gate.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cli_support import run_cli
from click.testing import CliRunner
from shared_paths import require_tool

from tinyslm.cli import cli
from tinyslm.decision import dequantize, score_milli, threshold_to_q
from tinyslm.emulate.emulator import Emulator, emulator_runner
from tinyslm.emulate.phrases import dataset_phrases, reference_parity, run_phrases
from tinyslm.errors import ModelError
from tinyslm.manifest import Manifest, load_model_dir
from tinyslm.modality import AUDIO
from tinyslm.operating_point import TRAINED, trained_view, with_label_thresholds, with_threshold
from tinyslm.pipeline import run_generate
from tinyslm.text.dataset import load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_manifest


def test_text_threshold_moves_the_gate_and_keeps_trained_figures(fixture_model: Path) -> None:
    manifest, _ = load_model_dir(fixture_model)
    out = manifest.output_quant
    moved = with_threshold(manifest, 0.9)
    # Recorded as the level it selects (231/256), rounded down as train records a level.
    assert moved.threshold == 0.902
    assert (
        moved.threshold_q == threshold_to_q(0.9, out.scale, out.zero_point) != manifest.threshold_q
    )
    trained = moved.metrics[TRAINED]
    assert trained["threshold_q"] == manifest.threshold_q
    assert trained["int8_accuracy_at_threshold"] == manifest.metrics["int8_accuracy_at_threshold"]
    assert "int8_accuracy_at_threshold" not in moved.metrics
    assert moved.metrics["threshold_rule"].startswith("set with generate --threshold 0.902 (")
    # The content hash covers the threshold: the moved manifest reads back as itself.
    back = Manifest.from_dict(json.loads(json.dumps(moved.to_dict())))
    assert back.threshold_q == moved.threshold_q
    # Moving it again keeps what training measured, not the first move.
    again = with_threshold(moved, 0.5)
    assert again.metrics[TRAINED] == trained
    view, suffix = trained_view(again)
    assert view["int8_accuracy_at_threshold"] == trained["int8_accuracy_at_threshold"]
    assert f"(trained: {manifest.threshold:.3f})" == suffix.strip()
    assert trained_view(manifest) == (dict(manifest.metrics), "")


def test_a_gate_under_half_a_thousandth_is_named_as_generate_takes_it(fixture_model: Path) -> None:
    # As printed to 3 decimals it read '--threshold 0.000', which generate refuses. A text
    # threshold is now recorded as the level it selects (1/256 for these, rounded down to
    # 0.003, which selects it again), so the rule names a value generate takes.
    manifest, _ = load_model_dir(fixture_model)
    moved = with_threshold(manifest, 0.0004)
    assert (moved.threshold, moved.threshold_q) == (0.003, -127)
    assert moved.metrics["threshold_rule"].startswith("set with generate --threshold 0.003 (")
    # A label's own level under half a thousandth, beside a model level it differs from
    # (at the model's own level it is not recorded: no level of its own).
    both = with_label_thresholds(with_threshold(manifest, 0.5), {"lights_on": 0.0003})
    assert both.label_thresholds[0].threshold_q == -127
    assert " --label-threshold lights_on=0.003 (" in both.metrics["threshold_rule"]


def test_keyword_threshold_is_a_detector_level() -> None:
    manifest = keyword_manifest()
    assert manifest.modality == AUDIO
    moved = with_threshold(manifest, 0.8)
    # The detector compares averaged int8 softmax scores, (q + 128) / 256.
    assert moved.threshold_q == 77 and moved.threshold == (77 + 128) / 256
    assert with_threshold(manifest, 255 / 256).threshold_q == 127
    with pytest.raises(ModelError, match=r"--threshold 0.999: above the highest score"):
        with_threshold(manifest, 0.999)


def test_refusals(fixture_model: Path) -> None:
    manifest, _ = load_model_dir(fixture_model)
    out = manifest.output_quant
    top = dequantize(127, out.scale, out.zero_point)
    with pytest.raises(ModelError, match="above the highest score"):
        with_threshold(manifest, min(0.99999, top + 1e-4))
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ModelError, match="must be between 0 and 1"):
            with_threshold(manifest, bad)


def test_cli_refuses_before_writing(fixture_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "proj"
    proc = run_cli("generate", "--board", "esp32", "--model", str(fixture_model), "-o", str(out),
                   "--threshold", "1.5")  # fmt: skip
    assert proc.returncode != 0 and not out.exists()
    assert "Invalid value for '--threshold': 1.5 is not in the range 0<x<1" in proc.stderr
    proc = run_cli("generate", "--board", "esp32", "--model", str(fixture_model), "-o", str(out),
                   "--threshold", "0.9999")  # fmt: skip
    assert proc.returncode != 0 and not out.exists()
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "above the highest score" in error[0], proc.stderr


def test_project_firmware_answers_by_the_new_gate(fixture_model: Path, tmp_path: Path) -> None:
    require_tool("cc")
    manifest, model = load_model_dir(fixture_model)
    plain = tmp_path / "plain"
    moved = tmp_path / "moved"
    run_generate("esp32", plain, model_dir=fixture_model)
    run_generate("esp32", moved, model_dir=fixture_model, threshold=0.95)
    changed = sorted(
        str(p.relative_to(moved))
        for p in moved.rglob("*")
        if p.is_file() and (plain / p.relative_to(moved)).read_bytes() != p.read_bytes()
    )
    # The model array, the firmware sources and the build files are the same bytes; the
    # settings, the README, the project's manifest and the record of generated files
    # (their hashes) are not.
    assert changed == [".tinyslm-files.json", "README.md", "src/tinyslm_settings.c",
                       "src/tinyslm_settings.h", "tinyslm.json"], changed  # fmt: skip
    project_manifest = json.loads((moved / "tinyslm.json").read_text())["manifest"]
    target = with_threshold(manifest, 0.95)
    assert project_manifest["threshold_q"] == target.threshold_q
    # The firmware core on the host: its answers equal the reference at the new gate.
    rows = dataset_phrases(load_dataset(None), "test")
    report = run_phrases(emulator_runner(Emulator(moved)), rows, source="demo", split="test")
    parity = reference_parity(report.results, target, model)
    assert parity.mismatches == () and parity.phrases == len(rows)
    base = run_phrases(emulator_runner(Emulator(plain)), rows, source="demo", split="test")
    assert report.escalation_rate > base.escalation_rate
    assert reference_parity(base.results, replace(target, threshold_q=manifest.threshold_q),
                            model).mismatches == ()  # fmt: skip
    # info reads the project: the new threshold, training's figures named as such.
    proc = run_cli("info", str(moved))
    assert proc.returncode == 0, proc.stderr
    assert f"{target.threshold:.3f} (q={target.threshold_q})" in proc.stdout
    assert f"(trained: {manifest.threshold:.3f})" in proc.stdout


def test_keyword_project_takes_the_new_detector_level(tmp_path: Path) -> None:
    from kws import keyword_model_dir

    model_dir = keyword_model_dir(tmp_path / "kws")
    trained, _ = load_model_dir(model_dir)
    out = tmp_path / "proj"
    run_generate("stm32h7", out, model_dir=model_dir, threshold=0.8)
    settings = (out / "src" / "tinyslm_settings.h").read_text()
    assert "#define TINYSLM_THRESHOLD_Q (77)" in settings
    assert "threshold_milli = 801," in (out / "src" / "tinyslm_settings.c").read_text()
    project = json.loads((out / "tinyslm.json").read_text())["manifest"]
    assert project["threshold_q"] == 77
    assert project["metrics"][TRAINED]["threshold_q"] == trained.threshold_q
    proc = run_cli("info", str(out))
    assert proc.returncode == 0, proc.stderr
    # The fixture's manifest has no streaming figures: the rule line names the trained level.
    trained_level = f"(trained: {trained.threshold:.3f}, q={trained.threshold_q})"
    assert "0.801 (q=77)" in proc.stdout and trained_level in proc.stdout


def test_report_of_the_project_says_where_the_threshold_came_from(
    fixture_model: Path, tmp_path: Path
) -> None:
    data = Path(__file__).resolve().parents[1] / "fixtures" / "fixture_commands.csv"
    pages = {}
    for name, threshold, own in (
        ("plain", None, None),
        ("moved", 0.9, None),
        ("own", None, {"lights_on": 0.95}),
    ):
        run_generate(
            "esp32", tmp_path / name, model_dir=fixture_model, threshold=threshold,
            label_thresholds=own,
        )  # fmt: skip
        page = tmp_path / f"{name}.html"
        proc = run_cli("report", str(tmp_path / name), "--data", str(data), "-o", str(page))
        assert proc.returncode == 0, proc.stderr
        pages[name] = page.read_text()
    trained, _ = load_model_dir(fixture_model)
    assert "The threshold was calibrated on the validation split" in pages["plain"]
    moved = f"The threshold was set with generate --threshold (trained: {trained.threshold:.3f})"
    assert moved in pages["moved"] and "chosen 0.902" in pages["moved"]
    # Labels of their own level leave the model's threshold as trained, and are named.
    level = with_label_thresholds(trained, {"lights_on": 0.95}).label_thresholds[0].threshold_q
    assert (
        "The threshold was calibrated on the validation split (labels with thresholds of "
        f"their own: lights_on 0.953 (q={level}); the curve moves one level for every label, "
        "the summary&#x27;s &#x27;at its own thresholds&#x27; row gates each at its own)"
    ) in pages["own"]
    assert "at its own thresholds (" in pages["own"]
    assert "at its own thresholds" not in pages["plain"]


OWN = {"lights_on": 0.95, "lights_off": 0.1}  # a surer lamp, a readier switch-off


def test_label_thresholds_in_the_text_firmware(fixture_model: Path, tmp_path: Path) -> None:
    """``generate --label-threshold``: the generated gate compares each answer with its
    intent's own level, exactly as the Python reference does with the project's manifest."""
    require_tool("cc")
    manifest, model = load_model_dir(fixture_model)
    plain, own = tmp_path / "plain", tmp_path / "own"
    run_generate("esp32", plain, model_dir=fixture_model)
    run_generate("esp32", own, model_dir=fixture_model, label_thresholds=OWN)
    changed = sorted(
        str(p.relative_to(own))
        for p in own.rglob("*")
        if p.is_file() and (plain / p.relative_to(own)).read_bytes() != p.read_bytes()
    )
    # The table lives in the settings; the model's threshold (settings.h) is unchanged.
    assert changed == [".tinyslm-files.json", "README.md", "src/tinyslm_settings.c",
                       "tinyslm.json"], changed  # fmt: skip
    target = with_label_thresholds(manifest, OWN)
    recorded = json.loads((own / "tinyslm.json").read_text())["manifest"]
    assert Manifest.from_dict(recorded) == target
    rows = dataset_phrases(load_dataset(None), "test")
    report = run_phrases(emulator_runner(Emulator(own)), rows, source="demo", split="test")
    parity = reference_parity(report.results, target, model)
    assert parity.mismatches == () and parity.phrases == len(rows)
    # The table did change answers: the model-wide gate disagrees with the firmware.
    assert reference_parity(report.results, manifest, model).mismatches != ()
    out = manifest.output_quant
    levels = dict(zip(manifest.labels, target.thresholds_q(), strict=True))
    routes = {label: set() for label in OWN}
    for r in report.results:
        if r.intent in OWN:
            routes[r.intent].add(r.route)
            if r.route == "local":  # never under its own level
                assert r.score >= dequantize(levels[r.intent], out.scale, out.zero_point) - 5e-4
    assert "escalate" in routes["lights_on"] and "local" in routes["lights_off"]
    # :info lists the intents whose level differs, as recorded: what info and the README
    # print below. Recorded is the level's P (0.95 selects 244/256, recorded 0.953): :info
    # once printed 0.953 beside their 0.950, then 0.950 of a gate at 0.9531.
    proc = run_cli("emulate", str(own), "--text", ":info")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)["info"]
    assert info["label_thresholds"] == {"lights_off": 0.101, "lights_on": 0.953}
    # The score lights_on's level stands for, as the firmware prints scores: the same.
    assert score_milli(levels["lights_on"], out.scale, out.zero_point) == 953
    plain_info = json.loads(run_cli("emulate", str(plain), "--text", ":info").stdout)["info"]
    assert "label_thresholds" not in plain_info
    # info and the project's README name them.
    proc = run_cli("info", str(own))
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("own thresholds"))
    assert f"lights_on 0.953 (q={levels['lights_on']})" in row
    doc = json.loads(run_cli("info", str(own), "--json", "-").stdout)
    assert doc["label_thresholds"] == {
        "lights_off": {"threshold": 0.101, "threshold_q": levels["lights_off"]},
        "lights_on": {"threshold": 0.953, "threshold_q": levels["lights_on"]},
    }
    assert json.loads(run_cli("info", str(plain), "--json", "-").stdout)["label_thresholds"] == {}
    readme = (own / "README.md").read_text()
    assert f'"lights_off" 0.101 (int8 {levels["lights_off"]})' in readme


def test_label_threshold_refusals_write_nothing(fixture_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "proj"
    # A typo is refused before the demo model would be trained (no --model).
    proc = run_cli("generate", "--board", "esp32", "-o", str(out), "--label-threshold", "lights_on")
    assert proc.returncode == 1 and not out.exists()
    assert proc.stderr.strip() == (
        "error: --label-threshold 'lights_on': expected LABEL=P, e.g. door_unlock=0.9"
    ), proc.stderr
    assert "training on the demo set" not in proc.stdout
    for given, said in (
        # Two thresholds in one option: the second was taken for P ("must be between 0
        # and 1"); refused once the model shows 'lights_on=0.9' is not one of its labels.
        (
            "lights_on=0.9=1",
            "error: --label-threshold 'lights_on=0.9=1': more than one threshold; give one "
            "LABEL=P, e.g. lights_on=0.9",
        ),
        ("lamp=0.9", "error: --label-threshold lamp=0.9: the model has no label 'lamp' (it has "),
        ("lights_on=1.5", "error: --label-threshold lights_on=1.5: must be between 0 and 1"),
    ):
        proc = run_cli("generate", "--board", "esp32", "--model", str(fixture_model), "-o",
                       str(out), "--label-threshold", given)  # fmt: skip
        assert proc.returncode == 1 and not out.exists()
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(said), proc.stderr


@pytest.mark.parametrize(
    "args", [("--threshold", "0.9999"), ("--label-threshold", "lights_on=0.998")]
)
def test_an_unreachable_threshold_is_refused_before_training(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: tuple[str, str]
) -> None:
    """Without --model, generate trains the demo first: a minute, then it was refused.
    Every tinyslm model's int8 softmax tops out at 255/256, so it is refused at once."""
    import tinyslm.pipeline

    def trained(*_: object, **__: object) -> None:
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(tinyslm.pipeline, "run_generate", trained)
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["generate", "--board", "esp32", "-o", str(out), *args])
    assert result.exit_code == 1, result.output
    assert f"error: {args[0]} {args[1]}: above the highest score the model's int8 output " in (
        result.stderr
    )
    assert not out.exists()


def test_an_unreachable_threshold_names_the_limit_in_full() -> None:
    # The limit is 255/256 = 0.99609375: printed to 4 places it read as the value typed,
    # '--threshold 0.9961: above the highest score ... (0.9961)', a contradiction.
    with pytest.raises(ModelError) as info:
        with_threshold(keyword_manifest(), 0.9961)
    assert str(info.value) == (
        "--threshold 0.9961: above the highest score the model's int8 output can give "
        "(0.99609375), so nothing would ever pass it"
    )


@pytest.mark.parametrize(
    "options",
    [
        ("--label-threshold", "yes=0.6"),
        ("--threshold", "0.6"),
        ("--threshold", "0.8", "--label-threshold", "no=0.75", "--label-threshold", "yes=0.6"),
    ],
    ids=["label", "global", "both"],
)
def test_the_readmes_regenerate_command_gives_the_project_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: tuple[str, ...]
) -> None:
    """A project without lib/tflm names, in its README, the command that makes it again:
    the levels written in full (yes=0.6015625 for yes=0.6). Its threshold_rule said the
    level to 6 digits (yes=0.601562) where the first run said 0.6: 'changed tinyslm.json'."""
    import shlex

    from kws import keyword_model_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # no cached TFLM tree
    model_dir = keyword_model_dir(tmp_path / "kws")
    out = tmp_path / "proj"
    first = CliRunner().invoke(
        cli,
        [
            "generate",
            "--board",
            "stm32h7",
            "--model",
            str(model_dir),
            "-o",
            str(out),
            *options,
        ],
    )
    assert first.exit_code == 0, first.output
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    readme = (out / "README.md").read_text()
    (line,) = [ln for ln in readme.splitlines() if "tinyslm generate --model MODEL_DIR" in ln]
    command = line[line.index("tinyslm generate") :].split("`")[0]
    argv = shlex.split(
        command.replace("MODEL_DIR", str(model_dir)).replace("PROJECT_DIR", str(out))
    )
    assert argv[:2] == ["tinyslm", "generate"] and "--force" in argv
    assert "0.6015625" in command  # the level in full, not the 0.6 typed
    again = CliRunner().invoke(cli, argv[1:])
    assert again.exit_code == 0, again.output
    assert ": 0 changed, 0 added, " in again.stdout, again.stdout
    after = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
