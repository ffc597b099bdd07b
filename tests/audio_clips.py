"""Tiny keyword datasets for the audio loader's tests: 0.1 s clips of noise, one folder a
word, 30 ``spk<nn>_nohash_0.wav`` speakers a folder (enough for every split)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyslm.audio.wav import write_wav

WIN = 1600  # a 0.1 s window keeps the files tiny


def word_folders(root: Path, *words: str, seed: int = 0) -> Path:
    """``root`` holding a folder of 30 clips for each of ``words``; every clip its own
    recording (one seeded draw for all of them: the same clip under two labels is
    refused)."""
    rng = np.random.default_rng(seed)
    for word in words:
        (root / word).mkdir(parents=True)
        for s in range(30):
            clip = rng.integers(-3000, 3001, WIN).astype(np.int16)
            write_wav(root / word / f"spk{s:02d}_nohash_0.wav", clip)
    return root
