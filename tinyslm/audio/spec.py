"""A keyword model's input contract: what ``manifest.json`` records under ``features``.

The text modality's counterpart is :class:`tinyslm.text.features.FeatureSpec`. For keywords
it is the front end (whose C mirror's tables are generated from it), the window the
model sees, and the streaming rule around it (how often the model runs, how many score
vectors are averaged, how long a detection suppresses the next). The detector's
threshold is the manifest's ``threshold_q``, as the text gate's is, so both modalities
calibrate and print it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tinyslm.audio.detector import DetectorSpec
from tinyslm.audio.frontend import FrontendSpec
from tinyslm.errors import ModelError

# The streaming rule's defaults: a 1 s window stepped every 400 ms (20 front-end frames),
# 2 score vectors averaged, 1 s between detections of any keyword. Why 400 ms, not 40:
# - real time: one default-size inference is about 14.9 M Cortex-M7 instructions
#   (4.4 M MACs through CMSIS-NN), so a 40 ms stride needs 95% of the STM32H7 at the 400 MHz
#   the generated firmware runs it at (and more than an ESP32 core has); 400 ms needs 11%
#   with the front end included.
# - accuracy: the first crossing of the threshold fires and suppresses the next second,
#   so 3 vectors 40 ms apart (120 ms of evidence) often fired a wrong keyword on a word
#   half inside the window. On speech_commands_dev's default model the 400 ms / 2 rule
#   misses fewer keywords at equal false accepts over most of the threshold range, not at
#   the strictest thresholds (docs/audio.md, "Streaming rule", has both curves).
# - phrases: the 2 windows share 0.59 s (``seen_whole_samples``), so a two-word phrase
#   is cut in one of them; 200 ms / 2 missed fewer synthetic phrases at equal false
#   accepts (docs/audio.md, "Long phrases"), and ``tinyslm synth`` says so.
# ``tinyslm train --stride-ms/--average`` choose another rule for a faster model or chip.
DEFAULT_STRIDE_FRAMES = 20
DEFAULT_AVERAGE = 2
DEFAULT_SUPPRESSION_MS = 1000


@dataclass(frozen=True)
class KeywordSpec:
    """The front end, the model's window and the streaming rule of a keyword model.

    Attributes:
        frontend: the fixed-point log-mel front end.
        window_samples: samples the model sees (one clip: 16,000 = 1 s).
        stride_frames: front-end frames between two inferences on the device.
        average: score vectors averaged by the detector.
        suppression_ms: quiet time after a detection.
        non_keywords: label indices that never fire (silence, unknown).
    """

    frontend: FrontendSpec = field(default_factory=FrontendSpec)
    window_samples: int = 16000
    stride_frames: int = DEFAULT_STRIDE_FRAMES
    average: int = DEFAULT_AVERAGE
    suppression_ms: int = DEFAULT_SUPPRESSION_MS
    non_keywords: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ModelError(
                f"a {self.window_samples}-sample window holds no "
                f"{self.frontend.window_samples}-sample front-end frame"
            )
        if self.stride_frames < 1 or self.average < 1 or self.suppression_ms < 0:
            raise ModelError("stride_frames and average must be >= 1, suppression_ms >= 0")

    @property
    def frames(self) -> int:
        """Feature frames in the model's window."""
        return self.frontend.num_frames(self.window_samples)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The model's input tensor shape, batch included: ``(1, frames, bins, 1)``."""
        return (1, self.frames, self.frontend.num_bins, 1)

    @property
    def frame_ms(self) -> int:
        return self.frontend.stride_samples * 1000 // self.frontend.sample_rate

    @property
    def stride_ms(self) -> int:
        """Time between two inferences (``--stride-ms``), as ``DetectorSpec.stride_ms``."""
        return self.stride_frames * self.frame_ms

    def samples_for_inferences(self, n: int) -> int:
        """Samples a stream needs before the device has run ``n`` inferences: the first when
        the window's frames are in, then one every ``stride_frames`` frames (as
        :func:`tinyslm.audio.stream.inference_frames` and the firmware's loop count them)."""
        fe = self.frontend
        newest = self.frames - 1 + (n - 1) * self.stride_frames
        return fe.window_samples + newest * fe.stride_samples

    @property
    def shortest_detection_samples(self) -> int:
        """The shortest stream the detector can fire on: ``average`` inferences. A 1 s
        clip alone has one inference, so with the default rule (2) it never fires."""
        return self.samples_for_inferences(self.average)

    @property
    def seen_whole_samples(self) -> int:
        """The longest keyword that can lie whole in every window the detector averages:
        ``average`` windows ``stride_frames`` apart, so their common span (0 when they do
        not overlap). With the defaults it is 0.59 s: a longer phrase is cut in at least
        one of the two, which costs phrases more misses than single words (docs/audio.md,
        "Long phrases")."""
        first = self.samples_for_inferences(1)
        return max(2 * first - self.samples_for_inferences(self.average), 0)

    def detector(
        self, num_labels: int, threshold_q: int, label_thresholds_q: tuple[int, ...] = ()
    ) -> DetectorSpec:
        """The streaming rule for a model with ``num_labels`` outputs.

        ``label_thresholds_q``: a level per label instead of ``threshold_q`` (``()``:
        none; a project's ``Manifest.thresholds_q()`` when labels have their own).
        """
        return DetectorSpec(
            num_labels=num_labels,
            non_keywords=self.non_keywords,
            stride_frames=self.stride_frames,
            frame_ms=self.frame_ms,
            window=self.average,
            threshold_q=threshold_q,
            suppression_ms=self.suppression_ms,
            label_thresholds_q=label_thresholds_q,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["non_keywords"] = list(self.non_keywords)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeywordSpec:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown keyword spec keys: {', '.join(unknown)}")
        front = data.get("frontend", {})
        if not isinstance(front, Mapping):
            raise TypeError("frontend: expected a JSON object")
        front_unknown = sorted(set(front) - set(FrontendSpec.__dataclass_fields__))
        if front_unknown:
            raise ValueError(f"unknown front-end keys: {', '.join(front_unknown)}")
        values = {k: data[k] for k in known - {"frontend", "non_keywords"} if k in data}
        for name, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name}: expected an integer")
        non_keywords = data.get("non_keywords", [0, 1])
        if not isinstance(non_keywords, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in non_keywords
        ):
            raise TypeError("non_keywords: expected a list of integers")
        return cls(
            frontend=FrontendSpec(**front),
            non_keywords=tuple(non_keywords),
            **values,
        )
