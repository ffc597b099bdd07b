"""``tinyslm generate`` for a keyword model (issue 11): the project, its settings, its budget."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.audio.frontend import FrontendSpec
from tinyslm.audio.spec import KeywordSpec
from tinyslm.boards import load_board
from tinyslm.cli import cli
from tinyslm.emit import render_project
from tinyslm.emit.kws_glue import mic_buffers
from tinyslm.emit.project import arena_size_for
from tinyslm.errors import BudgetError
from tinyslm.manifest import load_model_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_manifest, keyword_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keyword_model_dir(tmp_path_factory.mktemp("kws") / "model")


@pytest.mark.parametrize("board_id", ["esp32", "stm32h7"])
def test_generate_writes_a_keyword_project(model_dir: Path, tmp_path: Path, board_id: str) -> None:
    out = tmp_path / "proj"
    result = CliRunner().invoke(
        cli, ["generate", "--board", board_id, "--model", str(model_dir), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    src = {p.name for p in (out / "src").iterdir()}
    # The keyword app and its loop, the common part, no text core.
    assert {"tinyslm_kws_app.c", "tinyslm_listen.c", "tinyslm_audio_frontend.c",
            "tinyslm_json.c", "tinyslm_tflm.cc", "main.cc"} <= src  # fmt: skip
    assert not {"tinyslm_core.c", "tinyslm_tokenizer.c"} & src
    settings_h = (out / "src" / "tinyslm_settings.h").read_text()
    assert "#define TINYSLM_INPUT_TYPE int8_t" in settings_h
    assert "#define TINYSLM_THRESHOLD_Q (51)" in settings_h
    settings_c = (out / "src" / "tinyslm_settings.c").read_text()
    assert '"yes",' in settings_c and ".non_keyword_mask = 3u," in settings_c
    main = (out / "src" / "main.cc").read_text()
    assert "tinyslm_kws_app_feed_samples" in main
    readme = (out / "README.md").read_text()
    assert "## Wiring" in readme and "INMP441" in readme
    # The fixture's rule (40 ms, 3 averaged) in words, and the span all 3 windows share.
    assert "an inference every 40 ms (2 frames) |" in readme
    assert "then 1000 ms of quiet; a keyword up to 0.91 s long lies whole in every" in readme
    # The user's starter: the keywords that fire (not _silence_/_unknown_), the hook's name.
    actions = (out / "src" / "tinyslm_actions.c").read_text()
    listed = [ln.strip()[2:].strip() for ln in actions.splitlines() if ln.startswith("  //   ")]
    assert listed == ['"no"', '"up"', '"yes"']
    assert 'strcmp(keyword->keyword, "no") == 0' in actions
    assert "void tinyslm_on_keyword(const tinyslm_keyword_t *keyword, void *ctx)" in actions
    project = json.loads((out / "tinyslm.json").read_text())
    assert project["manifest"]["modality"] == "audio"
    manifest, _ = load_model_dir(model_dir, probe_arena=False)
    assert manifest.modality == "audio"


def test_generation_is_deterministic(model_dir: Path) -> None:
    manifest, model = load_model_dir(model_dir, probe_arena=False)
    board = load_board("esp32")
    assert render_project(board, manifest, model) == render_project(board, manifest, model)


def test_budget_counts_the_microphone_buffers(model_dir: Path) -> None:
    manifest, model = load_model_dir(model_dir, probe_arena=False)
    board = load_board("stm32h7")
    buffers = mic_buffers(board)
    # An arena budget that holds the arena alone but not the microphone's buffers too.
    arena = arena_size_for(manifest.arena_bytes)
    tight = dataclasses.replace(board, arena_ram_kb=-(-(arena + 1) // 1024))
    assert tight.arena_budget_bytes >= arena
    # The buffers (over 10 KB on this board) cannot fit in the KB the rounding leaves.
    assert tight.arena_budget_bytes < arena + buffers.dma + buffers.work + 49 * 40
    with pytest.raises(BudgetError, match=r"microphone DMA \d+ \+ sample block \d+"):
        render_project(tight, manifest, model)


def test_a_front_end_the_firmware_does_not_have_is_refused(tmp_path: Path) -> None:
    # Same input shape as the model (so the manifest passes its checks), another front end.
    other = KeywordSpec(frontend=FrontendSpec(log_offset=300))
    folder = keyword_model_dir(tmp_path / "m", keyword_manifest(spec=other))
    result = CliRunner().invoke(
        cli, ["generate", "--board", "esp32", "--model", str(folder), "-o", str(tmp_path / "p")]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the keyword firmware's front end")
    assert "log_offset=300" in lines[0]
    assert not (tmp_path / "p").exists()


def test_mic_pins_are_overridable_at_generate_time(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "p"
    args = ["generate", "--board", "esp32", "--model", str(model_dir), "-o", str(out)]
    result = CliRunner().invoke(cli, [*args, "--mic-pin", "ws=GPIO32"])
    assert result.exit_code == 0, result.output
    assert "GPIO_NUM_32" in (out / "src" / "main.cc").read_text()
    assert "| I2S word select (ws) | GPIO32 | WS |" in (out / "README.md").read_text()
    bad = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "q"), "--mic-pin", "ws=GPIO6"])
    assert bad.exit_code == 1 and bad.output.startswith("error: --mic-pin:")
    assert "SPI flash" in bad.output and not (tmp_path / "q").exists()
    # Round 33: on a text model the pins were silently ignored.
    text = Path(__file__).resolve().parents[1] / "fixtures" / "model"
    for model in (["--model", str(text)], []):
        args = ["generate", "--board", "esp32", *model, "-o", str(tmp_path / "t")]
        refused = CliRunner().invoke(cli, [*args, "--mic-pin", "ws=GPIO32"])
        assert refused.exit_code == 1, refused.output
        assert refused.output.startswith("error: --mic-pin is for keyword models; ")
        assert len(refused.output.strip().splitlines()) == 1
        assert not (tmp_path / "t").exists()


def test_a_kept_starter_without_the_models_hook_is_named(model_dir: Path, tmp_path: Path) -> None:
    # Round 33: a text project regenerated for a keyword model kept the text starter
    # (it is the user's), whose tinyslm_on_answer the keyword main.cc never calls, while
    # the tinyslm_on_keyword it calls was undefined: the board build failed, silently.
    text = Path(__file__).resolve().parents[1] / "fixtures" / "model"
    out = tmp_path / "p"
    args = ["generate", "--board", "esp32", "-o", str(out)]
    assert CliRunner().invoke(cli, [*args, "--model", str(text)]).exit_code == 0
    result = CliRunner().invoke(cli, [*args, "--model", str(model_dir), "--force"])
    assert result.exit_code == 0, result.output
    assert (
        "note: src/tinyslm_actions.c is yours and was kept, but it defines no "
        "tinyslm_on_keyword()" in result.output
    )
    assert "tinyslm_on_answer" in (out / "src" / "tinyslm_actions.c").read_text()
    # Moved away, a new starter comes, and no note.
    (out / "src" / "tinyslm_actions.c").rename(tmp_path / "old_actions.c")
    again = CliRunner().invoke(cli, [*args, "--model", str(model_dir), "--force"])
    assert again.exit_code == 0 and "defines no" not in again.output
    assert "tinyslm_on_keyword" in (out / "src" / "tinyslm_actions.c").read_text()
