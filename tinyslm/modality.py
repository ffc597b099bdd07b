"""The modality seam: what text intents and audio keywords each supply to the stages.

The stages (train, quantize, verify, emit, emulate) are generic. Each looks the
modality up once, from the data (``train``) or from the manifest's ``modality``
field (everything after), and takes from it only what differs:

- ``features_from_dict``: the front end's spec as the manifest records it
  (:class:`tinyslm.text.features.FeatureSpec`, :class:`tinyslm.audio.spec.KeywordSpec`);
- ``input_dtype`` and ``input_shape``: the model's input tensor, which quantize,
  the arena probe and the manifest check against the flatbuffer;
- ``firmware``: the folder of ``firmware/`` copied into a project beside
  ``firmware/common/``; ``templates``: its template layer (``templates/<name>/`` and
  ``templates/<family>-<name>/``);
- ``settings``: the values its templates need from the manifest;
- ``sniff``: whether a dataset path holds this modality's data;
- ``fit``: its loader, front end, model builder and verification behind one call
  that returns a :class:`Fitted` model, which the pipeline writes.

Two modalities, one table: no registration machinery. Everything heavy (TensorFlow,
the dataset loaders) is imported inside the functions, so looking a modality up costs
nothing.
"""

from __future__ import annotations

import csv
import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tinyslm.errors import DatasetError, ModelError

if TYPE_CHECKING:
    from tinyslm.audio.spec import KeywordSpec
    from tinyslm.boards import Board
    from tinyslm.manifest import Manifest
    from tinyslm.text.features import FeatureSpec

TEXT = "text"
AUDIO = "audio"
Log = Callable[[str], None]


def quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Fitted:
    """A trained, converted and verified model, ready to be written.

    Attributes:
        manifest: its manifest.
        files: the model folder's files by name (model, manifest, report).
        warnings: every warning the fit printed (dataset, line limit, threshold), for
            ``train --json``.
        history: per-epoch training figures.
        load_seconds, train_seconds, convert_seconds, verify_seconds: wall times.
    """

    manifest: Manifest
    files: dict[str, bytes]
    warnings: tuple[str, ...]
    history: tuple[dict[str, float], ...]
    load_seconds: float
    train_seconds: float
    convert_seconds: float
    verify_seconds: float


class ReportPage(Protocol):
    def __call__(
        self, path: Path, manifest: Manifest, model: bytes, stored: Path | None, data: Path | None
    ) -> tuple[str, str]: ...


class SummaryRows(Protocol):
    def __call__(self, m: Manifest, line_limit: str | None = None) -> list[tuple[str, str]]: ...


class Fit(Protocol):
    def __call__(
        self, data: Path | None, config: Any, *, log: Log, warn: Log, report: bool
    ) -> Fitted: ...


@dataclass(frozen=True)
class Modality:
    """One modality's side of the seam (see the module docstring).

    Attributes:
        name: the manifest's ``modality`` value, the firmware and template folder name.
        noun: what a label is, in messages (``intent``, ``keyword``).
        input_dtype: the model input's numpy dtype name.
        features_from_dict: parses the manifest's ``features``.
        input_shape: the model input's shape (batch included) for a parsed spec.
        sniff: ``True`` when a dataset path holds this modality's data.
        fit: trains, converts and verifies a model on a dataset path.
        summary_rows: its lines of ``tinyslm train``'s summary table (and ``info``'s);
            ``line_limit``, where given, is the value of its ``device line limit`` row: info
            knows a project's limit (or the boards'), which the manifest does not.
        template_context: its templates' values (``settings`` entries and its own keys).
        ram_bytes: RAM besides the arena its firmware needs on a board, and what it is.
        report_page: ``report.html`` from a model folder's ``report.json`` (or, for text,
            a dataset) and where its figures came from.
    """

    name: str
    noun: str
    input_dtype: str
    features_from_dict: Callable[[Mapping[str, Any]], Any]
    input_shape: Callable[[Any], tuple[int, ...]]
    sniff: Callable[[Path], bool]
    fit: Fit
    summary_rows: SummaryRows
    template_context: Callable[[Board, Manifest], dict[str, Any]]
    ram_bytes: Callable[[Board, Manifest], tuple[int, str]]
    report_page: ReportPage

    @property
    def firmware(self) -> str:
        """``firmware/<this>/``: the modality's C sources, copied beside ``common/``."""
        return self.name

    def template_layers(self, family: str) -> tuple[str, ...]:
        """Template folders in the order later ones override earlier ones."""
        return ("common", self.name, family, f"{family}-{self.name}")


