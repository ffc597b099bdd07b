"""The generated PlatformIO extra script ``tinyslm_hardfloat.py`` is run, not only read.

PlatformIO runs it (``extra_scripts``, a post script: after ``BuildProgram`` has turned
``build_flags`` into ``CCFLAGS``) to give the link step the compiler's FPU and float-ABI
flags. ``tinyslm.toolchain.stm32_image.platformio_envs`` does not run it: it models its
effect (``linkflags`` = the framework's LINKFLAGS plus the ``-mfpu=``/``-mfloat-abi=``
flags of ``build_flags``), and the STM32 image the tests link uses that model. Here the
rendered script is executed with a stand-in SCons environment offering exactly what it
uses (``Import("env")``, ``env["CCFLAGS"]``, ``env.Append(LINKFLAGS=...)``) and nothing
else, and its effect must be the model's: a script that copies other flags, drops these,
or reaches for another SCons call fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tinyslm.pipeline import run_generate
from tinyslm.toolchain import stm32_image

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
SCRIPT = "tinyslm_hardfloat.py"


class FakeSConsEnv:
    """The construction environment, as much of it as the script may touch."""

    __slots__ = ("_vars", "appended")

    def __init__(self, **variables: list[Any]) -> None:
        self._vars = variables
        self.appended: list[dict[str, list[Any]]] = []

    def __getitem__(self, key: str) -> list[Any]:
        return self._vars[key]

    def Append(self, **kw: list[Any]) -> None:  # SCons' name
        self.appended.append(kw)
        for key, values in kw.items():
            self._vars.setdefault(key, []).extend(values)

    def snapshot(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self._vars.items()}


def _run_script(text: str, env: FakeSConsEnv) -> list[tuple[str, ...]]:
    """Execute the script as SCons does (its ``Import`` puts ``env`` in the script's
    namespace); return the ``Import`` calls."""
    imports: list[tuple[str, ...]] = []
    namespace: dict[str, Any] = {"__name__": "SCons.Script", "__file__": SCRIPT}

    def scons_import(*names: str) -> None:
        imports.append(names)
        for name in names:
            assert name == "env", f"the script imports {name!r}, which the fake does not offer"
            namespace[name] = env

    namespace["Import"] = scons_import
    exec(compile(text, SCRIPT, "exec"), namespace)  # the generated script
    return imports


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hardfloat") / "p"
    run_generate("stm32h7", root, model_dir=FIXTURE_MODEL)
    # platformio_envs reads lib/tflm's own flags (written by --tflm-dir): none here.
    lib = root / "lib" / "tflm"
    if not (lib / "library.json").is_file():
        lib.mkdir(parents=True, exist_ok=True)
        (lib / "library.json").write_text(json.dumps({"build": {"flags": []}}))
    return root


def test_the_extra_script_does_what_the_image_build_assumes(project: Path, tmp_path: Path) -> None:
    envs = stm32_image.platformio_envs(project, tmp_path / "no_sdk", None)
    ini = (project / "platformio.ini").read_text(encoding="utf-8")
    assert f"extra_scripts =\n    {SCRIPT}\n" in ini  # a post script (no "pre:")
    # CCFLAGS as a post script finds them: build_flags' then the framework's (what
    # platformio_envs composes), with a non-string entry SCons allows ("-include" pairs).
    ccflags: list[Any] = [*envs.src.ccflags, ("-include", "stand_in.h")]
    assert "-mfloat-abi=hard" in ccflags and "-mfpu=fpv5-d16" in ccflags
    env = FakeSConsEnv(CCFLAGS=list(ccflags), LINKFLAGS=list(stm32_image.FRAMEWORK_LINKFLAGS))
    before = env.snapshot()

    imports = _run_script((project / SCRIPT).read_text(encoding="utf-8"), env)

    assert imports == [("env",)]
    after = env.snapshot()
    # Its only effect: LINKFLAGS become the model's link flags, nothing else changes.
    assert after["LINKFLAGS"] == list(envs.linkflags)
    assert after["LINKFLAGS"][len(stm32_image.FRAMEWORK_LINKFLAGS) :] == [
        "-mfpu=fpv5-d16",
        "-mfloat-abi=hard",
    ]
    assert {k: v for k, v in after.items() if k != "LINKFLAGS"} == {
        k: v for k, v in before.items() if k != "LINKFLAGS"
    }
    assert [sorted(kw) for kw in env.appended] == [["LINKFLAGS"]]


def test_without_the_script_the_model_adds_nothing(project: Path, tmp_path: Path) -> None:
    """The model's flags hang on the script being named in platformio.ini."""
    ini = project / "platformio.ini"
    text = ini.read_text(encoding="utf-8")
    ini.write_text(text.replace(f"extra_scripts =\n    {SCRIPT}\n", ""), encoding="utf-8")
    try:
        envs = stm32_image.platformio_envs(project, tmp_path / "no_sdk", None)
    finally:
        ini.write_text(text, encoding="utf-8")
    assert envs.linkflags == stm32_image.FRAMEWORK_LINKFLAGS
