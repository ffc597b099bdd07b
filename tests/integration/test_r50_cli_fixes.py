"""Round 50 (hgen): a ``--json`` file inside the dataset being read; ``info`` of a project
whose per-label levels were edited; ``synth`` options that do nothing, and what its
``--force`` kept of the user's; ``generate --force`` counting a starter it wrote again."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_support import assert_one_error_line, have_tool, run_cli

from tinyslm.audio.wav import SAMPLE_RATE, wav_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir


def _keyword_dataset(root: Path) -> Path:
    """A small Speech Commands folder (yes/no/up, two speakers, background noise) of
    synthetic tones: eval reads and scores it like any other."""
    rng = np.random.default_rng(0)
    for n, label in enumerate(("yes", "no", "up")):
        (root / label).mkdir(parents=True)
        for speaker in ("aaaa1111", "bbbb2222"):
            t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
            tone = 8000 * np.sin(2 * np.pi * (300 + 200 * n) * t)
            (root / label / f"{speaker}_nohash_0.wav").write_bytes(wav_bytes(tone))
    (root / "_background_noise_").mkdir()
    noise = rng.normal(0, 2000, 5 * SAMPLE_RATE).clip(-32768, 32767)
    (root / "_background_noise_" / "white.wav").write_bytes(wav_bytes(noise))
    return root


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


# --- 1. --json inside the dataset ---------------------------------------------------


def test_eval_json_inside_the_dataset_is_refused_and_the_dataset_left_readable(
    tmp_path: Path,
) -> None:
    """Before: exit 0 with the JSON written as _background_noise_/figures.wav, and every
    later eval and train of the folder failed on it ('unreadable WAV')."""
    model = keyword_model_dir(tmp_path / "kws")
    data = _keyword_dataset(tmp_path / "data")
    before = _files(data)
    target = data / "_background_noise_" / "figures.wav"
    proc = run_cli("eval", str(model), str(data), "--split", "all", "--json", str(target))
    assert_one_error_line(proc, f"--json {target} would join the dataset {data}")
    assert _files(data) == before
    # Beside the dataset it is written as before.
    beside = tmp_path / "figures.json"
    proc = run_cli("eval", str(model), str(data), "--split", "all", "--json", str(beside))
    assert proc.returncode == 0, proc.stderr
    assert beside.is_file() and _files(data) == before


def test_train_json_inside_data_or_an_extra_train_folder_is_refused(tmp_path: Path) -> None:
    """The same shared check: before, train went on to read the data (here: refused for
    its own reason, a folder of no clips), and a good DATA was trained with the JSON
    then left in it."""
    data, extra = tmp_path / "data", tmp_path / "extra"
    (data / "_background_noise_").mkdir(parents=True)
    extra.mkdir()
    for inside, folder in ((data / "_background_noise_" / "f.wav", data), (extra / "f.wav", extra)):
        proc = run_cli("train", str(data), "--extra-train", str(extra), "-o",
                       str(tmp_path / "m"), "--json", str(inside))  # fmt: skip
        assert_one_error_line(proc, f"--json {inside} would join the dataset {folder}")
        assert not inside.exists() and not (tmp_path / "m").exists()


def test_emulate_json_inside_the_data_folder_is_refused(
    esp32_project: Path, tmp_path: Path
) -> None:
    """emulate --data had its own copy of the check, with the same gap."""
    data = _keyword_dataset(tmp_path / "data")
    target = data / "yes" / "r.wav"
    proc = run_cli("emulate", str(esp32_project), "--data", str(data), "--json", str(target))
    assert_one_error_line(proc, f"--json {target} would join the dataset {data}")
    assert not target.exists()
    # The --data file itself is still named as such.
    proc = run_cli("emulate", str(esp32_project), "--data", str(data), "--json", str(data))
    assert_one_error_line(proc, "--json names the --data file")


# --- 2. info and the per-label levels -----------------------------------------------


def _own_level_project(tmp_path: Path) -> Path:
    model = keyword_model_dir(tmp_path / "kws")
    out = tmp_path / "q6"
    proc = run_cli("generate", "--board", "esp32", "--model", str(model), "-o", str(out),
                   "--threshold", "0.8", "--label-threshold", "yes=0.9", "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def test_info_refuses_an_edited_label_level(tmp_path: Path) -> None:
    """Before: exit 0 printing 'yes 0.902 (q=103)' while the firmware gated yes at 90."""
    project = _own_level_project(tmp_path)
    proc = run_cli("info", str(project))
    assert proc.returncode == 0, proc.stderr
    assert "yes 0.902 (q=103)" in proc.stdout
    settings = project / "src" / "tinyslm_settings.c"
    text = settings.read_text()
    assert "\n  103,\n" in text
    settings.write_text(text.replace("\n  103,\n", "\n  90,\n"))
    proc = run_cli("info", str(project))
    assert_one_error_line(
        proc, f"{settings}: threshold_q 90 of 'yes' does not match tinyslm.json's 103"
    )
    # The table removed (the manifest still has the level) is refused too.
    start = text.index("static const int8_t tinyslm_label_threshold_q")
    settings.write_text(text[:start] + text[text.index("};", start) + 2 :])
    proc = run_cli("info", str(project))
    assert_one_error_line(proc, f"{settings}: no tinyslm_label_threshold_q table")


# --- 4. synth options that do nothing -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--unknown-clips", "0", "--near-misses", "3"], "--near-misses needs --unknown-clips"),
        (["--noise", "0", "--snr", "5,10"], "--snr needs --noise above 0"),
    ],
)
def test_synth_refuses_an_option_that_would_do_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """Before: exit 0, the option recorded in synth.json as if it had shaped the data."""
    out = tmp_path / "sz"
    proc = run_cli("synth", "yes", "no", "-o", str(out), "--engine", "flite", "--max-voices",
                   "1", "--clips", "1", "--background-seconds", "0", *args)  # fmt: skip
    assert_one_error_line(proc, needle)
    assert not out.exists()


# --- 5. synth --force says what it kept ---------------------------------------------


@pytest.mark.skipif(not have_tool("flite"), reason="needs flite")
def test_synth_force_names_the_users_clip_it_kept(tmp_path: Path) -> None:
    """Before: the summary named the new words' counts alone, and yes/mine.wav (a label
    'train' then reads) was said nowhere."""
    out = tmp_path / "sx"
    common = ["--engine", "flite", "--max-voices", "1", "--clips", "1", "--unknown-clips", "1",
              "--background-seconds", "0"]  # fmt: skip
    assert run_cli("synth", "yes", "no", "-o", str(out), *common).returncode == 0
    mine = out / "yes" / "mine.wav"
    shutil.copy(next((out / "yes").glob("*.wav")), mine)
    proc = run_cli("synth", "no", "up", "-o", str(out), *common, "--force")
    assert proc.returncode == 0, proc.stderr
    assert "; kept 1 of yours" in proc.stdout
    assert "note: kept 1 of yours: yes/mine.wav; yes/ is not a word synthesized" in proc.stderr
    assert mine.is_file()


# --- 6. generate --force counts a starter written again -----------------------------


def test_generate_force_counts_a_starter_it_wrote_again(
    esp32_project: Path, fixture_model: Path, tmp_path: Path
) -> None:
    """Before: 'updated ...: 0 changed, 0 added, ...' after writing src/tinyslm_actions.c."""
    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    (project / "src" / "tinyslm_actions.c").unlink()
    proc = run_cli("generate", "--board", "esp32", "--model", str(fixture_model), "-o",
                   str(project), "--force")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "  added     src/tinyslm_actions.c (yours from now on)" in proc.stdout
    assert ": 0 changed, 1 added, " in proc.stdout
    assert (project / "src" / "tinyslm_actions.c").is_file()
