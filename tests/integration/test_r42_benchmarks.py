"""The benchmarks never report success with nothing measured, nor lose a setting quietly.

A typed ``--data`` that is a folder (or empty) was skipped as "nothing to benchmark"
with exit 0, as only an absent ``../shared`` should be; ``cortex_m7.py --only keywords``
without the keyword dataset replaced an earlier figures file with an empty one; a
missing TTS engine, or a real set without ``_silence_``, stopped ``speech_commands.py
--synthetic`` only after every recorded model had trained.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tinyslm.text.dataset import demo_dataset_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_benchmark_cli import _load  # one loader of a benchmark script

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


def _refused(bench: Any, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line ``bench``'s arguments (a script's name, or the loaded script)
    are refused with (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        (_load(bench) if isinstance(bench, str) else bench).parse_args(argv)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


@pytest.mark.parametrize("bench", ["clinc150", "emulate_parity", "escalation"])
def test_a_typed_data_folder_or_empty_path_is_refused(
    bench: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = ["--device", "m", "--host", "m"] if bench == "escalation" else []
    line = _refused(bench, [*models, "--data", str(tmp_path)], capsys)
    assert line.endswith(f"error: --data {tmp_path}: a folder, not a dataset file"), line
    line = _refused(bench, [*models, "--data", ""], capsys)
    assert line.endswith("error: argument --data: an empty path; give a file or folder"), line


@pytest.mark.parametrize("bench", ["clinc150", "emulate_parity"])
def test_an_absent_default_dataset_is_still_a_quiet_skip(
    bench: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = _load(bench)
    monkeypatch.setattr(module, "DEFAULT_DATA", tmp_path / "shared" / "data_full.json")
    assert module.main([]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "nothing to benchmark" in line


def _tools_present(monkeypatch: pytest.MonkeyPatch, absent: tuple[str, ...] = ()) -> None:
    """QEMU and the Arm compilers on PATH as far as the benchmark asks (none is run)."""
    monkeypatch.setattr("shutil.which", lambda name: None if name in absent else f"/usr/bin/{name}")


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "tinyslm-tflm.json").write_text("{}\n")
    return tree


def test_cortex_m7_keywords_only_without_the_dataset_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("cortex_m7")
    monkeypatch.setattr(bench, "DEFAULT_KWS_DATA", tmp_path / "shared" / "speech_commands_dev")
    earlier = tmp_path / "cm7.json"
    earlier.write_text('{"benchmark": "cortex_m7", "keywords": {"fixture": {}}}\n')
    before = earlier.read_bytes()
    model = keyword_model_dir(tmp_path / "kws")
    _tools_present(monkeypatch)
    argv = ["--only", "keywords", "--tflm-dir", str(_tree(tmp_path)), "--json", str(earlier)]
    assert bench.main([*argv, "--keyword-model", str(model)]) == 0
    # The earlier figures stay; the line names the model the user gave and the file.
    assert earlier.read_bytes() == before
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("nothing to benchmark: no keyword dataset at ")
    assert str(model) in line and f"{earlier} not written" in line


def test_cortex_m7_names_only_what_is_missing_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("cortex_m7")
    absent_tree = tmp_path / "shared" / "cortex-m7"
    monkeypatch.setattr(bench, "DEFAULT_TREE", absent_tree)
    _tools_present(monkeypatch)
    assert bench.main([]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line == f"nothing to benchmark: no Cortex-M7 TFLM tree at {absent_tree}."
    # The tree is there, QEMU is not: the line names QEMU only.
    _tools_present(monkeypatch, absent=(bench.qemu.QEMU,))
    assert bench.main(["--tflm-dir", str(_tree(tmp_path))]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line == f"nothing to benchmark: {bench.qemu.QEMU} not on PATH."


def test_cortex_m7_refuses_a_typed_tree_that_is_not_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused("cortex_m7", ["--tflm-dir", str(tmp_path)], capsys)
    assert line.endswith(f"--tflm-dir {tmp_path}: not a TFLM tree (no tinyslm-tflm.json in it)")
    file = tmp_path / "notes.txt"
    file.write_text("x\n")
    line = _refused("cortex_m7", ["--tflm-dir", str(file)], capsys)
    assert line.endswith(f"--tflm-dir {file}: not a folder, so not a TFLM tree"), line
    model = keyword_model_dir(tmp_path / "kws")
    line = _refused("cortex_m7", ["--only", "text", "--keyword-model", str(model)], capsys)
    assert "--keyword-model with --only text" in line


def _fake_keywords(labels: tuple[str, ...]) -> Any:
    from tinyslm.audio.dataset import AudioDataset, Clip

    silent = np.zeros(16, np.int16)
    clips = tuple(
        Clip(label, "test", f"s{i}", f"{label}/{i}.wav", silent) for i, label in enumerate(labels)
    )
    return AudioDataset(labels, clips, (), "mem")


def test_synthetic_only_model_is_scored_on_a_real_set_without_silence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real set has no _background_noise_ (so no _silence_): its clips are scored with
    the synthetic model's outputs mapped, not refused after every model trained."""
    bench = _load("speech_commands")
    real = _fake_keywords(("_unknown_", "no", "yes"))
    synth = _fake_keywords(("_silence_", "_unknown_", "no", "yes"))
    made = SimpleNamespace(
        out_dir=Path("synth"), engines=("flite 2.2",), speakers=("a",), clips=[("yes", 1)]
    )
    model = SimpleNamespace(model=b"", int8_accuracy=1.0, model_bytes=1, train_seconds=0.0)
    monkeypatch.setattr(bench, "synthesize", lambda *_a, **_k: made)
    monkeypatch.setattr(bench, "load_audio_dataset", lambda _path: synth)
    monkeypatch.setattr(bench, "train_audio", lambda *_a: model)
    # Real test clips _unknown_, no, yes (real indices 0, 1, 2); the model says
    # _unknown_, yes, yes (synthetic indices 1, 3, 3): two of three right.
    sets = SimpleNamespace(y_test=np.array([0, 1, 2]), x_test=np.zeros((3, 1)))
    monkeypatch.setattr(bench, "feature_sets", lambda *_a: sets)
    scores = np.zeros((3, 4), np.int8)
    scores[0, 1] = scores[1, 3] = scores[2, 3] = 100
    monkeypatch.setattr(bench, "tflm_predict", lambda *_a: scores)
    args = bench.parse_args(["--synthetic"])
    got = bench.synthetic_on_real(real, args, bench.train_config(args, "default"), None)
    assert got["real_test_accuracy_int8_tflm"] == round(2 / 3, 5)
    per_class = got["real_per_class_int8"]
    assert list(per_class) == ["_unknown_", "no", "yes"]  # no _silence_: no real clip
    assert per_class["no"] == {"accuracy": 0.0, "clips": 1}
    assert per_class["yes"] == {"accuracy": 1.0, "clips": 1}


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (["--synthetic", "--sizes", "small"], "--synthetic"),
        (["--synth-train", "1"], "--synth-train"),
    ],
)
def test_missing_tts_engines_are_found_before_anything_trains(
    flags: list[str],
    flag: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _load("speech_commands")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no espeak-ng, flite, festival

    def no_training(*_args: object) -> None:
        raise AssertionError("a model trained before the TTS engines were checked")

    monkeypatch.setattr(bench, "train_audio", no_training)
    monkeypatch.setattr(bench, "load_audio_dataset", lambda _path: _fake_keywords(("no", "yes")))
    data = tmp_path / "speech"
    data.mkdir()
    assert bench.main(["--data", str(data), "--sizes", "small", *flags, "--quiet"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {flag}: no text-to-speech engine found")


def test_json_link_refusal_does_not_suggest_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A benchmark refuses '--json -', so its refusal of a link must not suggest '-'."""
    target = tmp_path / "elsewhere.json"
    target.write_text('{"benchmark": "clinc150"}\n')
    link = tmp_path / "link.json"
    link.symlink_to(target)
    line = _refused("clinc150", ["--data", str(demo_dataset_path()), "--json", str(link)], capsys)
    assert "is a link, a pipe or a device" in line and "'-'" not in line, line
    # Written at the end (the link appeared during the run): one line, exit 2, no traceback.
    results = _load("_results")
    with pytest.raises(SystemExit) as exit_info:
        results.write_json(link, "{}", "clinc150")
    (line,) = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and line.startswith("error: --json ") and "'-'" not in line
    assert target.read_text() == '{"benchmark": "clinc150"}\n'


def test_emulate_parity_and_escalation_check_models_before_the_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # With ../shared absent a mistyped folder passed with exit 0 ("nothing to benchmark").
    for bench in ("emulate_parity", "escalation"):
        monkeypatch.setattr(_load(bench), "DEFAULT_DATA", tmp_path / "absent.json")
    line = _refused("emulate_parity", ["--model", str(tmp_path / "typo")], capsys)
    assert "error: --model: " in line and "run 'tinyslm train' first" in line
    line = _refused(
        "escalation", ["--device", str(tmp_path / "typo"), "--host", str(FIXTURE_MODEL)], capsys
    )
    assert "error: --device: " in line and "run 'tinyslm train' first" in line
    keyword = keyword_model_dir(tmp_path / "kws")
    line = _refused("emulate_parity", ["--model", str(keyword)], capsys)
    assert line.endswith(f"--model {keyword}: a keyword model, not a text intent model")
    # --seed (and --epochs) shape only the model the script trains itself.
    line = _refused("emulate_parity", ["--model", str(FIXTURE_MODEL), "--seed", "3"], capsys)
    assert "--seed with --model: used only when training a model (without --model)" in line
    assert _load("emulate_parity").parse_args([]).seed == 0


def test_emulate_parity_rounds_host_times_and_says_where_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("emulate_parity")
    measured = bench.run_emulate

    def interpolated(config: Any) -> Any:
        # What numpy's percentile gave the hunter between two phrases' times.
        done = measured(config)
        report = dataclasses.replace(
            done.report, us_p50=16.64999999999999, us_p95=7.000000000000001, us_p99=3.0
        )
        return dataclasses.replace(done, report=report)

    monkeypatch.setattr(bench, "run_emulate", interpolated)
    data = tmp_path / "oos.csv"
    data.write_text(
        "text,label,split\nturn on the lights,lights_on,train\n"
        "what is the capital of peru,oos,test\nsing me a song,oos,test\n"
    )
    out = tmp_path / "parity.json"
    assert bench.main(["--data", str(data), "--model", str(FIXTURE_MODEL), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert (figures["host_us_p50"], figures["host_us_p95"], figures["host_us_p99"]) == (
        16.65,
        7.0,
        3.0,
    )
    printed = capsys.readouterr().out
    assert f"figures written to {out}" in printed
    # A table, as the other benchmarks print (it printed the JSON dump).
    assert "oos.csv on esp32 (test: 0 in-scope, 2 out-of-scope)" in printed
    row = next(ln for ln in printed.splitlines() if ln.startswith("host us p50"))
    assert row.split() == [
        "host",
        "us",
        "p50",
        "/",
        "p95",
        "/",
        "p99",
        "16.65",
        "/",
        "7.0",
        "/",
        "3.0",
    ]
    assert "{" not in printed
