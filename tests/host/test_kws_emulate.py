"""``tinyslm emulate`` on a keyword project: host emulator, --native and --qemu.

The project is generated from the committed keyword fixture model
(``tests/fixtures/kws.py``). Its own C (keyword app, listening loop, front end,
detector, frame parser) runs three ways: as a host library with TFLM's Python
runtime behind it, as the whole firmware built for the host with real TFLM C++, and
as the Cortex-M7 image under QEMU. Every detection (label, t_ms, score) must equal
:func:`tinyslm.audio.stream.listen`'s on the same samples, the Python reference
``verify`` measures with.

The demo recording is six test-split keyword clips in a row with test-side background
noise between (:func:`tinyslm.audio.stream.compose`): clips the fixture model (whose
accuracy is modest) detects in this layout, chosen once with the Python reference;
the test checks the reference still detects each once, so a changed model or front
end fails here rather than passing on fewer words.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from shared_paths import dataset_path, require_path, require_tool, sdk_path

from tinyslm import __version__
from tinyslm.audio.dataset import AudioDataset, AudioDatasetConfig, load_audio_dataset
from tinyslm.audio.detector import DetectorSpec
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.stream import (
    ComposedStream,
    StreamProtocol,
    StreamResult,
    compose,
    listen,
    score_keywords,
    stream_figures,
)
from tinyslm.audio.wav import write_wav
from tinyslm.cli import cli
from tinyslm.emulate.keywords import (
    keyword_project,
    load_keyword_split,
    model_predict,
    stream_spec,
)
from tinyslm.operating_point import with_label_thresholds
from tinyslm.pipeline import EmulateConfig, run_emulate, run_generate
from tinyslm.project import read_model_bytes
from tinyslm.toolchain import host

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

pytestmark = pytest.mark.toolchain

# Test-split clips of speech_commands_dev (label folder / file), in stream order.
DEMO = (
    "yes/1528225c_nohash_0.wav",
    "yes/20d3f11f_nohash_0.wav",
    "yes/422d3197_nohash_0.wav",
    "no/1528225c_nohash_0.wav",
    "up/20d3f11f_nohash_1.wav",
    "no/283d7a53_nohash_0.wav",
)
OTHERS = ("down", "left", "right", "stop")  # the fixture's keywords folded into _unknown_
TEXT_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model"


def detections(lines: list[str]) -> list[tuple[str, int, int]]:
    found = [json.loads(line) for line in lines if line.startswith('{"keyword"')]
    return [(d["keyword"], d["t_ms"], round(d["score"] * 1000)) for d in found]


@pytest.fixture(scope="module")
def dataset() -> AudioDataset:
    root = require_path(dataset_path("speech_commands_dev"), "the speech_commands_dev dataset")
    return load_audio_dataset(root, AudioDatasetConfig(unknown_words=OTHERS))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("kws_emulate")
    out = base / "proj"
    run_generate("stm32h7", out, model_dir=keyword_model_dir(base / "model"))
    return out


@pytest.fixture(scope="module")
def demo(dataset: AudioDataset) -> ComposedStream:
    by_source = {c.source: c for c in dataset.split("test")}
    index = {name: i for i, name in enumerate(dataset.labels)}
    clips = [(index[by_source[s].label], by_source[s].samples) for s in DEMO]
    return compose(clips, [n.part("test") for n in dataset.noise], StreamProtocol())


@pytest.fixture(scope="module")
def demo_wav(demo: ComposedStream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "keywords.wav"
    write_wav(path, demo.samples)
    return path


@pytest.fixture(scope="module")
def listened(project: Path, demo: ComposedStream) -> StreamResult:
    """The Python loop run on the demo at the project's level (once for the module)."""
    proj, manifest = keyword_project(project)
    return listen(
        demo.samples, stream_spec(manifest), model_predict(manifest, read_model_bytes(proj))
    )