def _lazy(target: str) -> Any:
    """``module:function``, imported at its first call: looking a modality up imports
    neither TensorFlow nor a loader."""
    module, _, name = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        target: Any = importlib.import_module(module)
        for attribute in name.split("."):
            target = getattr(target, attribute)
        return target(*args, **kwargs)

    call.__qualname__ = call.__name__ = name
    return call


def _text_shape(spec: FeatureSpec) -> tuple[int, ...]:
    return (1, spec.seq_len)


def _audio_shape(spec: KeywordSpec) -> tuple[int, ...]:
    return spec.input_shape


_WAV_SUFFIXES = (".wav", ".wave")
# A clip list's path column under the names users give it; with no "text" column, a
# header naming one is a list of WAV files (its loader then says what it must be).
_PATH_COLUMNS = {
    "path", "file", "filename", "file_name", "filepath", "file_path", "wav", "wav_path",
    "wav_file", "audio", "audio_path", "audio_file", "clip", "clip_path", "recording",
}  # fmt: skip
_SNIFF_ROWS = 5  # rows looked at: a header and a few clips, not the whole list


def _names_wav(value: object) -> bool:
    return isinstance(value, str) and value.strip().strip("\"'").lower().endswith(_WAV_SUFFIXES)


def _names_clip(value: object, base: Path) -> bool:
    """A cell naming a WAV file as a clip list's path does: one that exists beside the
    list (spaces allowed: "my clips/yes 0.wav"), or one without spaces, where a phrase
    ("play song.wav") has them."""
    if not _names_wav(value):
        return False
    name = str(value).strip().strip("\"'")
    if not any(ch.isspace() for ch in name):
        return True
    try:
        return (base / name).is_file()
    except (OSError, ValueError):
        return False


def _rows_are_audio(rows: list[list[str]], base: Path) -> bool:
    """Whether a CSV's first non-blank rows are a list of WAV files: a header with no
    ``text`` column that names a path column or sits over rows that each name a ``.wav``
    file, or no header and a ``.wav`` first in every row. Cells
    are also split on ';' and tabs (a European spreadsheet's "CSV", a TSV), so such a
    list is refused by the audio loader for its separator, not told to add a text column.
    """
    cells = [[c.strip() for c in re.split(r"[,;\t]", ",".join(row))] for row in rows]
    split = [[c.lower() for c in row] for row in cells]
    if _names_wav(split[0][0]):
        # No header (a keyword may be called "text"): every row a clip. A text phrase that
        # happens to end in ".wav" ("play intro.wav") among others is not a list of clips.
        return all(_names_wav(row[0]) for row in split)
    # A header: a text dataset's has "text" (its first column may be "path", the others
    # ignored, as the JSONL branch decides); one naming no path column either ("phrase,
    # intent", or a header-less text file's first phrase) is the text loader's to refuse.
    header = {c.replace("-", "_").replace(" ", "_") for c in split[0]}
    if "text" in header:
        return False
    # A path column under a name of its own ("sound,label") is known by its cells: every
    # row below names a clip (:func:`_names_clip`).
    return bool(_PATH_COLUMNS & header) or (
        len(cells) > 1 and all(any(_names_clip(c, base) for c in row) for row in cells[1:])
    )


def _is_audio_data(path: Path) -> bool:
    """A folder (Speech Commands layout) or a list whose rows name ``.wav`` files."""
    if path.is_dir():
        return True
    suffix = path.suffix.lower()
    if suffix in _WAV_SUFFIXES:
        return True  # one recording: the audio loader says what a dataset needs
    # .tsv: a WAV list saved from a spreadsheet as tab-separated text is refused by the
    # audio loader for its suffix, not told to add a text column.
    if not path.is_file() or suffix not in (".csv", ".tsv", ".jsonl"):
        return False
    try:
        # utf-8-sig, as both loaders read: a BOM before "path" made an audio list text.
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
            if suffix == ".jsonl":
                for line in stream:
                    if line.strip():
                        row = json.loads(line)
                        # {"file": "yes/a.wav", ...} is a clip list with another key name,
                        # and so is {"sound": ...} naming a clip (as a CSV's cells). A
                        # phrase under a misspelt key, {"Text": "play a.wav"}, is text.
                        return (
                            isinstance(row, dict)
                            and "text" not in row
                            and (
                                "path" in row
                                or any(
                                    (k.strip().lower() in _PATH_COLUMNS and _names_wav(v))
                                    or _names_clip(v, path.parent)
                                    for k, v in row.items()
                                )
                            )
                        )
                return False
            rows: list[list[str]] = []
            for fields in csv.reader(stream):
                if any(f.strip() for f in fields):  # as the loader skips a blank row
                    rows.append(fields)
                if len(rows) == _SNIFF_ROWS:
                    break
            return bool(rows) and _rows_are_audio(rows, path.parent)
    except (OSError, ValueError, RecursionError, csv.Error):
        return False  # the text loader reports what is wrong with the file


