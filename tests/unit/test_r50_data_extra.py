"""Round 50: --extra-train's copy checks hash each clip once (they hashed an extra set's
clips three times beside its own load's pass), and an extra set's ``_unknown_`` clips are
capped with the training split they join, not against the set's own largest keyword
(which halved ``tinyslm synth``'s default output)."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_audio_dataset import CFG, SPEAKERS, UNKNOWN, make_folder, tone

import tinyslm.audio.dataset as ds
from tinyslm.audio.dataset import AudioDataset, load_audio_dataset, load_training_clips
from tinyslm.audio.wav import write_wav

SILENT = np.zeros(300, dtype=np.int16)
WIN_LONG = 5 * CFG.window_samples  # longer than the 3 windows a clip may have


def _mixed(tmp: Path) -> AudioDataset:
    """DATA and two extra sets with every kind of copy: of DATA's training clips, of the
    set's own clips, of an earlier set's, and silent takes (never copies)."""
    data = load_audio_dataset(
        make_folder(tmp / "d", {"yes": SPEAKERS, "no": SPEAKERS, UNKNOWN: SPEAKERS[:6]}), CFG
    )
    x1 = make_folder(tmp / "x1", {"yes": ["tts1", "tts2"], "no": ["tts3"], UNKNOWN: ["tts1"]}, 0, 1)
    trained = next(c for c in data.clips if c.label == "yes" and c.split == "train")
    shutil.copyfile(tmp / "d" / trained.source, x1 / "yes" / "copy.wav")
    shutil.copyfile(x1 / "no" / "tts3_nohash_0.wav", x1 / "no" / "again.wav")
    write_wav(x1 / "no" / "quiet.wav", SILENT)
    write_wav(x1 / "yes" / "quiet.wav", SILENT[:200])
    x2 = make_folder(tmp / "x2", {"yes": ["tts9"]}, 0, 2)
    shutil.copyfile(x1 / "yes" / "tts1_nohash_0.wav", x2 / "yes" / "from_x1.wav")
    return load_training_clips(x2, load_training_clips(x1, data))


def test_extra_sets_load_as_before_with_one_digest_a_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest, read = ds._clip_digest, ds.read_wav
    hashed: Counter[int] = Counter()
    reads: Counter[str] = Counter()
    alive: list[Any] = []  # keeps each hashed array, so no id is reused

    def counted_digest(samples: Any) -> bytes:
        alive.append(samples)
        hashed[id(samples)] += 1
        return digest(samples)

    def counted_read(path: Any) -> Any:
        reads[str(path)] += 1
        return read(path)

    monkeypatch.setattr(ds, "_clip_digest", counted_digest)
    monkeypatch.setattr(ds, "read_wav", counted_read)
    mixed = _mixed(tmp_path)
    # Before: 4 to 7 digests of one clip (DATA's load had three copy checks, a set's load
    # one, and each set's checks hashed DATA's clips and its own again).
    assert hashed and max(hashed.values()) == 1, Counter(hashed.values())
    assert reads and max(reads.values()) == 1
    # The same dataset as before the change (pinned with the round-49 loader).
    h = hashlib.sha256()
    for c in mixed.clips:
        h.update(f"{c.label}\t{c.split}\t{c.speaker}\t{c.source}\n".encode())
        h.update(c.samples.tobytes())
    assert (len(mixed.clips), mixed.extra_clips) == (48, 11)
    assert h.hexdigest() == "8e8bed42a541511b9e0861e470b57d3f9ac9bc446f4f6243e4f758d13f57538e"
    x1, x2 = tmp_path / "x1", tmp_path / "x2"
    end = "; each is read once (a repeat adds only weight)"
    assert mixed.warnings == (
        # Round 52: its silent takes are said (a word's clip without sound).
        f"{x1}: 2 clip(s) of words hold no sound (every sample the same; first:"
        " no/quiet.wav), so they are no recording of their label: a muted microphone or a"
        " failed conversion? remove them (silence belongs in _silence_/ or"
        " _background_noise_/)",
        f"{x1}: 2 of its clips are recordings training already has (1 from {tmp_path / 'd'}'s"
        " training clips, 1 from itself; first: x1/no/tts3_nohash_0.wav = x1/no/again.wav)" + end,
        f"{x2}: 1 of its clips are recordings an earlier --extra-train set added (first:"
        " x2/yes/from_x1.wav = x1/yes/tts1_nohash_0.wav)" + end,
    )


def test_a_silent_take_is_no_copy_and_a_moved_clip_keeps_its_digest(tmp_path: Path) -> None:
    mixed = _mixed(tmp_path)
    quiet = [c for c in mixed.clips if c.source.endswith("quiet.wav")]
    assert len(quiet) == 2 and all(c.digest is None for c in quiet)
    for clip in mixed.clips[len(mixed.clips) - mixed.extra_clips :]:
        assert clip.digest == (None if clip in quiet else ds._clip_digest(clip.samples))


# --- 2. the _unknown_ cap of an extra set is the combined training split's ---------------


def _list_data(root: Path, train: int, unknown: int) -> AudioDataset:
    """DATA as a list: ``train`` training clips of yes and of no (2 val, 2 test each) and
    ``unknown`` training ``_unknown_`` clips (1 val, 1 test)."""
    root.mkdir(parents=True)
    rows = ["path,label,split"]
    seed = 0
    for label, n_train, n_held in (("yes", train, 2), ("no", train, 2), (UNKNOWN, unknown, 1)):
        for split, n in (("train", n_train), ("val", n_held), ("test", n_held)):
            for i in range(n):
                seed += 1
                name = f"{label.strip('_')}{split}{i}.wav"
                write_wav(root / name, tone(seed=5000 + seed))
                rows.append(f"{name},{label},{split}")
    (root / "list.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return load_audio_dataset(root / "list.csv", CFG)


def _synth_like(root: Path, voices: int, take: int = 0) -> Path:
    """``tinyslm synth yes no``'s layout and default counts: 3 clips of each keyword and 6
    ``_unknown_`` clips (of 3 words) a voice; ``take``: other recordings."""
    for word in ("yes", "no", UNKNOWN):
        (root / word).mkdir(parents=True)
    seed = 1000 * take
    for v in range(voices):
        for word in ("yes", "no"):
            for n in range(3):
                seed += 1
                write_wav(root / word / f"v{v}_nohash_{n}.wav", tone(seed=9000 + seed))
        for n in range(6):
            seed += 1
            name = f"w{n % 3}_v{v}_nohash_{n}.wav"
            write_wav(root / UNKNOWN / name, tone(seed=9000 + seed))
    return root


def _unknown_added(mixed: AudioDataset) -> int:
    added = mixed.clips[len(mixed.clips) - mixed.extra_clips :]
    return sum(c.label == UNKNOWN for c in added)


def test_synths_default_unknown_clips_all_join_a_split_with_room(tmp_path: Path) -> None:
    """DATA's 10 yes and 10 no training clips beside 4 unknown ones: with 2 voices' 6 + 6
    keyword clips, training's largest keyword has 16, so the set's 12 unknown clips (16 in
    all) are one class among the keywords. The set's own cap (6, its largest keyword) kept
    half of them, with a warning."""
    data = _list_data(tmp_path / "d", train=10, unknown=4)
    mixed = load_training_clips(_synth_like(tmp_path / "syn", voices=2), data)
    assert _unknown_added(mixed) == 12
    assert not any("more" in w and UNKNOWN in w for w in mixed.warnings), mixed.warnings


def test_the_cap_counts_the_unknown_clips_training_already_has(tmp_path: Path) -> None:
    data = _list_data(tmp_path / "d", train=10, unknown=8)
    syn = _synth_like(tmp_path / "syn", voices=2)
    mixed = load_training_clips(syn, data)
    # 16 of the largest keyword, 8 unknown clips already: room for 8 of the 12.
    assert _unknown_added(mixed) == 8
    kept = [c for c in mixed.clips if c.label == UNKNOWN and c.source.startswith("syn/")]
    assert {c.source.split("/")[-1].split("_")[0] for c in kept} == {"w0", "w1", "w2"}
    assert (
        f"{syn}: {UNKNOWN} would have more training clips than the largest keyword (this"
        " set's clips with DATA's training split and any earlier --extra-train set's): kept"
        " 8 of 12 in train (a seeded draw over its words), so that it is one class among the"
        " keywords"
    ) in mixed.warnings
    # A second set counts the first's: 19 of the largest keyword, 16 unknown: room for 3.
    again = load_training_clips(_synth_like(tmp_path / "syn2", voices=1, take=1), mixed)
    assert _unknown_added(again) - _unknown_added(mixed) == 3
    assert Counter(c.label for c in again.split("train")) == {"yes": 19, "no": 19, UNKNOWN: 19}


def test_a_silence_folder_sets_no_unknown_cap(tmp_path: Path) -> None:
    """A ``_silence_/`` folder's clips are no keyword: 20 of them beside keywords of 3 clips
    let 14 ``_unknown_`` clips into training uncapped."""
    speakers = [s for s in SPEAKERS if ds.which_set(s, 10, 10) == "train"]
    assert len(speakers) >= 10
    root = make_folder(tmp_path / "d", {"yes": speakers[:2], "no": speakers[:2]})
    for folder, n in (("_silence_", 20), (UNKNOWN, 14)):
        (root / folder).mkdir()
        for i in range(n):
            prefix = f"w{i % 2}_" if folder == UNKNOWN else ""
            write_wav(
                root / folder / f"{prefix}{speakers[i % 10]}_nohash_{i}.wav", tone(seed=i + 77 * n)
            )
    data = load_audio_dataset(root, CFG)
    assert Counter(c.label for c in data.split("train"))[UNKNOWN] == 3
    assert any("kept 3 of 14 in train" in w for w in data.warnings), data.warnings


# --- 3. what an extra set holds that training does not take is not read ------------------


def test_an_extra_sets_unused_recordings_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its background recordings and ``_silence_`` clips are not used for training; a
    recording shorter than the window, or a _silence_ clip longer than 3 windows, refused
    the whole set, and each was read for nothing."""
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    extra = make_folder(tmp_path / "x", {"yes": ["a"], "no": ["b"]}, 0, 1)
    for folder, samples in ((ds.NOISE, tone(400)), (ds.SILENCE, tone(WIN_LONG, seed=3))):
        (extra / folder).mkdir()
        write_wav(extra / folder / "take.wav", samples)
    read = ds.read_wav
    reads: list[str] = []
    monkeypatch.setattr(ds, "read_wav", lambda p: reads.append(Path(p).parent.name) or read(p))
    mixed = load_training_clips(extra, data)
    assert not {ds.NOISE, ds.SILENCE} & set(reads), reads
    assert mixed.extra_clips == 4 and mixed.noise == data.noise
    assert mixed.warnings == (
        f"{extra}: its {ds.NOISE} recordings are not used for training",
        f"{extra}: its 1 {ds.SILENCE} clip(s) are not used for training",
    )
