"""The audio front end's C mirror gives exactly the features of the Python reference.

``firmware/audio/tinyslm_audio_frontend.c`` is compiled with the host compiler
(``-std=c99 -Wall -Wextra -Werror -pedantic``) together with
``tests/host/audio_frontend_driver.c``, which streams a clip through
``tinyslm_audio_frontend_feed`` in uneven chunks (1, 7, 481, 1000 samples ...) as a
microphone DMA would, and writes every frame. Those bytes must equal
``tinyslm.audio.frontend.clip_features`` of the whole clip, frame for frame:
on synthetic signals (always, no ``../shared`` needed), on real Speech Commands
clips and a long background recording (``shared/datasets/speech_commands_dev``),
and for a non-default spec (the C sources copied next to freshly rendered
headers, as a generated project will hold them). A build with a one-step
different log offset must be caught. The Cortex-M7 object is built with
``arm-none-eabi-gcc -Os -Werror`` and its size printed; linked for QEMU's
``mps2-an500`` (Cortex-M7) with ``tests/host/audio_frontend_qemu.c`` it must give
the same bytes there too, and its instructions per frame are printed
(``-icount shift=0``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from core_harness import SANITIZE_FLAGS, SANITIZER_ENV, sanitizers_work
from m7_object import CORTEX_M7_C99, build_m7_object
from shared_paths import dataset_path, missing, require_path, require_tool

from tinyslm.audio.frontend import FrontendSpec, clip_features, render_c_headers
from tinyslm.audio.wav import read_wav
from tinyslm.errors import ToolchainError
from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
FRONTEND_C = AUDIO / "tinyslm_audio_frontend.c"
DRIVER = Path(__file__).resolve().parent / "audio_frontend_driver.c"
QEMU_DRIVER = Path(__file__).resolve().parent / "audio_frontend_qemu.c"
# startup.c and the mps2-an500 linker script
QEMU_GLUE = REPO / "tinyslm" / "emulate" / "glue" / "qemu"
HOST_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
# Code plus tables of the default spec are about 3.6 KB; this catches a blow-up.
M7_BYTES_BUDGET = 6 * 1024
OTHER_SPEC = FrontendSpec(
    window_samples=400, stride_samples=160, fft_size=512, num_bins=32, lower_hz=60.0,
    upper_hz=8000.0, log_offset=300,
)  # fmt: skip


def _sources_for(spec: FrontendSpec, folder: Path) -> Path:
    """The front end's C files next to headers rendered for ``spec`` (a project's layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tinyslm_audio_frontend.c", "tinyslm_audio_frontend.h"):
        shutil.copy2(AUDIO / name, folder / name)
    for name, text in render_c_headers(spec).items():
        (folder / name).write_text(text)
    return folder


