"""``tinyslm emulate``: the generated firmware core on the host, TFLM behind it.

The key check is parity: phrase by phrase, the device's answers (C tokenizer,
generated model array and settings, C confidence gate) equal the Python
reference (tinyslm.text.features + model.tflite on TFLM + tinyslm.decision).

The in-process emulator here is built with gcov; the last test prints the line
coverage of tinyslm_core.c reached by these tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_support import DEMO_CSV, SUMMARY, assert_one_error_line, have_tool, run_cli
from shared_paths import missing, require_path, require_tool, sdk_path

from tinyslm import tflm_runtime, verify
from tinyslm.audio.wav import wav_bytes
from tinyslm.emulate.emulator import Emulator, emulator_runner
from tinyslm.emulate.phrases import dataset_phrases, reference_parity, run_phrases
from tinyslm.errors import ProjectError
from tinyslm.manifest import load_model_dir
from tinyslm.text.dataset import load_dataset
from tinyslm.text.features import encode, tokenize


@pytest.fixture(autouse=True)
def _host_compiler() -> None:
    require_tool("cc")


@pytest.fixture(scope="module")
def emu(esp32_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    cov = tmp_path_factory.mktemp("emu_cov") if have_tool("gcov") else None
    yield Emulator(esp32_project, coverage_dir=cov)


def test_parity_with_tflm_reference_on_demo_test_split(emu: Emulator, fixture_model: Path) -> None:
    manifest, model = load_model_dir(fixture_model)
    dataset = load_dataset(None)
    rows = dataset_phrases(dataset, "test")
    assert len(rows) > 100 and any(oos for _, _, oos in rows)
    report = run_phrases(emulator_runner(emu), rows, source="demo", split="test")
    parity = reference_parity(report.results, manifest, model)
    assert parity.phrases == len(rows)
    assert parity.mismatches == ()
    assert parity.agreement == 1.0
    # The device's figures are verify.gate_metrics on the reference scores.
    assert report.errors == 0
    labels = list(manifest.labels)
    inscope = [text for text, _, oos in rows if not oos]
    truth = np.array([labels.index(label) for _, label, oos in rows if not oos])
    oos_texts = [text for text, _, oos in rows if oos]
    ref = verify.gate_metrics(
        tflm_runtime.tflm_scores(model, encode(inscope, manifest.features), manifest.arena_bytes),
        truth,
        tflm_runtime.tflm_scores(model, encode(oos_texts, manifest.features), manifest.arena_bytes),
        manifest.threshold_q,
    )
    assert report.accuracy == pytest.approx(ref.accuracy, abs=1e-12)
    assert report.accuracy_at_threshold == pytest.approx(ref.accuracy_at_threshold, abs=1e-12)
    assert 1 - report.escalation_rate == pytest.approx(ref.local_rate, abs=1e-12)
    assert report.oos_recall == pytest.approx(ref.oos_recall, abs=1e-12)
    assert report.accuracy > 0.5 and report.escalation_rate < 0.5  # a real model, not noise
    SUMMARY.append(f"emulator/TFLM parity, demo test split: {parity.agree}/{parity.phrases}")


def test_c_tokenizer_equals_python(emu: Emulator) -> None:
    spec = emu.project.manifest.features if emu.project.manifest else None
    assert spec is not None
    samples = [ex.text for ex in load_dataset(None).train[:200]] + [
        "",
        "   ",
        "Turn ON the LIGHTS!!",
        "café crème brûlée",
        "naïve\x00nul byte",
        "\xff\xfe invalid",
        "one " * 100,
    ]
    for text in samples:
        assert emu.tokenize(text) == tokenize(text, spec), text


def test_protocol_lines(emu: Emulator) -> None:
    project = json.loads((emu.project.root / "tinyslm.json").read_text())
    manifest = project["manifest"]
    (info_line,) = emu.run_line(":info")
    info = json.loads(info_line)["info"]
    assert list(info) == [
        "version", "board", "model_sha256", "model_bytes", "arena_bytes", "ops", "labels",
        "threshold",
    ]  # fmt: skip
    assert info["board"] == "esp32"
    assert info["model_sha256"] == manifest["model_sha256"] == project["model_sha256"]
    assert info["model_bytes"] == manifest["model_bytes"] == len(emu.model_bytes)
    assert info["arena_bytes"] == emu.arena_size == project["arena_size"]
    assert info["ops"] == manifest["ops"]
    assert info["labels"] == len(manifest["labels"])
    assert emu.run_line(":reboot") == ['{"error":"unknown_command"}']

    # CRLF, empty lines and a line split across feeds behave like one line.
    assert emu.feed(b"\r\n\n") == []
    # A line of only whitespace is ignored like an empty one (README), not answered.
    assert emu.feed(b"   \n\t\r \x0b\x0c \r\n") == []
    assert emu.feed(b"turn on the ") == []
    (answer,) = emu.feed(b"lights\r\n")
    obj = json.loads(answer)
    assert list(obj)[:4] == ["intent", "score", "route", "us"]
    assert obj["intent"] in manifest["labels"]

    too_long = b"x" * (emu.max_line + 10)
    assert emu.feed(too_long) == [f'{{"error":"line_too_long","max":{emu.max_line}}}']
    assert emu.feed(b"\n") == []  # the rest of the overlong line is dropped


def test_escalated_text_is_json_escaped(emu: Emulator) -> None:
    # Gibberish scores low on every intent, so the device escalates and echoes it.
    # Which gibberish falls below the threshold depends on the model, so try a few.
    tail = ' "qq" \\ \t xv\x01 caf\xc3\xa9 \xff'
    for word in ("zzq", "qxj vbk", "wubba", "plorf snee", "kkkk", "xyzzy frob"):
        text = (word + tail).encode("latin-1")
        (line,) = emu.feed(text + b"\n")
        obj = json.loads(line)
        if obj["route"] == "escalate":
            break
    else:
        pytest.fail("no gibberish phrase escalated")
    assert list(obj) == ["intent", "score", "route", "us", "text"]
    assert obj["text"] == word + ' "qq" \\ \t xv\x01 café \ufffd'


def test_host_answer_is_acted_on(emu: Emulator, fixture_model: Path) -> None:
    # ":do <intent>" (tinyslm monitor --host-model sends it for a sure host answer): the
    # firmware answers with route "host" and runs the actions hook (counted by the shim
    # and held to these lines by the emulator, which raises when they differ).
    labels = load_model_dir(fixture_model)[0].labels
    for label in (labels[0], labels[-1]):
        assert [json.loads(x) for x in emu.feed(f":do {label}\r\n".encode())] == [
            {"intent": label, "route": "host"}
        ]
    for wrong in (b":do \n", b":do " + labels[0].upper().encode() + b"\n", b":do x\xff\n"):
        assert [json.loads(x) for x in emu.feed(wrong)] == [{"error": "unknown_intent"}]


def test_inference_failure_is_reported(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("invoke failed")

    monkeypatch.setattr(emu._model.interpreter, "invoke", broken)
    assert emu.run_line("turn on the lights") == ['{"error":"inference_failed","code":1}']
    assert isinstance(emu.last_exception, RuntimeError)


def test_an_interrupt_in_the_model_call_is_raised_after_c_returns(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C, or SIGTERM/SIGHUP (the CLI raises KeyboardInterrupt for them), landing in
    the model call was kept as last_exception and lost: emulate went on reading stdin and
    ignored every later SIGTERM. It is raised once C returns; the rest of the chunk runs
    no model, and what the interrupted feed wrote is not handed to the next one."""
    invoke = emu._model.interpreter.invoke
    calls = []

    def interrupted_on_the_second(*args: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        if len(calls) == 3:
            raise RuntimeError("a later error must not hide the interrupt")
        return invoke(*args)

    monkeypatch.setattr(emu._model.interpreter, "invoke", interrupted_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        emu.feed(b"turn on the lights\nset a timer\nvolume up\nwhat time is it\n")
    assert len(calls) == 2
    assert emu.last_exception is None
    monkeypatch.undo()
    (line,) = emu.run_line("turn on the lights")
    assert json.loads(line)["intent"] == "lights_on"


def test_cli_text_pipe_and_data(esp32_project: Path, tmp_path: Path) -> None:
    proc = run_cli("emulate", str(esp32_project), "--text", "turn off the kitchen lights")
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert json.loads(line)["intent"] == "lights_off"

    piped = run_cli(
        "emulate", str(esp32_project), stdin="turn off the kitchen lights\r\n\n:info\n:x"
    )
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["intent"] == "lights_off"
    assert "info" in json.loads(lines[1])
    assert lines[2] == '{"error":"unknown_command"}'  # last line had no terminator

    out = tmp_path / "figures.json"
    data = run_cli("emulate", str(esp32_project), "--data", "-", "--json", str(out))
    assert data.returncode != 0  # "-" is not a dataset file
    demo = DEMO_CSV
    data = run_cli("emulate", str(esp32_project), "--data", str(demo), "--json", str(out))
    assert data.returncode == 0, data.stderr
    figures = json.loads(out.read_text())
    assert figures["split"] == "test" and figures["errors"] == 0
    assert figures["phrases"] == len(load_dataset(demo).test)
    assert figures["oos_phrases"] == len(load_dataset(demo).oos_test)
    for key in ("accuracy", "escalation_rate", "oos_recall", "us_p50", "us_p95", "us_p99"):
        assert key in figures
        assert f"{figures['accuracy']:.4f}" in data.stdout


def test_cli_coverage_option(esp32_project: Path, tmp_path: Path) -> None:
    require_tool("gcov")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = run_cli(
        "emulate",
        str(esp32_project),
        "--text",
        "turn on the lights",
        "--coverage",
        env={"TMPDIR": str(tmp)},
    )
    assert proc.returncode == 0, proc.stderr
    # Issue 9: gcov rewrote its counters at exit and left an empty tinyslm-cov-* folder.
    assert list(tmp.iterdir()) == []
    assert json.loads(proc.stdout)["intent"] == "lights_on"
    m = re.search(r"tinyslm_core.c line coverage: ([\d.]+)% \((\d+)/(\d+) lines\)", proc.stderr)
    assert m, proc.stderr
    # One phrase runs the tokenizer and gate but not :info or the error paths.
    assert 20.0 < float(m.group(1)) < 90.0


def test_cli_data_warns_about_unknown_intents_and_lists_device_errors(
    esp32_project: Path, tmp_path: Path
) -> None:
    # Issue 9, items 6 and 7: intents the model lacks gave "accuracy 0.0000" without
    # a word, and phrases over the device's line limit were only "device errors N".
    long_phrase = "please turn on the lights " * 12  # 311 bytes stripped, > 256
    data = tmp_path / "other.csv"
    data.write_text(
        "text,label,split\n"
        "open the garage,garage_open,test\nclose the garage,garage_close,test\n"
        f"{long_phrase},lights_on,test\nturn on the lights,lights_on,test\n"
        "x,garage_open,train\ny,garage_close,train\nz,lights_on,train\n"
    )
    out = tmp_path / "figures.json"
    proc = run_cli("emulate", str(esp32_project), "--data", str(data), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: ")]
    assert any(
        "2 of 4 in-scope phrases expect 2 intent(s) the model does not have" in w
        and "'garage_close', 'garage_open'" in w
        for w in warnings
    ), proc.stderr
    assert any("1 phrase(s) with an error (line_too_long 1)" in w for w in warnings), proc.stderr
    assert "device errors    1 (line_too_long 1)" in proc.stdout
    assert f"  line_too_long: {json.dumps(long_phrase[:40])[:-1]}" in proc.stdout
    assert "(311 bytes)" in proc.stdout  # the dataset strips the trailing space
    figures = json.loads(out.read_text())
    assert figures["error_kinds"] == {"line_too_long": 1}
    assert figures["unknown_intents"] == ["garage_close", "garage_open"]
    assert figures["error_phrases"] == [{"error": "line_too_long", "text": long_phrase.strip()}]


def test_cli_data_compares_no_tokens_answers_and_eval_says_so(
    esp32_project: Path, fixture_model: Path, tmp_path: Path
) -> None:
    # Round 41's review: the no_tokens answers were left out of the parity check ("2/2
    # identical" of 4 phrases), an out-of-scope phrase answered no_tokens (no action)
    # counted as a failure of the gate, and eval scored such phrases from padding
    # without a word.
    data = tmp_path / "punct.csv"
    data.write_text(
        "text,label,split\n?!.,lights_on,test\n... !!! ???,oos,test\n"
        "turn on the lights,lights_on,test\nwhat is the meaning of life,oos,test\n"
    )
    out = tmp_path / "figures.json"
    proc = run_cli(
        "emulate", str(esp32_project), "--data", str(data), "--split", "all", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(out.read_text())
    assert figures["error_kinds"] == {"no_tokens": 2}
    assert (figures["parity_phrases"], figures["parity_identical"]) == (4, 4), figures
    assert "but for 1 out-of-scope no_tokens, kept from an action" in proc.stderr
    evaluated = run_cli("eval", str(fixture_model), str(data), "--split", "all")
    assert evaluated.returncode == 0, evaluated.stderr
    assert (
        "2 phrase(s) hold no n-gram the model reads (only punctuation, say): TFLM scores "
        "them here from padding, the board answers them with no_tokens"
    ) in evaluated.stderr


def test_cli_data_takes_a_users_own_phrases(esp32_project: Path, tmp_path: Path) -> None:
    # As 'tinyslm eval' does, none of training's rules: one intent, a phrase of another,
    # out-of-scope phrases. Before, this was refused: "need at least 2 in-scope intents".
    data = tmp_path / "mine.csv"
    data.write_text(
        "text,label\nturn on the lights,lights_on\nlights on please,lights_on\n"
        "what is the meaning of life,oos\n"
    )
    proc = run_cli("emulate", str(esp32_project), "--data", str(data), "--split", "all")
    assert proc.returncode == 0, proc.stderr
    assert "split all: 2 in-scope phrases, 1 out-of-scope" in proc.stdout
    # Without splits the file is split as training splits it: here nothing is in test.
    proc = run_cli("emulate", str(esp32_project), "--data", str(data))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {data}: split 'test' has no phrases (try --split all)"


def test_cli_data_of_the_other_modality_is_refused(esp32_project: Path, tmp_path: Path) -> None:
    # Before, the text loader answered "kw: unknown dataset format '(no extension)'".
    (tmp_path / "kw" / "yes").mkdir(parents=True)
    # A word folder of .wav files (a folder of folders without one is no keyword data).
    (tmp_path / "kw" / "yes" / "a.wav").write_bytes(wav_bytes(np.zeros(16000, np.int16)))
    proc = run_cli("emulate", str(esp32_project), "--data", str(tmp_path / "kw"))
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"error: {tmp_path / 'kw'} holds audio data (keywords), but this model was trained "
        "on text data: give it text data"
    )


def test_library_is_cached_outside_the_project(esp32_project: Path, emulator_cache: Path) -> None:
    before = sorted(p.name for p in esp32_project.rglob("*"))
    first = Emulator(esp32_project)
    second = Emulator(esp32_project)
    assert first.lib_path == second.lib_path
    assert emulator_cache in first.lib_path.parents
    assert sorted(p.name for p in esp32_project.rglob("*")) == before  # nothing written there


def test_edited_source_rebuilds(esp32_project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(esp32_project, copy)
    base = Emulator(copy).lib_path
    settings = copy / "src" / "tinyslm_settings.c"
    settings.write_text(settings.read_text() + "\n/* edited */\n")
    assert Emulator(copy).lib_path != base


@pytest.mark.parametrize("with_manifest", [True, False])
@pytest.mark.parametrize("size", ["0", "100", "512", "4294967295u"])
def test_a_hand_edited_arena_is_refused_before_tflm(
    esp32_project: Path, tmp_path: Path, size: str, with_manifest: bool
) -> None:
    # TFLM's Python runtime segfaulted the whole process on an arena this small.
    copy = tmp_path / "copy"
    shutil.copytree(esp32_project, copy)
    header = copy / "src" / "tinyslm_settings.h"
    text, n = re.subn(r"#define TINYSLM_ARENA_SIZE \d+", f"#define TINYSLM_ARENA_SIZE {size}",
                      header.read_text())  # fmt: skip
    assert n == 1
    header.write_text(text)
    if not with_manifest:  # an older project: the arena is probed instead
        info = json.loads((copy / "tinyslm.json").read_text())
        del info["manifest"]
        (copy / "tinyslm.json").write_text(json.dumps(info))
    result = run_cli("emulate", str(copy), "--text", "turn on the lights")
    assert result.returncode == 1, result
    line = result.stderr.strip()
    assert "\n" not in line and "tinyslm_settings.h: TINYSLM_ARENA_SIZE" in line, line
    assert "regenerate the project" in line


def test_a_closed_stdin_is_one_line(esp32_project: Path) -> None:
    # Python's sys.stdin is None then: an AttributeError traceback.
    result = run_cli("emulate", str(esp32_project), close_stdin=True)
    assert_one_error_line(result, "standard input is closed")


@pytest.mark.parametrize("how", ["data", "text"])
def test_coverage_leaves_no_folder_when_the_run_fails(
    esp32_project: Path, tmp_path: Path, how: str
) -> None:
    # The library stayed loaded on an error, so gcov wrote its counters at exit into the
    # removed temporary folder, recreating it (tinyslm-cov-*) in $TMPDIR every time.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    if how == "data":
        (tmp_path / "empty.csv").write_text("text,label\n")
        args = ["--data", str(tmp_path / "empty.csv")]
        project = esp32_project
    else:
        project = tmp_path / "copy"
        shutil.copytree(esp32_project, project)
        header = project / "src" / "tinyslm_settings.h"
        header.write_text(re.sub(r"ARENA_SIZE \d+", "ARENA_SIZE 100", header.read_text()))
        args = ["--text", "hi"]
    result = run_cli("emulate", str(project), "--coverage", *args, env={"TMPDIR": str(tmp)})
    assert_one_error_line(result)
    assert sorted(p.name for p in tmp.iterdir()) == []


PHRASE_HOOK = "  call_hook(app, d.index, d.score_milli, d.local, line, len, 0u);\n"
HOST_HOOK = "  call_hook(app, (uint32_t)index, 1000u, 1u, name, len, 1u);\n"


@pytest.mark.parametrize(
    ("old", "new", "line", "error"),
    [
        (PHRASE_HOOK, PHRASE_HOOK * 2, "turn on the lights",
         "the answer hook ran 2 times for 1 answer lines"),
        ("  a.index = index;\n", "  a.index = index + 1u;\n", "turn on the lights",
         r"the answer hook was given values \(index .*\) that disagree in 1 of 1 calls"),
        (HOST_HOOK, "", ":do lights_on", "the answer hook ran 0 times for 1 answer lines"),
        (HOST_HOOK, HOST_HOOK.replace("1000u, 1u,", "1000u, 0u,"), ":do lights_on",
         r"values \(index and label name, or its route flags\) that disagree in 1 of 1 calls"),
    ],
)  # fmt: skip
def test_the_answer_hook_is_held_to_the_answer_lines(
    esp32_project: Path, tmp_path: Path, old: str, new: str, line: str, error: str
) -> None:
    """The emulator registers the hook the board glue registers for src/tinyslm_actions.c
    and holds its calls to the answer lines: a core that calls it twice, or gives it an
    index that is not the intent's, is caught."""
    emu = Emulator(esp32_project)
    assert [json.loads(x)["route"] for x in emu.run_line("turn on the lights")] == ["local"]
    assert emu.run_line(":info")[0].startswith('{"info":')
    copy = tmp_path / "copy"
    shutil.copytree(esp32_project, copy)
    core = copy / "src" / "tinyslm_core.c"
    text = core.read_text()
    assert text.count(old) == 1
    core.write_text(text.replace(old, new))
    with pytest.raises(ProjectError, match=error):
        Emulator(copy).run_line(line)


def test_stm32h7_project_answers_like_esp32(
    emu: Emulator, fixture_model: Path, tmp_path: Path
) -> None:
    from tinyslm.pipeline import run_generate

    run_generate("stm32h7", tmp_path / "stm32h7", model_dir=fixture_model)
    stm = Emulator(tmp_path / "stm32h7")
    lines = [ex.text.encode() for ex in load_dataset(None).test] + [b":info"]
    got = [_without_us(x) for x in emulator_runner(stm)(lines)]
    want = [_without_us(x) for x in emulator_runner(emu)(lines)]
    assert got[:-1] == want[:-1]
    assert got[-1]["info"]["board"] == "stm32h7"  # type: ignore[index]


def _without_us(line: str) -> dict[str, object]:
    obj = json.loads(line)
    obj.pop("us", None)
    return obj


def test_native_build_answers_like_the_emulator(
    emu: Emulator, esp32_project: Path, tmp_path: Path
) -> None:
    """--native (real TFLM C++) prints the same lines as the Python-runtime emulator."""
    raw = os.environ.get("TINYSLM_TFLM_DIR", "").strip()
    tree = Path(raw) if raw else require_path(sdk_path("tflm", "host"), "host TFLM tree")
    from tinyslm.emulate.native import run_native

    phrases = [ex.text.encode() for ex in load_dataset(None).test[::4]]
    edge = [b":info", b":nope", b"x" * (emu.max_line + 5), b'zzq "qq" \x01 caf\xc3\xa9 \xff']
    lines = phrases + edge
    native = run_native(esp32_project, tree, lines)
    emulated = emulator_runner(emu)(lines)
    assert len(native) == len(emulated) == len(lines)
    assert [_without_us(x) for x in native] == [_without_us(x) for x in emulated]

    # The CLI's --native path gives the same dataset figures.
    figures = {}
    for extra in ((), ("--native", "--tflm-dir", str(tree))):
        out = tmp_path / f"fig{len(extra)}.json"
        proc = run_cli(
            "emulate", str(esp32_project), "--data", str(DEMO_CSV), "--json", str(out), *extra
        )
        assert proc.returncode == 0, proc.stderr
        figures[len(extra)] = json.loads(out.read_text())
    for key in ("phrases", "oos_phrases", "accuracy", "escalation_rate", "oos_recall", "errors"):
        assert figures[0][key] == figures[3][key], key


def test_a_two_id_model_answers_through_the_firmware_like_the_reference(
    fixture_model: Path, tmp_path: Path
) -> None:
    """A model with two ids per n-gram (train's choice for a crowded table), end to end:
    its manifest, the generated settings the C tokenizer reads, and the emulated
    firmware's answers on the demo test split against the Python TFLM reference."""
    import dataclasses

    from fixtures.make_fixture import FIXTURE_CONFIG, FIXTURE_DATA

    from tinyslm.pipeline import run_generate, run_train
    from tinyslm.text.features import FeatureSpec

    config = dataclasses.replace(
        FIXTURE_CONFIG, features=FeatureSpec(buckets=512, seq_len=64, hashes=2)
    )
    assert config.features.hashes == 2
    run_train(FIXTURE_DATA, tmp_path / "model", config, report=False)
    manifest, model = load_model_dir(tmp_path / "model")
    assert manifest.features.hashes == 2
    assert json.loads((tmp_path / "model" / "manifest.json").read_text())["features"]["hashes"] == 2
    run_generate("esp32", tmp_path / "proj", model_dir=tmp_path / "model")
    settings = (tmp_path / "proj" / "src" / "tinyslm_settings.c").read_text()
    assert ".hashes = 2," in settings and ".seq_len = TINYSLM_SEQ_LEN," in settings
    emu = Emulator(tmp_path / "proj")
    for text in ("turn on the kitchen lights", "one " * 40, "caf\u00e9 \x00 x"):
        ids = emu.tokenize(text)
        assert ids == tokenize(text, manifest.features), text
    rows = dataset_phrases(load_dataset(None), "test")
    report = run_phrases(emulator_runner(emu), rows, source="demo", split="test")
    parity = reference_parity(report.results, manifest, model)
    assert parity.phrases == len(rows) and parity.mismatches == ()
    assert report.errors == 0
    assert report.accuracy > 0.5  # a real model, not noise


def test_core_line_coverage(emu: Emulator) -> None:
    """Runs last: the gcov figure of tinyslm_core.c reached by the tests above."""
    if emu.coverage_dir is None:
        missing("gcov not found")
    cov = emu.coverage()
    assert cov.file == "tinyslm_core.c"
    assert cov.lines_total > 100
    note = f"tinyslm_core.c line coverage (emulator tests): {cov.percent:.1f}% "
    note += f"({cov.lines_executed}/{cov.lines_total})"
    SUMMARY.append(note)
    # Tokenizer, gate, every protocol branch above: most of the core must run.
    assert cov.percent >= 80.0, note
