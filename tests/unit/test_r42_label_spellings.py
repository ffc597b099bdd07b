"""Labels that look like one meant otherwise (round 42): "Lights_On" beside "lights_on"
became two intents without a word, and "out of scope" (with spaces) was trained as an
intent. Both are warned about; neither is refused (a dataset may mean it)."""

from __future__ import annotations

from pathlib import Path

from tinyslm.text.dataset import load_dataset


def _warnings(tmp_path: Path, rows: list[tuple[str, str]]) -> tuple[str, ...]:
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"{t},{lb}\n" for t, lb in rows), "utf-8")
    return tuple(load_dataset(path).warnings)


ROWS = [
    ("lock the door", "door_lock"),
    ("lock it now", "door_lock"),
    ("lock up", "door_lock"),
    ("turn the fan on", "fan_on"),
    ("fan on please", "fan_on"),
    ("start the fan", "fan_on"),
]


def test_intents_differing_only_in_case_are_warned_about(tmp_path: Path) -> None:
    rows = [*ROWS, ("lights on", "Lights_On"), ("lamp on", "lights_on"), ("bright", "lights_on")]
    rows += [("light up", "Lights_On")]
    found = [w for w in _warnings(tmp_path, rows) if "differ only in case" in w]
    assert found == [
        "1 intent name(s) differ only in case ('Lights_On' and 'lights_on'): each is its own "
        "intent; spell each one way"
    ]
    assert not any("differ only in case" in w for w in _warnings(tmp_path, ROWS))


def test_an_out_of_scope_label_the_loader_does_not_read_as_one(tmp_path: Path) -> None:
    rows = [*ROWS, ("sing a song", "out of scope"), ("what is love", "out of scope")]
    found = [w for w in _warnings(tmp_path, rows) if "trained as an intent" in w]
    assert found == [
        "label 'out of scope' is trained as an intent; out-of-scope phrases are labelled one "
        "of oos, out-of-scope, out_of_scope"
    ]
    rows = [*ROWS, ("sing a song", "oos"), ("what is love", "OOS"), ("hmm", "out_of_scope")]
    assert not any("trained as an intent" in w for w in _warnings(tmp_path, rows))
    assert not any("differ only in case" in w for w in _warnings(tmp_path, rows))