@pytest.fixture(scope="module")
def reference(
    project: Path, demo: ComposedStream, listened: StreamResult
) -> list[tuple[str, int, int]]:
    """The Python loop's detections on the demo; it must hear each word once, in its span."""
    _, manifest = keyword_project(project)
    result = listened
    score = score_keywords(result.detections, demo.spans)
    assert (score.hits, score.false_accepts) == (len(DEMO), 0)
    return [(manifest.labels[d.label], d.t_ms, d.score_milli) for d in result.detections]


@pytest.fixture(scope="module")
def emulated(project: Path, demo_wav: Path) -> list[str]:
    result = CliRunner().invoke(cli, ["emulate", str(project), "--wav", str(demo_wav)])
    assert result.exit_code == 0, result.output
    assert "parity with verify's Python loop: identical (6/6 identical)" in result.stderr
    return result.stdout.splitlines()


def test_demo_recording_each_keyword_detected_once_at_its_time(
    emulated: list[str], reference: list[tuple[str, int, int]], demo: ComposedStream,
    project: Path,
) -> None:  # fmt: skip
    _, manifest = keyword_project(project)
    found = detections(emulated)
    assert found == reference  # the C app == the Python loop, label, time and score
    assert len(found) == len(DEMO)
    tolerance = StreamProtocol().tolerance_ms
    for (label, start, end), (keyword, t_ms, _) in zip(demo.spans, found, strict=True):
        assert keyword == manifest.labels[label]
        assert start <= t_ms <= end + tolerance
    assert [keyword for keyword, _, _ in found] == [s.split("/")[0] for s in DEMO]
    end = json.loads(emulated[-1])["end"]
    assert end["detections"] == len(DEMO)
    assert end["frames"] == (len(demo.samples) - 480) // 320 + 1


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("    app->on_keyword(&kw, app->on_keyword_ctx);\n", "",
         "the keyword hook ran 0 times for 1 detection lines"),
        ("    kw.index = d->label;\n", "    kw.index = d->label + 1u;\n",
         "the keyword hook was given an index and a label name that disagree in 1 of 1 calls"),
    ],
)  # fmt: skip
def test_a_keyword_hook_out_of_step_with_the_lines_is_caught(
    project: Path, demo_wav: Path, emulated: list[str], tmp_path: Path, old: str, new: str,
    error: str,
) -> None:  # fmt: skip
    """The emulator holds the hook the board glue registers for src/tinyslm_actions.c to
    the detection lines (the run above had 6 of each): a broken app is caught."""
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("lib"))
    app = copy / "src" / "tinyslm_kws_app.c"
    text = app.read_text()
    assert text.count(old) == 1
    app.write_text(text.replace(old, new))
    result = CliRunner().invoke(cli, ["emulate", str(copy), "--wav", str(demo_wav)])
    assert result.exit_code == 1
    assert error in result.output


