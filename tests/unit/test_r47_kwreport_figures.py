"""Keyword report, info and warnings (round 47, kweval report items 3, 4, 5, 6, 8, 9).

3. No detection curve (the test keyword stream too short for the rule): no empty plot and
   no caption saying the detector was "replayed at every threshold"; a note saying why.
6. No noise and no unknown-word audio: the summary says "no audio", as train/info/eval do.
5. A null count in the manifest (a stream the rule could not fire on) reads n/a, not None.
4. ``info --json``'s ``max_line`` of a keyword model is the keyword firmware's limit.
8. eval / emulate --data's too-short warning says to train the model with a lower
   --average or --stride-ms (options of train, not of eval).
9. ``info``'s recipe row renders list settings (``keywords``, ranges) as --json has them.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from tinyslm.audio.dataset import UNKNOWN
from tinyslm.audio.evaluate import _unfired
from tinyslm.audio.fit import summary_rows, unfired_warning
from tinyslm.audio.report import KeywordReportData, _curve_svg, render_keyword_report
from tinyslm.audio.spec import KeywordSpec
from tinyslm.boards import load_boards
from tinyslm.info import format_info, model_info
from tinyslm.report_data import tensor_sizes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import KWS_FIXTURE, keyword_manifest, keyword_model_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_r43_kwopts import _dataset  # 1 s clips and one noise recording in a split

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
# --stride-ms 980 x --average 8: the first detection needs 7.85 s (the report's mQ).
SLOW8 = KeywordSpec(stride_frames=49, average=8)
# The metrics train recorded for mQ: no noise, no unknown words, a 6.5 s keyword stream.
SHORT = {
    "eval_split": "test", "stream_split": "test", "noise_seconds": 0.0,
    "noise_false_accepts": 0, "noise_fa_per_hour": None, "unknown_seconds": 0.0,
    "unknown_false_accepts": 0, "unknown_fa_per_hour": None, "keyword_clips": 2,
    "keyword_hits": 0, "keyword_false_accepts": 0, "keyword_seconds": 6.5,
    "false_rejection_rate": None,
}  # fmt: skip


@cache
def _manifest() -> Any:
    """The fixture's manifest, made once (it measures the arena on TFLM)."""
    return keyword_manifest()


def _page(metrics: dict[str, Any], curve: tuple[Any, ...] = (), spec: Any = SLOW8) -> str:
    manifest = dataclasses.replace(_manifest(), features=spec, metrics=metrics)
    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    return render_keyword_report(
        manifest, KeywordReportData(curve, tensor_sizes(blob)), load_boards()
    )