def _build(folder: Path, out: Path, extra: tuple[str, ...] = ()) -> Path:
    try:
        return ccompile.compile_executable(
            [folder / "tinyslm_audio_frontend.c", DRIVER],
            out,
            include_dirs=[folder],
            defines={"_POSIX_C_SOURCE": "199309L"},  # clock_gettime in the driver
            cflags=(*HOST_FLAGS, *extra),
        )
    except ToolchainError as exc:
        if "not found" in str(exc):
            missing(str(exc))
        raise


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sources and headers, exactly as in firmware/audio/."""
    return _build(AUDIO, tmp_path_factory.mktemp("afe") / "audio_frontend_driver")


def c_features(
    driver: Path, samples: np.ndarray, work: Path, bins: int = 40, env: dict[str, str] | None = None
) -> np.ndarray:
    raw, out = work / "in.raw", work / "out.raw"
    np.asarray(samples, dtype="<i2").tofile(raw)
    proc = subprocess.run(
        [str(driver), "stream", str(raw), str(out)],
        capture_output=True, text=True, timeout=120, check=False,
        env=None if env is None else {**os.environ, **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.fromfile(out, dtype=np.int8).reshape(-1, bins)


def synthetic_signals() -> dict[str, np.ndarray]:
    """Signals that reach every corner: full scale, silence, tones, noise, clicks."""
    rng = np.random.default_rng(1234)
    t = np.arange(16000) / 16000
    chirp = 20000 * np.sin(2 * np.pi * (100 * t + 3900 * t**2))
    square = np.where(np.sin(2 * np.pi * 440 * t) >= 0, 32767, -32768)
    return {
        "zeros": np.zeros(16000),
        "chirp": chirp,
        "chirp_quiet": chirp / 3000,
        "full_scale_square": square,
        "extremes": np.tile([32767, -32768], 8000),
        "white_noise": rng.integers(-32768, 32768, 16000),
        "quiet_noise": rng.integers(-3, 4, 16000),
        "clicks": np.where(rng.random(16000) < 0.002, 30000, 0),
        "dc": np.full(16000, -20000),
        "odd_length": rng.integers(-1000, 1000, 16000 + 333),
    }


def test_synthetic_signals_match(driver: Path, tmp_path: Path) -> None:
    for name, signal in synthetic_signals().items():
        samples = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
        expected = clip_features(samples)
        got = c_features(driver, samples, tmp_path)
        assert got.shape == expected.shape == (FrontendSpec().num_frames(len(samples)), 40), name
        assert np.array_equal(got, expected), f"{name}: {int((got != expected).sum())} differ"
    # The corners were reached: both ends of the int8 range occur.
    square = clip_features(synthetic_signals()["full_scale_square"].astype(np.int16))
    assert square.max() == 127 and clip_features(np.zeros(16000, np.int16)).min() == -128


def test_no_overflow_or_out_of_bounds_under_sanitizers(tmp_path: Path) -> None:
    # UBSan traps signed overflow: the bounds the reference's docstring claims
    # (int32 butterflies, int64 power and mel sums) hold at full scale.
    reason = sanitizers_work(tmp_path)
    if reason is not None:
        missing(reason)
    exe = _build(AUDIO, tmp_path / "drv_san", extra=SANITIZE_FLAGS)
    for name, signal in synthetic_signals().items():
        samples = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
        got = c_features(exe, samples, tmp_path, env=SANITIZER_ENV)
        assert np.array_equal(got, clip_features(samples)), name


def test_another_spec_matches(tmp_path: Path) -> None:
    exe = _build(_sources_for(OTHER_SPEC, tmp_path / "src"), tmp_path / "drv")
    rng = np.random.default_rng(7)
    t = np.arange(12345) / 16000
    samples = (8000 * np.sin(2 * np.pi * 700 * t) + rng.normal(0, 300, t.size)).astype(np.int16)
    expected = clip_features(samples, OTHER_SPEC)
    got = c_features(exe, samples, tmp_path, bins=OTHER_SPEC.num_bins)
    assert got.shape == expected.shape and np.array_equal(got, expected)


def test_a_one_step_difference_is_caught(tmp_path: Path) -> None:
    planted = FrontendSpec(log_offset=FrontendSpec().log_offset + 1)
    exe = _build(_sources_for(planted, tmp_path / "src"), tmp_path / "drv")
    samples = synthetic_signals()["white_noise"].astype(np.int16)
    got = c_features(exe, samples, tmp_path)
    expected = clip_features(samples)
    assert (got != expected).mean() > 0.9
    assert np.array_equal(got[expected > -128], expected[expected > -128] - 1)


def _real_clips() -> list[Path]:
    root = require_path(dataset_path("speech_commands_dev"), "Speech Commands dev subset")
    wavs = sorted(root.glob("*/*.wav"))
    clips = [p for p in wavs if p.parent.name != "_background_noise_"]
    # Every 25th clip of every folder (about 120), in a fixed order.
    return clips[::25]


def test_real_clips_match(driver: Path, tmp_path: Path) -> None:
    clips = _real_clips()
    assert len(clips) >= 100
    differing = []
    for path in clips:
        samples = read_wav(path)
        got = c_features(driver, samples, tmp_path)
        if not np.array_equal(got, clip_features(samples)):
            differing.append(path.name)
    assert not differing, f"{len(differing)} of {len(clips)} clips differ: {differing[:5]}"


def test_long_background_recording_streams_identically(driver: Path, tmp_path: Path) -> None:
    root = require_path(dataset_path("speech_commands_dev"), "Speech Commands dev subset")
    samples = read_wav(root / "_background_noise_" / "doing_the_dishes.wav")[: 16000 * 30]
    got = c_features(driver, samples, tmp_path)
    assert got.shape[0] == FrontendSpec().num_frames(len(samples)) > 1400
    assert np.array_equal(got, clip_features(samples))


def test_host_time_per_frame(driver: Path, tmp_path: Path) -> None:
    samples = synthetic_signals()["white_noise"].astype("<i2")
    samples.tofile(tmp_path / "in.raw")
    proc = subprocess.run(
        [str(driver), "bench", str(tmp_path / "in.raw"), "100"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    found = re.search(r"frames=(\d+) ns_per_frame=(\d+)", proc.stdout)
    assert found, proc.stdout
    print(f"\naudio front end on the host (-O2): {int(found.group(2)) / 1000:.1f} us per frame")
    # 20 ms of audio per frame: anything near that would be useless for streaming.
    assert int(found.group(1)) == 4900 and int(found.group(2)) < 2_000_000


@pytest.fixture(scope="module")
def qemu_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("arm-none-eabi-gcc", "qemu-system-arm")
    out = tmp_path_factory.mktemp("afe_m7") / "audio_frontend_qemu.elf"
    return ccompile.compile_executable(
        [QEMU_GLUE / "startup.c", QEMU_DRIVER, FRONTEND_C],
        out,
        include_dirs=[AUDIO],
        # startup.c's vector table casts the stack address (not ISO C): no -pedantic here.
        cflags=[f for f in CORTEX_M7_C99 if f != "-pedantic"],
        ldflags=(
            f"-T{QEMU_GLUE / 'mps2_an500.ld'}",
            "-nostartfiles",
            "--specs=nosys.specs",
            "-Wl,--gc-sections",
        ),
        cc=["arm-none-eabi-gcc"],
    )


def qemu_features(image: Path, samples: np.ndarray, work: Path) -> tuple[np.ndarray, int, int]:
    """Frames from the Cortex-M7 build, and (frames, instructions) spent in the front end."""
    work.mkdir(parents=True, exist_ok=True)
    np.asarray(samples, dtype="<i2").tofile(work / "in.raw")
    cmd = [
        "qemu-system-arm", "-machine", "mps2-an500", "-cpu", "cortex-m7",
        "-icount", "shift=0,sleep=off", "-display", "none", "-monitor", "none",
        "-nodefaults", "-semihosting-config", "enable=on,target=native", "-kernel", str(image),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    stats = dict(kv.split("=") for kv in (work / "stats.txt").read_text().split())
    # The calibration loop is exactly 2,000,000 instructions.
    instructions = int(stats["ticks"]) * 2_000_000 // int(stats["calibration"])
    frames = np.fromfile(work / "out.raw", dtype=np.int8).reshape(-1, 40)
    return frames, int(stats["frames"]), instructions


def test_cortex_m7_on_qemu_matches_and_its_cost(qemu_image: Path, tmp_path: Path) -> None:
    synthetic = np.concatenate(
        [np.clip(np.round(s), -32768, 32767) for s in synthetic_signals().values()]
    ).astype(np.int16)
    got, frames, _ = qemu_features(qemu_image, synthetic, tmp_path / "synthetic")
    expected = clip_features(synthetic)
    assert frames == len(got) == len(expected) > 400
    assert np.array_equal(got, expected)

    root = dataset_path("speech_commands_dev")
    if not root.is_dir():
        missing(f"Speech Commands dev subset not found at {root}")
    real = np.concatenate([read_wav(p) for p in _real_clips()[:30]])
    got, frames, instructions = qemu_features(qemu_image, real, tmp_path / "real")
    assert np.array_equal(got, clip_features(real))
    per_frame = instructions / frames
    share = per_frame * 50 / 480e6  # 50 frames per second of audio, 480 MHz, 1 per cycle
    print(
        f"\naudio front end on Cortex-M7 (QEMU, -Os): {per_frame:.0f} instructions per frame,"
        f" {per_frame * 50 / 1e6:.2f} M per second of audio (~{100 * share:.1f} % of 480 MHz)"
    )
    assert per_frame < 250_000  # 12.5 M per second of audio: under 3 % of the core


def test_header_is_usable_from_the_cxx_firmware(tmp_path: Path) -> None:
    # The board's main.cc (C++17, no exceptions or RTTI) will own the front end's state.
    require_tool("arm-none-eabi-g++")
    src = tmp_path / "use.cc"
    src.write_text(
        '#include "tinyslm_audio_frontend.h"\n'
        "static tinyslm_audio_frontend_t fe;\n"
        "int use(const int16_t *s, size_t n, int8_t *out) {\n"
        "  int produced = 0;\n"
        "  tinyslm_audio_frontend_reset(&fe);\n"
        "  return static_cast<int>(tinyslm_audio_frontend_feed(&fe, s, n, out, &produced));\n"
        "}\n"
    )
    flags = [f for f in CORTEX_M7_C99 if f != "-std=c99"]
    flags += ["-std=c++17", "-fno-exceptions", "-fno-rtti"]
    ccompile.compile_object(
        src, tmp_path / "use.o", include_dirs=[AUDIO], flags=flags, compiler=["arm-none-eabi-g++"]
    )


def test_cortex_m7_build_and_size(tmp_path: Path) -> None:
    obj = build_m7_object(FRONTEND_C, tmp_path / "fe_m7.o", [AUDIO])
    print(f"\naudio front end on Cortex-M7 -Os: .text {obj.text} B, .rodata {obj.rodata} B")
    assert obj.text > 0 and obj.text + obj.rodata < M7_BYTES_BUDGET
    assert obj.static == 0  # all state is the caller's tinyslm_audio_frontend_t
    # No soft-float or division helpers: integer maths the M7 does natively.
    assert obj.undefined <= {"memset", "memcpy", "memmove"}, obj.undefined