def test_keywords_with_thresholds_of_their_own(
    project: Path, demo_wav: Path, demo: ComposedStream, reference: list[tuple[str, int, int]],
    small_dataset: Path, data_result: object, listened: StreamResult, tmp_path: Path,
) -> None:  # fmt: skip
    """``generate --label-threshold``: "up" set above every average it reached in the demo
    stops firing, "yes" and "no" still fire; the C detector's table equals the reference's."""
    proj, manifest = keyword_project(project)
    rule = stream_spec(manifest).detector
    plain = listened
    assert {keyword for keyword, _, _ in reference} == {"yes", "no", "up"}
    windows = np.lib.stride_tricks.sliding_window_view(plain.scores, rule.window, axis=0)
    sums = windows.astype(np.int64).sum(axis=-1)  # the detector's window sums
    up = manifest.labels.index("up")
    level = int(sums[sums.argmax(axis=1) == up, up].max()) // rule.window + 1
    assert level <= 127
    own_up = DetectorSpec.probability_of(level)
    out = tmp_path / "own"
    run_generate(
        "stm32h7", out, model_dir=keyword_model_dir(tmp_path / "model"),
        label_thresholds={"up": own_up, "no": 0.6},
    )  # fmt: skip
    _, own = keyword_project(out)
    levels = dict(zip(own.labels, own.thresholds_q(), strict=True))
    assert levels["yes"] == manifest.threshold_q and levels["no"] < manifest.threshold_q
    result = listen(demo.samples, stream_spec(own), model_predict(own, read_model_bytes(proj)))
    expected = [(own.labels[d.label], d.t_ms, d.score_milli) for d in result.detections]
    assert {keyword for keyword, _, _ in expected} == {"no", "yes"}
    run = CliRunner().invoke(cli, ["emulate", str(out), "--wav", str(demo_wav)])
    assert run.exit_code == 0, run.output
    assert detections(run.stdout.splitlines()) == expected
    assert f"identical ({len(expected)}/{len(expected)} identical)" in run.stderr
    info = CliRunner().invoke(cli, ["emulate", str(out), "--text", ":info"])
    assert json.loads(info.stdout)["info"]["label_thresholds"] == {
        "no": round(((levels["no"] + 128) * 1000 + 128) // 256 / 1000, 3),
        "up": round(((levels["up"] + 128) * 1000 + 128) // 256 / 1000, 3),
    }
    # A dataset split through the firmware: parity with the reference at the own levels,
    # and the levels named in the figures.
    data = CliRunner().invoke(cli, ["emulate", str(out), "--data", str(small_dataset),
                                    "--json", "-"])  # fmt: skip
    assert data.exit_code == 0, data.output
    assert json.loads(data.stdout)["label_thresholds_q"] == {"no": levels["no"], "up": levels["up"]}
    assert "PARITY with verify's Python loop: 3/3 streams identical" in data.stderr
    # The table (on stderr beside --json -) names the levels; the project's own run of the
    # same split (data_result, the table 'emulate --data' prints) has none to name.
    assert f"(own: no {levels['no']}, up {levels['up']})" in data.stderr
    assert "(own:" not in data_result.text  # type: ignore[attr-defined]
    # eval on a model folder carrying the same levels streams the split as the firmware
    # did, and the levels did change what the split's streams detect.
    figures = json.loads(data.stdout)
    folder = keyword_model_dir(tmp_path / "own_model", own)
    scored = CliRunner().invoke(cli, ["eval", str(folder), str(small_dataset), "--json", "-"])
    assert scored.exit_code == 0, scored.output
    keys = ("false_rejection_rate", "keyword_clips", "keyword_false_accepts")
    assert {k: json.loads(scored.stdout)[k] for k in keys} == {k: figures[k] for k in keys}
    # Every keyword at the strictest level misses what the model-wide level hears.
    strictest = with_label_thresholds(manifest, dict.fromkeys(("no", "up", "yes"), 0.996))
    strict = keyword_model_dir(tmp_path / "strict", strictest)
    rates = []
    for model_dir in (tmp_path / "model", strict):
        run = CliRunner().invoke(cli, ["eval", str(model_dir), str(small_dataset), "--json", "-"])
        assert run.exit_code == 0, run.output
        rates.append(json.loads(run.stdout)["false_rejection_rate"])
    assert rates[1] > rates[0], rates


@pytest.fixture(scope="module")
def host_tree() -> Path:
    raw = os.environ.get("TINYSLM_TFLM_DIR", "").strip()
    tree = Path(raw) if raw else require_path(sdk_path("tflm", "host"), "host TFLM tree")
    require_tool(os.environ.get("CXX", "c++").split()[0])
    return host.check_host_tree(tree)


@pytest.fixture(scope="module")
def m7_tree() -> Path:
    require_tool("qemu-system-arm")
    require_tool("arm-none-eabi-gcc")
    tree: Path = require_path(sdk_path("tflm", "cortex-m7"), "Cortex-M7 TFLM tree")
    return tree


@pytest.mark.parametrize("engine", ["native", "qemu"])
def test_demo_recording_native_and_qemu_identical(
    engine: str, project: Path, demo_wav: Path, emulated: list[str],
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    tree = request.getfixturevalue("host_tree" if engine == "native" else "m7_tree")
    result = CliRunner().invoke(
        cli,
        ["emulate", str(project), "--wav", str(demo_wav), f"--{engine}", "--tflm-dir", str(tree)],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert detections(lines) == detections(emulated)
    assert lines[-1] == emulated[-1]  # the same end counters
    assert f"{engine}: " in result.stderr and "identical (6/6 identical)" in result.stderr


@pytest.fixture(scope="module")
def small_dataset(dataset: AudioDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of a slice of speech_commands_dev: per keyword the demo's test clips and a
    few training clips, some unknown words, one background recording. Copied files keep
    their names, so each speaker stays on its side of the split."""
    src = Path(dataset.source)
    out = tmp_path_factory.mktemp("kws_data") / "slice"
    picked: list[str] = []
    for label in ("yes", "no", "up", "_unknown_"):
        for split, n in (("test", 3), ("train", 3)):
            clips = [c for c in dataset.split(split) if c.label == label]
            if label == "_unknown_":
                clips = [c for c in clips if c.source.startswith("_unknown_/")]
            picked += [c.source for c in clips[:n]]
    picked += list(DEMO)
    picked.append("_background_noise_/white_noise.wav")
    for rel in sorted(set(picked)):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, out / rel)
    return out


@pytest.fixture(scope="module")
def data_result(project: Path, small_dataset: Path) -> object:
    return run_emulate(EmulateConfig(project, small_dataset, "test"))


def test_data_split_figures_equal_the_python_loop(
    project: Path, small_dataset: Path, data_result: object
) -> None:
    result = data_result.report  # type: ignore[attr-defined]
    proj, manifest = keyword_project(project)
    assert result.streams == 3  # noise, unknown words, keywords
    assert result.parity_streams == result.streams
    assert result.device_detections == result.reference_detections == result.parity_detections
    assert result.errors == ()
    # The device's figures are verify's streaming figures on the same streams.
    ds, split = load_keyword_split(small_dataset, manifest, "test")
    assert split == "test"
    clips = ds.split("test")
    index = {name: i for i, name in enumerate(manifest.labels)}
    expected = stream_figures(
        stream_spec(manifest),
        model_predict(manifest, read_model_bytes(proj)),
        noise=[n.part("test") for n in ds.noise],
        unknown=[c.samples for c in clips if c.label == "_unknown_"],
        keywords=[(index[c.label], c.samples) for c in clips if c.label in ("yes", "no", "up")],
    )
    assert result.figures == expected
    assert expected.keyword_clips >= len(DEMO) and expected.keyword_hits >= 1


@pytest.mark.parametrize("engine", ["native", "qemu"])
def test_data_split_native_and_qemu_identical(
    engine: str, project: Path, small_dataset: Path, data_result: object,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    tree = request.getfixturevalue("host_tree" if engine == "native" else "m7_tree")
    result = run_emulate(EmulateConfig(project, small_dataset, "test", engine, tree)).report
    emulated = data_result.report  # type: ignore[attr-defined]
    assert result.parity_streams == result.streams == 3
    assert result.parity_detections == result.reference_detections
    assert result.figures == emulated.figures


def test_data_cli_json(project: Path, small_dataset: Path, data_result: object) -> None:
    result = CliRunner().invoke(
        cli, ["emulate", str(project), "--data", str(small_dataset), "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    summary = json.loads(json.dumps(data_result.summary))  # type: ignore[attr-defined]
    assert figures == {
        "tinyslm": __version__,
        "tinyslm_document": "--json figures",
        **summary,
        "engine": "emulator",
    }
    assert figures["parity_streams"] == figures["streams"] == 3
    assert "PARITY with verify's Python loop: 3/3 streams identical" in result.stderr
    for key in ("detection_rate", "fa_per_hour", "false_rejection_rate", "per_keyword"):
        assert key in figures


def test_info_command(project: Path) -> None:
    result = CliRunner().invoke(cli, ["emulate", str(project), "--text", ":info"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)["info"]
    assert info["modality"] == "keywords" and info["keywords"] == ["no", "up", "yes"]


def test_data_on_a_users_own_recordings(project: Path, small_dataset: Path, tmp_path: Path) -> None:
    """What a user records to check a board: one speaker, a word with one clip, no
    background recordings, no unknown words. Training's label rules do not apply (as in
    'tinyslm eval'), and --split all streams every clip."""
    mine = tmp_path / "mine"
    for n, rel in enumerate(DEMO[:4]):  # yes x3, no x1, all renamed to one speaker
        (mine / rel.split("/")[0]).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(small_dataset / rel, mine / rel.split("/")[0] / f"alice_nohash_{n}.wav")
    runner = CliRunner()
    result = runner.invoke(cli, ["emulate", str(project), "--data", str(mine), "--json", "-"])
    assert result.exit_code == 1  # 'alice' falls in train: the test split is empty
    assert "has no clips" in result.output and "--split all" in result.output
    result = runner.invoke(
        cli, ["emulate", str(project), "--data", str(mine), "--split", "all", "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)  # strict JSON: no NaN
    assert figures["split"] == "all" and figures["keyword_clips"] == 4
    assert {k: v["clips"] for k, v in figures["per_keyword"].items()} == {"no": 1, "yes": 3}
    assert figures["streams"] == figures["parity_streams"] == 1  # the keyword stream only
    assert figures["noise_seconds"] == figures["unknown_seconds"] == 0
    assert figures["keyword_hits"] >= 3  # the demo's clips are heard alone, too


def test_data_of_background_audio_alone(project: Path, small_dataset: Path, tmp_path: Path) -> None:
    """A recording of the room the board will sit in, with no keyword clips: the firmware's
    false accepts on it, each stream identical to the Python loop's (refused before round
    42: "no keyword folders with .wav files")."""
    room = tmp_path / "room" / "_background_noise_"
    room.mkdir(parents=True)
    shutil.copyfile(small_dataset / "_background_noise_/white_noise.wav", room / "hum.wav")
    result = CliRunner().invoke(
        cli, ["emulate", str(project), "--data", str(room.parent), "--split", "all", "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["streams"] == figures["parity_streams"] == 1
    assert figures["keyword_clips"] == 0 and figures["detection_rate"] is None
    assert figures["noise_seconds"] == figures["stream_seconds"] > 50
    # --split all streams the recording whole: long enough to fire, so measured.
    assert figures["fa_seconds"] == figures["noise_seconds"]
    assert figures["errors"] == 0 and figures["error_lines"] == []
    assert figures["device_detections"] == figures["reference_detections"]


def test_refusals(project: Path, demo_wav: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    text_project = tmp_path / "text"
    run_generate("esp32", text_project, model_dir=TEXT_FIXTURE)
    r = runner.invoke(cli, ["emulate", str(text_project), "--wav", str(demo_wav)])
    assert r.exit_code == 1 and r.output.startswith("error: --wav needs a keyword project")
    stereo = tmp_path / "stereo.wav"
    stereo.write_bytes(demo_wav.read_bytes()[:22] + b"\x02" + demo_wav.read_bytes()[23:])
    r = runner.invoke(cli, ["emulate", str(project), "--wav", str(stereo)])
    assert r.exit_code == 1 and r.output.startswith("error: ") and len(r.output.splitlines()) == 1
    r = runner.invoke(cli, ["emulate", str(project), "--text", "yes please"])
    assert r.exit_code == 1 and len(r.output.splitlines()) == 1
    assert r.output.startswith("error: a keyword project hears audio: --text takes a command")
    r = runner.invoke(cli, ["emulate", str(project), "--wav", str(demo_wav), "--coverage"])
    assert r.exit_code == 1 and r.output.startswith("error: --coverage")
    r = runner.invoke(cli, ["emulate", str(project), "--data", str(tmp_path), "--split", "all"])
    assert r.exit_code == 1 and r.output.startswith("error: ")
    # A text dataset: said in one line (the keyword list loader said "line 1: text does
    # not exist", reading the CSV's header as a clip path).
    phrases = tmp_path / "phrases.csv"
    phrases.write_text("text,label\nturn on the lights,lights_on\n")
    r = runner.invoke(cli, ["emulate", str(project), "--data", str(phrases)])
    assert r.exit_code == 1 and r.output == (
        f"error: {phrases} holds text data (intents), but this model was trained on audio "
        "data: give it audio data\n"
    )


def test_a_recording_too_short_to_fire_is_said(
    project: Path, demo: ComposedStream, tmp_path: Path
) -> None:
    """A recording shorter than ``average`` inferences cannot fire (a single 1 s clip gives
    one, and the default rule averages 2): emulate says so instead of a bare '0 detections'.
    The shortest length the warning names is the device's own: one sample less runs one
    inference fewer."""
    _, manifest = keyword_project(project)
    spec = manifest.features
    assert isinstance(spec, KeywordSpec) and spec.average > 1
    need = spec.shortest_detection_samples
    assert spec.samples_for_inferences(1) < spec.window_samples + spec.frontend.stride_samples

    def run(n: int) -> tuple[int, str]:
        wav = tmp_path / f"{n}.wav"
        write_wav(wav, demo.samples[:n])
        result = CliRunner().invoke(cli, ["emulate", str(project), "--wav", str(wav)])
        assert result.exit_code == 0, result.output
        (end,) = [json.loads(x)["end"] for x in result.stdout.splitlines() if '"end"' in x]
        return end["inferences"], result.stderr

    inferences, err = run(need - 1)
    assert inferences == spec.average - 1
    apart = spec.stride_frames * spec.frame_ms
    said = f"too short for a detection: the detector averages {spec.average} inferences"
    assert f"{said} {apart} ms apart" in err
    assert f"so it needs {need / 16000:.2f} s; pad a one-word clip" in err
    inferences, err = run(need)
    assert inferences == spec.average and "too short" not in err
    assert run(spec.window_samples)[0] == 1  # one clip as Speech Commands ships it


def test_a_planted_difference_is_reported(project: Path, demo_wav: Path, tmp_path: Path) -> None:
    """The parity check can fail: a project whose C detector reports each score one
    thousandth high. (A suppression edited in the settings, which this test planted
    before, is now named as an edited setting before anything runs.)"""
    planted = tmp_path / "planted"
    shutil.copytree(project, planted)
    detector = planted / "src" / "tinyslm_kws_detector.c"
    text = detector.read_text()
    score = "    out->score_milli = tinyslm_kws_score_milli(det->sum[best], cfg->window);\n"
    assert text.count(score) == 1
    detector.write_text(text.replace(score, score.replace(");\n", ") + 1u;\n")))
    result = CliRunner().invoke(cli, ["emulate", str(planted), "--wav", str(demo_wav)])
    assert result.exit_code == 1
    assert "parity with verify's Python loop: DIFFERENT" in result.stderr
    assert len(detections(result.stdout.splitlines())) == len(DEMO)
    settings = planted / "src" / "tinyslm_settings.h"
    shutil.copyfile(project / "src" / "tinyslm_kws_detector.c", detector)
    settings.write_text(
        settings.read_text().replace("SUPPRESSION_MS 1000\n", "SUPPRESSION_MS 100\n")
    )
    named = CliRunner().invoke(cli, ["emulate", str(planted), "--wav", str(demo_wav)])
    assert named.exit_code == 1 and named.stdout == ""
    assert named.stderr.startswith(f"error: {settings}: TINYSLM_KWS_SUPPRESSION_MS 100 does")


def test_qemu_instructions_per_second_of_audio(
    project: Path, m7_tree: Path, demo: ComposedStream, reference: list[tuple[str, int, int]],
    tmp_path: Path,
) -> None:  # fmt: skip
    """The microphone path under QEMU -icount: counted, and it hears what the loop hears."""
    from tinyslm.emulate.keywords import measure_listen
    from tinyslm.toolchain.cortex_m import build_image

    image = build_image(project, m7_tree, tmp_path / "kws.elf")
    m = measure_listen(image, demo.samples)
    assert detections(list(m.lines)) == reference
    frames = (len(demo.samples) - 480) // 320 + 1
    assert m.inferences == (frames - 49) // 2 + 1
    assert m.samples == len(demo.samples)
    assert 0 < m.inference < m.total
    # The front end alone is about 6.3 M instructions per second of audio (docs/audio.md);
    # the detector and feature window add little.
    assert 5e6 < m.other_per_second < 9e6
    assert m.duty_cycle() == pytest.approx(m.per_second / 480e6)