def _is_text_data(path: Path) -> bool:
    return not _is_audio_data(path)


MODALITIES: dict[str, Modality] = {
    TEXT: Modality(
        name=TEXT,
        noun="intent",
        input_dtype="int32",
        features_from_dict=_lazy("tinyslm.text.features:FeatureSpec.from_dict"),
        input_shape=_text_shape,
        sniff=_is_text_data,
        fit=_lazy("tinyslm.text.fit:fit_text"),
        summary_rows=_lazy("tinyslm.text.fit:summary_rows"),
        template_context=_lazy("tinyslm.emit.text:template_context"),
        ram_bytes=_lazy("tinyslm.emit.text:ram_bytes"),
        report_page=_lazy("tinyslm.report_data:text_report_page"),
    ),
    AUDIO: Modality(
        name=AUDIO,
        noun="keyword",
        input_dtype="int8",
        features_from_dict=_lazy("tinyslm.audio.spec:KeywordSpec.from_dict"),
        input_shape=_audio_shape,
        sniff=_is_audio_data,
        fit=_lazy("tinyslm.audio.fit:fit_audio"),
        summary_rows=_lazy("tinyslm.audio.fit:summary_rows"),
        template_context=_lazy("tinyslm.emit.audio:template_context"),
        ram_bytes=_lazy("tinyslm.emit.audio:ram_bytes"),
        report_page=_lazy("tinyslm.audio.report:keyword_report_page"),
    ),
}


def modality(name: str) -> Modality:
    """The modality a manifest names.

    Raises:
        ModelError: an unknown name (a manifest from a newer tinyslm).
    """
    try:
        return MODALITIES[name]
    except KeyError:
        known = ", ".join(sorted(MODALITIES))
        raise ModelError(f"unknown modality {name!r} (known: {known})") from None


def modality_of_data(path: Path | None) -> Modality:
    """The modality of a dataset path (``None``: the bundled text demo set)."""
    if path is None or not MODALITIES[AUDIO].sniff(path):
        return MODALITIES[TEXT]
    return MODALITIES[AUDIO]


def _has_word_folders(path: Path) -> bool:
    """Whether ``path`` holds a folder with a ``.wav`` file in it (a keyword dataset's
    word folder); an unreadable folder counts as one (the loader then says why)."""
    try:
        return any(
            sub.is_dir() and any(f.suffix.lower() == ".wav" for f in sub.iterdir())
            for sub in path.iterdir()
        )
    except OSError:
        return True


def check_data_modality(path: Path, model_modality: str) -> None:
    """Refuse data of the other modality than a model's (``eval``, ``emulate --data``),
    before a loader of the wrong kind reads it and says something beside the point.

    Raises:
        DatasetError: one line naming both modalities.
    """
    kind = modality_of_data(path)
    if model_modality == TEXT and path.is_dir() and not _has_word_folders(path):
        # Any folder sniffs as audio: a model folder given as DATA (or any folder of
        # folders, report --data scratch/) was called keyword data.
        raise DatasetError(
            f"{path} is a folder without word folders of .wav files, neither keyword data "
            "nor a text dataset: give the .csv, .tsv, .jsonl or .json file"
        )
    if kind.name == TEXT and model_modality == AUDIO and path.suffix.lower() in (".csv", ".jsonl"):
        # A list the sniffer cannot read (saved as UTF-16) is not text data: say what
        # train says of it, as the text loader reads it there.
        from tinyslm.text.dataset import read_utf8

        read_utf8(path)
    if kind.name != model_modality:
        raise DatasetError(
            f"{path} holds {kind.name} data ({kind.noun}s), but this model "
            f"was trained on {model_modality} data: give it {model_modality} data"
        )


def check_extra_train(path: Path, data_modality: str) -> None:
    """Refuse ``--extra-train`` data of another modality than DATA's, before its loader
    reads a text dataset's header as a WAV list ("line 1: text does not exist").

    Raises:
        DatasetError: one line naming both modalities.
    """
    if not Path(path).exists():
        return  # the loader says it is missing, as for DATA
    kind = modality_of_data(Path(path))
    if kind.name != data_modality:
        noun = MODALITIES[data_modality].noun
        raise DatasetError(
            f"--extra-train {path} holds {kind.name} data ({kind.noun}s), but DATA is "
            f"{data_modality} data ({noun}s): give it {data_modality} data as well"
        )
