"""Round 45 (honesty hunt): round-44 fixes whose revert no test noticed.

- A keyword clip list names its clips as written: a path with capitals and spaces
  ("My yes/spk00 Nohash 0.wav") is looked up unlowered, so the list is audio, not
  text told to add a text column.
- Keyword eval prints train's null keyword-stream false accepts as ``(train: n/a)``,
  not ``(train: None)``.
- The keyword page's per-label accuracy chart tells long phrases sharing their start
  apart (its ticks were each name cut alone: one and the same tick).
- The weakest label is one measured: a NaN accuracy of a label with clips (an older
  manifest's) is passed over, not ``min``'s pick.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from tinyslm.audio.evaluate import format_keyword_eval
from tinyslm.audio.fit import weakest_label
from tinyslm.audio.report import _accuracy_svg
from tinyslm.modality import AUDIO, modality_of_data

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_r44_json_figures import TRAINED, _eval_result, _figures
from test_r44_report_figures import _svg_texts


def test_a_clip_list_finds_spaced_paths_in_their_own_case(tmp_path: Path) -> None:
    names = ("My yes/spk00 Nohash 0.wav", "My no/spk01 Nohash 0.wav")
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"RIFF")
    lines = "".join(f"{name},{name.split('/')[0][3:]}\n" for name in names)
    (tmp_path / "clips.csv").write_text("sound,label\n" + lines)
    assert modality_of_data(tmp_path / "clips.csv").name == AUDIO


def test_keyword_eval_prints_trains_null_keyword_false_accepts_as_na(tmp_path: Path) -> None:
    trained = {**TRAINED, "keyword_false_accepts": None}
    stream = _figures(keyword_clips=6, keywords_fire=True, keyword_seconds=20.0)
    table = format_keyword_eval(_eval_result(str(tmp_path / "kw"), 10, stream, trained=trained))
    row = next(line for line in table.splitlines() if "in the keyword stream" in line)
    assert row.endswith("0 in the keyword stream  (train: n/a)"), row
    assert "None" not in table


def test_the_accuracy_chart_tells_phrases_sharing_their_start_apart() -> None:
    prefix = "turn on the living room lights and then "  # 40 characters
    names = [prefix + "dim them", prefix + "brighten them", "lights off"]
    svg, _ = _accuracy_svg({n: [0.5, 4] for n in names}, "test")
    ticks = [t for t in _svg_texts(svg) if t.startswith("turn on")]
    assert len(ticks) == 2 and len(set(ticks)) == 2, ticks


def test_the_weakest_label_passes_over_a_nan_accuracy_with_clips() -> None:
    assert weakest_label({"yes": [math.nan, 3], "no": [0.5, 4], "up": [0.75, 4]}) == (
        "no",
        0.5,
        4,
    )
