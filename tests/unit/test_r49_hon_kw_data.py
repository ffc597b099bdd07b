"""Round 49 test-honesty audit, keyword data (7dcca43), behaviours no test held:

- the refusal of ``_unknown_/`` clips named as one of the data's own keyword folders is
  a rule of training's load only (eval and emulate --data check the model's keywords
  instead, split by split): no test loaded such data under eval's rules;
- the threshold advice names the dataset to add to in its "loosest threshold" branch,
  and train (fit_audio) gives it the dataset's source.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_audio_dataset import tone
from test_r48_kwrev_fixes import _eval_data, _manifest

from tinyslm.audio.dataset import UNKNOWN
from tinyslm.audio.evaluate import load_for_model
from tinyslm.audio.wav import write_wav


def test_eval_takes_unknown_clips_named_as_a_data_folder_the_model_lacks(tmp_path: Path) -> None:
    # A 'down/' folder (a word of the data, not one of the model's keywords) and an
    # _unknown_/down_* clip: training on this data would refuse it (down trained as
    # _unknown_), but the model never learnt 'down', so eval scores it as _unknown_.
    data = _eval_data(tmp_path / "d", ["down_a_nohash_0.wav"])
    (data / "down").mkdir()
    write_wav(data / "down" / "spk9_nohash_0.wav", tone(n=16000, seed=4242))
    assert "down" not in _manifest().labels
    dataset, _, _ = load_for_model(data, "all", _manifest(), lambda _line: None)
    unknown = [c for c in dataset.clips if c.source == f"{UNKNOWN}/down_a_nohash_0.wav"]
    assert len(unknown) == 1 and unknown[0].label == UNKNOWN, dataset.clips


def test_the_loosest_threshold_advice_names_the_dataset_to_add_to() -> None:
    # 7dcca43: what to add is named with where to add it (the dataset whose validation
    # split it is: an --extra-train set's noise never reaches the validation streams),
    # in the "no false accept even at the loosest threshold" advice too.
    from types import SimpleNamespace

    from tinyslm.audio.fit import threshold_advice

    streams = SimpleNamespace(
        threshold_q=-128, threshold_found=True, val_noise_seconds=9.0, val_unknown_seconds=0.0
    )
    advice = threshold_advice(streams, "", "data/kws")  # type: ignore[arg-type]
    assert advice is not None
    assert f"add {UNKNOWN} recordings to data/kws, and check the false rejections" in advice


def test_train_names_its_dataset_in_the_threshold_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 7dcca43: fit_audio gives threshold_advice the dataset's source, so train's warning
    # says where to add what the validation streams lacked. Loading, training and
    # streaming stand in (test_untrue_messages.stand_in_fit, source "kws").
    from test_untrue_messages import stand_in_fit

    from tinyslm.audio import fit

    stand_in_fit(monkeypatch, threshold_q=127, threshold_found=False)
    printed: list[str] = []
    fit.fit_audio(tmp_path, None, warn=printed.append, report=False)
    advice = [p for p in printed if "false accepts at every threshold" in p]
    assert len(advice) == 1, printed
    assert advice[0].endswith(
        f"add background noise (_background_noise_) and {UNKNOWN} recordings to kws"
    ), advice
