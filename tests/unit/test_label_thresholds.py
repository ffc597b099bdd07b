"""Labels with thresholds of their own (``generate --label-threshold LABEL=P``).

A text intent is answered locally only when its score reaches its own level (a lock
that must be surer than a lamp); a keyword fires only when its averaged score reaches
its own. The project's manifest (format 4) carries the levels, its content hash covers
them, and the Python references (``decide``, the detector, ``eval``'s gate) compare each
answer with its top label's level, as the firmware does (tests/host, tests/integration).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinyslm.audio.detector import Detection, DetectorSpec, detect, score_milli
from tinyslm.decision import ROUTE_ESCALATE, ROUTE_LOCAL, decide, dequantize, threshold_to_q
from tinyslm.errors import ModelError, TinySlmError
from tinyslm.manifest import (
    FORMAT_VERSION,
    LABEL_THRESHOLDS_FORMAT,
    Manifest,
    describe_label_thresholds,
    load_model_dir,
    threshold_milli,
    threshold_text,
)
from tinyslm.operating_point import (
    TRAINED,
    parse_label_thresholds,
    with_label_thresholds,
    with_threshold,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_manifest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model"


@pytest.fixture(scope="module")
def text_manifest() -> Manifest:
    manifest, _ = load_model_dir(FIXTURE, probe_arena=False)
    return manifest


def test_parse_keeps_the_order_given_and_refuses_typos() -> None:
    assert parse_label_thresholds(("door_unlock=0.9", "a=b=0.25")) == {
        "door_unlock": 0.9,
        "a=b": 0.25,
    }
    assert parse_label_thresholds(()) == {}
    for bad, said in (
        ("door_unlock", "expected LABEL=P"),
        ("=0.9", "expected LABEL=P"),
        ("door_unlock=high", "'high' is not a number"),
        ("door_unlock=", "'' is not a number"),
    ):
        with pytest.raises(ModelError, match=said):
            parse_label_thresholds((bad,))
    with pytest.raises(ModelError, match="'x' is given twice"):
        parse_label_thresholds(("x=0.5", "x=0.6"))


@pytest.mark.parametrize(
    ("given", "said"),
    [
        # Was "--label-threshold door_unlock=0.9=1: must be between 0 and 1" (the label
        # read as 'door_unlock=0.9', and 1 the threshold).
        (
            "door_unlock=0.9=1",
            "--label-threshold 'door_unlock=0.9=1': more than one threshold; give one "
            "LABEL=P, e.g. door_unlock=0.9",
        ),
        # Was "no label 'door_unlock=0.5,lights_on'" once the model was there.
        (
            "door_unlock=0.5,lights_on=0.3",
            "--label-threshold 'door_unlock=0.5,lights_on=0.3': one LABEL=P per option; "
            "repeat it for each label: --label-threshold door_unlock=0.5 "
            "--label-threshold lights_on=0.3",
        ),
    ],
)
def test_two_thresholds_in_one_item_are_refused_saying_what_to_type(
    given: str, said: str, text_manifest: Manifest
) -> None:
    with pytest.raises(ModelError) as err:
        with_label_thresholds(text_manifest, parse_label_thresholds((given,)))
    assert str(err.value) == said


def test_a_label_holding_an_equals_number_gets_its_own_threshold(text_manifest: Manifest) -> None:
    # 'temp=20=0.5' was refused as two thresholds, though 'temp=20' is the model's label.
    labels = ("temp=20", *text_manifest.labels[1:])
    manifest = replace(text_manifest, labels=labels)
    given = parse_label_thresholds(("temp=20=0.5",))
    assert given == {"temp=20": 0.5}
    (entry,) = with_label_thresholds(manifest, given).label_thresholds
    assert (entry.label, entry.threshold) == ("temp=20", 0.5)


def test_a_missing_label_with_a_comma_says_to_repeat_the_option(text_manifest: Manifest) -> None:
    given = parse_label_thresholds(("door_unlock,lights_on=0.3",))
    with pytest.raises(ModelError, match=r"has no label 'door_unlock,lights_on' .*; repeat the "):
        with_label_thresholds(text_manifest, given)


def test_text_levels_replace_the_threshold_for_their_labels_only(text_manifest: Manifest) -> None:
    m = text_manifest
    out = m.output_quant
    moved = with_label_thresholds(m, {"door_unlock": 0.9, "lights_on": 0.2})
    assert moved.format_version == LABEL_THRESHOLDS_FORMAT > FORMAT_VERSION
    # In label order, whatever the order given; the level is the gate's own conversion,
    # recorded as the level's P (0.9 selects 231/256, recorded 0.902 as train records a
    # level: rounded down to 3 decimals), which the firmware's ':info' prints.
    assert [(t.label, t.threshold) for t in moved.label_thresholds] == [
        ("door_unlock", 0.902),
        ("lights_on", 0.203),
    ]
    levels = moved.thresholds_q()
    for label, level in zip(m.labels, levels, strict=True):
        own = {"door_unlock": 0.9, "lights_on": 0.2}.get(label)
        want = m.threshold_q if own is None else threshold_to_q(own, out.scale, out.zero_point)
        assert level == want, label
    assert m.thresholds_q() == (m.threshold_q,) * len(m.labels)
    # The model's threshold and everything else stay; the figures measured at the
    # trained threshold no longer describe the firmware, so they move aside.
    assert (moved.threshold, moved.threshold_q) == (m.threshold, m.threshold_q)
    assert moved.metrics[TRAINED]["threshold_q"] == m.threshold_q
    assert "int8_accuracy_at_threshold" not in moved.metrics
    rule = moved.metrics["threshold_rule"]
    # Each level as recorded, printed as every threshold is (threshold_text), after
    # training's own rule: the model's threshold is still the one training chose (the
    # rule "set with generate --label-threshold ..." credited the option with it).
    assert rule == (
        f"{m.metrics['threshold_rule']}; own levels set with generate --label-threshold "
        "door_unlock=0.902 --label-threshold lights_on=0.203"
    )
    # The rule is in label order too: the options in another order give the same bytes.
    other = with_label_thresholds(m, {"lights_on": 0.2, "door_unlock": 0.9})
    assert other.to_dict() == moved.to_dict()
    assert describe_label_thresholds(moved) == (
        f"door_unlock 0.902 (q={levels[m.labels.index('door_unlock')]}), "
        f"lights_on 0.203 (q={levels[m.labels.index('lights_on')]})"
    )
    assert describe_label_thresholds(m) is None
    # After --threshold the rule names both.
    both = with_label_thresholds(with_threshold(m, 0.6), {"door_unlock": 0.9})
    assert both.metrics["threshold_rule"].startswith(
        "set with generate --threshold 0.601 --label-threshold door_unlock=0.902 (trained: "
    )
    assert both.threshold == 0.601 and both.metrics[TRAINED]["threshold_q"] == m.threshold_q


def test_decide_compares_with_the_top_labels_level(text_manifest: Manifest) -> None:
    m = with_label_thresholds(text_manifest, {"door_unlock": 0.9})
    out = m.output_quant
    unlock = m.labels.index("door_unlock")
    own = m.thresholds_q()[unlock]
    assert own > m.threshold_q
    scores = np.full(len(m.labels), -128, np.int8)
    scores[unlock] = own - 1  # above the model's threshold, under the label's own
    assert decide(scores, out.scale, out.zero_point, m.threshold_q).route == ROUTE_LOCAL
    assert decide(scores, out.scale, out.zero_point, m.thresholds_q()).route == ROUTE_ESCALATE
    scores[unlock] = own
    assert decide(scores, out.scale, out.zero_point, m.thresholds_q()).route == ROUTE_LOCAL
    # Another label at the same score is judged by the model's threshold.
    other = (unlock + 1) % len(m.labels)
    scores[unlock], scores[other] = -128, own - 1
    d = decide(scores, out.scale, out.zero_point, m.thresholds_q())
    assert (d.index, d.route) == (other, ROUTE_LOCAL)


def test_manifest_round_trip_and_hash(text_manifest: Manifest) -> None:
    moved = with_label_thresholds(text_manifest, {"door_unlock": 0.9})
    doc = json.loads(json.dumps(moved.to_dict()))
    assert doc["format_version"] == 4
    assert doc["label_thresholds"] == {
        "door_unlock": {"threshold": 0.902, "threshold_q": moved.thresholds_q()[2]}
    }
    back = Manifest.from_dict(doc)
    assert back == moved
    # The level is part of what the firmware is built from: an edit is caught.
    edited = json.loads(json.dumps(doc))
    edited["label_thresholds"]["door_unlock"]["threshold_q"] -= 1
    with pytest.raises(ModelError, match="does not match its content_sha256"):
        Manifest.from_dict(edited)
    for bad, said in (
        ({"nope": {"threshold": 0.9, "threshold_q": 1}}, "'nope' is not one of the labels"),
        ({"door_unlock": {"threshold": 0.9}}, "expected {threshold, threshold_q}"),
        ({"door_unlock": {"threshold": 0.9, "threshold_q": 128}}, "is not an int8"),
        ({"door_unlock": {"threshold": 0.9, "threshold_q": 1.5}}, "expected an integer"),
        ([], "expected a JSON object"),
    ):
        wrong = json.loads(json.dumps(doc))
        wrong["label_thresholds"] = bad
        with pytest.raises(ModelError, match="field 'label_thresholds'") as info:
            Manifest.from_dict(wrong)
        assert said in str(info.value)
    # Without label thresholds nothing is written as before (no key, same format).
    plain = text_manifest.to_dict()
    assert "label_thresholds" not in plain and plain["format_version"] == 2
    with pytest.raises(ModelError, match="format 3 cannot hold label thresholds"):
        replace(moved, format_version=3)


def test_refusals(text_manifest: Manifest) -> None:
    m = text_manifest
    out = m.output_quant
    top = dequantize(127, out.scale, out.zero_point)
    for given, said in (
        ({"nope": 0.5}, "--label-threshold nope=0.5: the model has no label 'nope' (it has "),
        ({"door_unlock": 0.0}, "--label-threshold door_unlock=0: must be between 0 and 1"),
        ({"door_unlock": 1.0}, "--label-threshold door_unlock=1: must be between 0 and 1"),
        ({"door_unlock": float("nan")}, "--label-threshold door_unlock=nan: must be between"),
        ({"door_unlock": min(0.99999, top + 1e-4)}, "--label-threshold door_unlock=0."),
    ):
        with pytest.raises(ModelError, match="^" + re.escape(said)):
            with_label_thresholds(m, given)
    with pytest.raises(ModelError, match="above the highest score the model's int8 output"):
        with_label_thresholds(m, {"door_unlock": min(0.99999, top + 1e-4)})
    assert with_label_thresholds(m, {}) is m


def test_keyword_levels_are_detector_levels() -> None:
    m = keyword_manifest()
    moved = with_label_thresholds(m, {"yes": 0.95, "no": 0.801})
    own = {t.label: t for t in moved.label_thresholds}
    # (q + 128) / 256, the lowest level at or above P; a printed level selects itself.
    assert own["yes"].threshold_q == 116 and own["yes"].threshold == (116 + 128) / 256
    assert own["no"].threshold_q == 77
    for never in ("_silence_", "_unknown_"):
        with pytest.raises(ModelError, match=f"{never} is never detected, so it has no threshold"):
            with_label_thresholds(m, {never: 0.5})
    with pytest.raises(ModelError, match=r"has no label 'maybe' \(it has no, up, yes\)"):
        with_label_thresholds(m, {"maybe": 0.5})


def test_detector_fires_at_each_labels_level() -> None:
    spec = DetectorSpec(num_labels=4, window=2, threshold_q=51, suppression_ms=0)
    scores = np.full((4, 4), -128, np.int8)
    scores[:2, 2] = 60  # keyword 2: mean 60
    scores[2:, 3] = 60  # keyword 3: mean 60, later
    assert [d.label for d in detect(spec, scores)] == [2, 3]
    strict = replace(spec, label_thresholds_q=(51, 51, 61, 51))
    assert [d.label for d in detect(strict, scores)] == [3]
    assert detect(strict, scores)[0] == Detection(3, 3 * 40, 120, 734)
    assert strict.level_of(2) == 61 and strict.level_of(3) == spec.level_of(3) == 51
    for bad in ((51, 51, 51), (51, 51, 51, 128)):
        with pytest.raises(TinySlmError, match="label_thresholds_q must be 4 int8 levels"):
            replace(spec, label_thresholds_q=bad)


def test_every_keyword_level_prints_as_the_firmware_and_selects_itself() -> None:
    """Every display rounds a threshold as the firmware's ``:info`` does (half up), and the
    printed P of any level, typed back, selects that level. Levels 16 mod 32 end in a 5
    (208/256 = 0.8125): ``.3f`` alone printed 0.812 where the device printed 0.813."""
    m = keyword_manifest()
    for q in range(-127, 127):
        p = DetectorSpec.probability_of(q)
        assert threshold_milli(p) == score_milli(q, 1), q  # the C formula's mirror
        typed = float(threshold_text(p))
        own = with_label_thresholds(m, {"yes": typed}).label_thresholds
        # The model's own level is no level of its own (not recorded, as ':info' lists it).
        assert [t.threshold_q for t in own] == ([] if q == m.threshold_q else [q]), q
    assert threshold_text(208 / 256) == "0.813"
    assert describe_label_thresholds(with_label_thresholds(m, {"yes": 0.813})) == "yes 0.813 (q=80)"