def _text(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


# --- 3: no curve, no plot ---------------------------------------------------------------------


def test_no_curve_draws_no_plot_and_says_why() -> None:
    page = _page(SHORT)
    text = _text(page)
    # The curve's axes and caption are not drawn.
    assert "detector threshold P (mean score" not in page
    assert "replayed" not in text and "every threshold" not in text
    assert "records no stream seconds" not in text
    assert (
        "No detection curve: the test stream of keywords (6.5 s) is shorter than the 7.85 s"
        " that the rule --stride-ms 980 x --average 8 needs before its first detection" in text
    )


def test_no_curve_without_keyword_clips_says_so() -> None:
    text = _text(_page({**SHORT, "keyword_clips": 0, "keyword_seconds": 0.0}))
    assert "No detection curve: the test split has no keyword clip" in text
    assert "every threshold" not in text


def test_a_curve_is_still_drawn() -> None:
    curve = tuple((q, 1.0, 0.5) for q in range(-128, 128, 4))
    mt = {**SHORT, "false_rejection_rate": 0.5, "keyword_seconds": 18.0}
    page = _page(mt, curve, KeywordSpec())
    assert "detector threshold P (mean score" in page
    assert "No detection curve" not in page


def test_a_curve_of_one_level_is_not_every_threshold() -> None:
    _, caption = _curve_svg([(51, 0.0, 0.5)], 51, 0.0, 0.5)
    assert "every threshold" not in caption
    assert "at the one INT8 level q=51" in caption
    _, caption = _curve_svg([(q, 0.0, 0.5) for q in range(0, 10)], 5, 0.0, 0.5)
    assert "at every threshold" in caption


# --- 6: no audio is no audio ------------------------------------------------------------------


def test_no_noise_and_no_unknown_audio_is_said_no_audio() -> None:
    text = _text(_page(SHORT))
    assert "n/a on noise and unknown words (no audio)" in text
    assert "no stream long enough" not in text
    # Streams there but too short: the old words, which are true then.
    short = _text(_page({**SHORT, "noise_seconds": 1.2, "unknown_seconds": 4.0}))
    assert "n/a on noise and unknown words (no stream long enough for the rule to fire)" in short
    mixed = _text(_page({**SHORT, "unknown_seconds": 4.0}))
    assert "n/a on noise (no audio) and unknown words (too short for the rule to fire)" in mixed


# --- 5: a null count reads n/a ----------------------------------------------------------------


def test_null_counts_read_n_a_in_the_report_and_the_summary() -> None:
    nulls = {
        **SHORT,
        "noise_false_accepts": None,
        "unknown_false_accepts": None,
        "keyword_false_accepts": None,
        "keyword_hits": None,
    }
    text = _text(_page(nulls))
    assert "None" not in text
    assert "n/a in the keyword stream" in text
    for clips in (0, 2):
        mt = {**nulls, "keyword_clips": clips}
        manifest = dataclasses.replace(_manifest(), features=SLOW8, metrics=mt)
        rows = dict(summary_rows(manifest))
        shown = " ".join(rows.values())
        assert "None" not in shown, rows
        assert "(no audio)" in rows["false accepts per hour (test)"]
    assert rows["false rejections (test stream)"] == "n/a of 2 keywords (no detection possible)"


def test_no_keyword_clip_is_no_keyword_stream_in_the_summary() -> None:
    mt = {**SHORT, "keyword_clips": 0}
    rows = dict(summary_rows(dataclasses.replace(_manifest(), metrics=mt)))
    assert rows["false rejections (test stream)"] == "n/a of 0 keywords (no keyword stream)"


# --- 4: the keyword firmware's line limit -----------------------------------------------------


def test_kws_max_command_is_the_firmwares() -> None:
    from tinyslm.info import KWS_MAX_COMMAND

    header = (ROOT / "firmware" / "audio" / "tinyslm_kws_app.h").read_text(encoding="utf-8")
    found = re.search(r"#define TINYSLM_KWS_MAX_COMMAND (\d+)\n", header)
    assert found is not None
    assert int(found.group(1)) == KWS_MAX_COMMAND


def test_info_json_gives_a_keyword_model_its_firmwares_line_limit(tmp_path: Path) -> None:
    from tinyslm.info import KWS_MAX_COMMAND

    folder = keyword_model_dir(tmp_path / "m", _manifest())
    assert model_info(folder).to_dict()["max_line"] == KWS_MAX_COMMAND == 32
    # A text model keeps its manifest's.
    assert model_info(ROOT / "tests" / "fixtures" / "model").to_dict()["max_line"] == 256


# --- 8: the too-short warning outside train ---------------------------------------------------


def test_eval_and_emulate_say_to_train_with_a_lower_rule() -> None:
    # 1.2 s of noise: the default rule needs 1.39 s; --average 1 would fire on it.
    data = _dataset("test", 0, 0, 1.2)
    manifest = SimpleNamespace(labels=("_silence_", UNKNOWN, "yes", "no"), features=KeywordSpec())
    (said,) = _unfired(data, "all", "test", manifest)  # type: ignore[arg-type]
    assert said.endswith(
        "give longer background recordings (_background_noise_/) or train the model with a"
        " lower --average or --stride-ms"
    ), said
    # train's own warning keeps its options as they are (they are train's).
    trained = unfired_warning(data, "test", KeywordSpec())
    assert trained is not None
    assert (
        trained.endswith("or lower --average or --stride-ms") and "train the model" not in trained
    )


# --- 9: info's recipe row has the list settings -----------------------------------------------


def test_info_recipe_renders_list_settings(tmp_path: Path) -> None:
    config = {
        "epochs": 2,
        "keywords": ["yes", "no"],
        "unknown_words": ["a, b", "c"],
        "snr_db_range": [0.0, 20.0],
        "extra_train": [],
        "spec": {"num_bins": 40},
    }
    manifest = dataclasses.replace(_manifest(), train_config=config)
    folder = keyword_model_dir(tmp_path / "m", manifest)
    table = format_info(model_info(folder))
    recipe = next(line for line in table.splitlines() if line.startswith("recipe"))
    assert "keywords yes,no" in recipe
    assert "snr_db_range 0.0..20.0" in recipe
    # Words that would run together as a,b are JSON; an empty list is [].
    assert 'unknown_words ["a, b", "c"]' in recipe
    assert "extra_train []" in recipe
    assert "epochs 2" in recipe and "num_bins" not in recipe


# --- 3: train's progress line names no curve it cannot draw -----------------------------------


def test_train_says_it_draws_no_curve_where_there_is_none() -> None:
    from tinyslm.audio.fit import StreamMaterial, report_progress
    from tinyslm.audio.stream import StreamSpec, listen

    spec = StreamSpec(SLOW8.detector(4, 51), SLOW8.frames, SLOW8.frontend)
    scores = np.zeros((RATE // 160 * 7, 4), np.int8)

    def predict(windows: Any) -> Any:
        return scores[: len(windows)]

    def material(seconds: float, spans: tuple[tuple[int, int, int], ...]) -> StreamMaterial:
        samples = np.zeros(int(seconds * RATE), np.int16)
        heard = listen(samples, spec, predict) if spans else None
        return StreamMaterial((), 0.0, None, 0.0, heard, seconds if spans else 0.0, spans)

    short = report_progress(material(6.5, ((2, 8000, 24000),)), spec)
    assert short == (
        "drawing report.html (no detection curve: the rule cannot fire on the test keyword"
        " stream) ..."
    )
    none = report_progress(material(0.0, ()), spec)
    assert "no keyword clip in the test split" in none
    long = report_progress(material(9.0, ((2, 8000, 24000),)), spec)
    assert long == "drawing report.html (detection curve on the test streams) ..."
