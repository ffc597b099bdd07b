"""``tinyslm emulate``: the compiled settings and the parity check, for every engine and
both modalities, and ``--text`` lines the device would answer with silence.

- a keyword project's compiled thresholds (``TINYSLM_THRESHOLD_Q``, a table of levels of
  its own) must be ``tinyslm.json``'s, as a text project's are; ``--native`` and
  ``--qemu`` check them too, before their build: the checks below give them an empty
  ``--tflm-dir``, so only a check that runs first can name the settings (a text
  project's: test_emulate_checks.py);
- keyword ``--data`` and ``--wav`` end in one ``error:`` line (exit 1) when the
  firmware's detections differ from verify's Python loop;
- a blank ``--text`` (any project) and a non-ASCII keyword command are refused in one
  line instead of printing nothing.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, copy_project, edit_once, run_cli
from shared_paths import dataset_path, require_path, require_tool

from tinyslm.audio.stream import StreamProtocol, compose
from tinyslm.audio.wav import read_wav, write_wav
from tinyslm.pipeline import run_generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import THRESHOLD_Q, keyword_model_dir

# Test-split clips of speech_commands_dev the fixture model hears (tests/host/test_kws_emulate.py).
DEMO = (
    "yes/1528225c_nohash_0.wav",
    "yes/20d3f11f_nohash_0.wav",
    "yes/422d3197_nohash_0.wav",
    "no/1528225c_nohash_0.wav",
    "up/20d3f11f_nohash_1.wav",
    "no/283d7a53_nohash_0.wav",
)
# The C detector's score one thousandth high: model, arena and thresholds are the
# project's, so only the comparison with verify's loop can see it.
SCORE = "    out->score_milli = tinyslm_kws_score_milli(det->sum[best], cfg->window);\n"
SCORE_HIGH = "    out->score_milli = tinyslm_kws_score_milli(det->sum[best], cfg->window) + 1u;\n"


@pytest.fixture(autouse=True)
def _host_compiler() -> None:
    require_tool("cc")


@pytest.fixture(scope="module")
def kws_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An esp32 project generated from the keyword fixture model (treat as read-only)."""
    base = tmp_path_factory.mktemp("kws_checks")
    out = base / "esp32"
    run_generate("esp32", out, model_dir=keyword_model_dir(base / "model"))
    return out


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six keyword clips of one speaker, as a user records them (stream with --split all)."""
    src = require_path(dataset_path("speech_commands_dev"), "the speech_commands_dev dataset")
    out = tmp_path_factory.mktemp("kws_recordings") / "mine"
    for n, rel in enumerate(DEMO):
        word = rel.split("/")[0]
        (out / word).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, out / word / f"alice_nohash_{n}.wav")
    return out


@pytest.fixture(scope="module")
def recording(recordings: Path) -> Path:
    """The six clips in a row, gaps between, as one WAV."""
    clips = [(0, read_wav(path)) for path in sorted(recordings.glob("*/*.wav"))]
    path = recordings.parent / "keywords.wav"
    write_wav(path, compose(clips, [], StreamProtocol()).samples)
    return path


def _edit_threshold(project: Path, level: int) -> Path:
    header = project / "src" / "tinyslm_settings.h"
    old = re.search(r"#define TINYSLM_THRESHOLD_Q \((-?\d+)\)", header.read_text())
    assert old is not None and int(old.group(1)) != level
    edit_once(header, old.group(0), f"#define TINYSLM_THRESHOLD_Q ({level})")
    return header


def _engine_args(engine: str, tmp_path: Path) -> list[str]:
    """--native / --qemu with an empty tree: the settings must be named before any build."""
    if engine == "emulator":
        return []
    empty = tmp_path / "no-tree"
    empty.mkdir(exist_ok=True)
    return [f"--{engine}", "--tflm-dir", str(empty)]


# --- the compiled thresholds -----------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "mode"),
    # Each way in once: the emulator's own check (text), the data pipeline's runner
    # (data), and keyword_runner's check for the two builds (wav, text); every mode of
    # one engine reaches the same check.
    [("emulator", "text"), ("emulator", "data"), ("native", "wav"), ("qemu", "text")],
)
def test_keyword_project_refuses_a_hand_edited_threshold(
    kws_project: Path, tmp_path: Path, engine: str, mode: str, request: pytest.FixtureRequest
) -> None:
    # The reviewer's repro: measured at q=0 while the figures said threshold_q 51.
    copy = copy_project(kws_project, tmp_path)
    header = _edit_threshold(copy, 0)
    given = {
        "text": lambda: ["--text", ":info"],
        "data": lambda: ["--data", str(request.getfixturevalue("recordings")), "--split", "all"],
        "wav": lambda: ["--wav", str(request.getfixturevalue("recording"))],
    }[mode]()
    proc = run_cli("emulate", str(copy), *given, *_engine_args(engine, tmp_path))
    line = assert_one_error_line(proc)
    assert line == (
        f"error: {header}: TINYSLM_THRESHOLD_Q 0 does not match tinyslm.json's threshold_q "
        f"{THRESHOLD_Q} (the settings were edited; regenerate the project, with --threshold "
        "for another level)"
    )
    assert proc.stdout == ""


def test_keyword_project_refuses_a_hand_edited_label_level(
    kws_project: Path, tmp_path: Path
) -> None:
    # A table of levels of its own put into the settings by hand: the detector reads it.
    copy = copy_project(kws_project, tmp_path)
    settings = copy / "src" / "tinyslm_settings.c"
    edit_once(
        settings,
        "const tinyslm_kws_model_info_t tinyslm_kws_model_info = {",
        "static const int8_t levels[TINYSLM_NUM_LABELS] = {[0] = 90};\n"
        "const tinyslm_kws_model_info_t tinyslm_kws_model_info = {",
    )
    edit_once(settings, "  .detector = {\n", "  .detector = {\n    .label_threshold_q = levels,\n")
    proc = run_cli("emulate", str(copy), "--text", ":info")
    assert_one_error_line(
        proc, f"{settings}: threshold_q 90 of ", f"does not match tinyslm.json's {THRESHOLD_Q}"
    )


# --- parity with verify's Python loop --------------------------------------------------


def _score_one_high(project: Path, tmp_path: Path) -> Path:
    copy = copy_project(project, tmp_path)
    edit_once(copy / "src" / "tinyslm_kws_detector.c", SCORE, SCORE_HIGH)
    return copy


def test_keyword_data_fails_when_the_detections_differ(
    kws_project: Path, recordings: Path, tmp_path: Path
) -> None:
    copy = _score_one_high(kws_project, tmp_path)
    out = tmp_path / "figures.json"
    proc = run_cli(
        "emulate", str(copy), "--data", str(recordings), "--split", "all", "--json", str(out)
    )
    line = assert_one_error_line(proc, "error: emulator: 1 of 1 streams differ from verify's")
    assert re.search(r"\(0/(\d+) detections identical, device made \1\)$", line), line
    assert "PARITY with verify's Python loop: 0/1 streams identical" in proc.stdout
    assert out.is_file()  # the figures are still written


def test_keyword_data_passes_when_the_detections_are_identical(
    kws_project: Path, recordings: Path
) -> None:
    proc = run_cli("emulate", str(kws_project), "--data", str(recordings), "--split", "all")
    assert proc.returncode == 0, proc.stderr
    assert "PARITY with verify's Python loop: 1/1 streams identical" in proc.stdout


def test_keyword_wav_difference_is_one_error_line(
    kws_project: Path, recording: Path, tmp_path: Path
) -> None:
    copy = _score_one_high(kws_project, tmp_path)
    proc = run_cli("emulate", str(copy), "--wav", str(recording))
    line = assert_one_error_line(
        proc, f"error: emulator: the firmware's detections on {recording} differ from verify's"
    )
    assert re.search(r"\(0/(\d+) identical, device made \1\)$", line), line
    assert "parity with verify's Python loop: DIFFERENT" in proc.stderr
    assert proc.stdout.count('"keyword"') > 0  # the device's lines are still printed
    assert proc.stderr.splitlines()[-1] == line  # the error line comes last


# --- --text lines the device ignores ----------------------------------------------------


@pytest.mark.parametrize("text", ["", " \t\x0b\x0c "])
def test_text_blank_line_is_refused(esp32_project: Path, text: str) -> None:
    proc = run_cli("emulate", str(esp32_project), "--text", text)
    assert_one_error_line(proc, "--text is blank: the firmware ignores a blank line")
    assert proc.stdout == ""


@pytest.mark.parametrize("text", [":infö", ":info\u00a0"])
def test_keyword_command_with_a_non_ascii_byte_is_refused(kws_project: Path, text: str) -> None:
    proc = run_cli("emulate", str(kws_project), "--text", text)
    assert_one_error_line(proc, "--text holds a non-ASCII byte: keyword commands are ASCII")
    assert proc.stdout == ""


def test_keyword_info_command_is_still_answered(kws_project: Path) -> None:
    proc = run_cli("emulate", str(kws_project), "--text", ":info")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('{"info":')


# --- projects generated by an earlier tinyslm --------------------------------------------

# The last commit before generate --label-threshold: its projects' headers have no
# label_threshold_q, which the shims' threshold accessors read.
BEFORE_LABEL_LEVELS = "ef15173^"
REPO = Path(__file__).resolve().parents[2]


def _tinyslm_at(commit: str, dest: Path) -> Path:
    """The package, templates, firmware and boards of ``commit``, unpacked into ``dest``."""
    import subprocess

    require_tool("git", "tar")
    known = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:
        pytest.skip(f"needs the repository's history ({commit}): a clone, not a shallow one")
    dest.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "tinyslm", "templates", "firmware", "boards"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


@pytest.mark.parametrize("modality", ["text", "keywords"])
def test_a_project_from_before_label_thresholds_still_emulates(
    modality: str, tmp_path: Path
) -> None:
    # The keyword shim's new threshold accessor read detector.label_threshold_q, which such
    # a project's header lacks: 'cc failed on host_kws_shim.c' (the text shim's, the same).
    old = _tinyslm_at(BEFORE_LABEL_LEVELS, tmp_path / "old")
    model = (
        keyword_model_dir(tmp_path / "model")
        if modality == "keywords"
        else REPO / "tests" / "fixtures" / "model"
    )
    project = tmp_path / "project"
    made = run_cli(
        "generate", "--board", "esp32", "--model", str(model), "-o", str(project),
        env={"PYTHONPATH": str(old)}, cwd=old,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "label_threshold_q" not in (project / "src" / "tinyslm_settings.c").read_text()
    proc = run_cli("emulate", str(project), "--text", ":info")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('{"info":'), proc.stdout
