"""Bundle the top-level templates/, boards/ and firmware/ folders into the wheel.

They live at the repository root (where firmware engineers look for them), but an
installed tinyslm must find them too, so the build copies them into
``tinyslm/_bundled/``; ``tinyslm.resources`` looks there first.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("templates", "boards", "firmware")
# Hand-written firmware folders below firmware/ (tinyslm.resources.firmware_files
# reads common/ plus one modality's folder); tests/integration/test_packaging.py
# checks that this lists every one of them.
FIRMWARE_SUBDIRS = ("common", "text", "audio")


class BuildPyWithResources(build_py):
    def run(self) -> None:
        # build/ outlives a `pip install .` in the checkout, and build_py only adds to it:
        # a module deleted since would still ship in the next wheel. Only a build folder's
        # copy goes: `--build-lib .` (or -d) names the sources themselves.
        built = Path(self.build_lib).resolve() / "tinyslm"
        if built != ROOT / "tinyslm" and (built / "_bundled").is_dir():
            shutil.rmtree(built)
        super().run()
        for name in BUNDLED:
            src = ROOT / name
            dst = Path(self.build_lib) / "tinyslm" / "_bundled" / name
            if dst.exists():
                shutil.rmtree(dst)
            if name == "firmware":
                # Only the hand-written sources (the folders in FIRMWARE_SUBDIRS):
                # other sub-folders are generated projects.
                for folder in FIRMWARE_SUBDIRS:
                    (dst / folder).mkdir(parents=True, exist_ok=True)
                    for f in sorted((src / folder).iterdir()):
                        if f.is_file() and f.suffix in {".c", ".h", ".cc"}:
                            shutil.copy2(f, dst / folder / f.name)
            else:
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithResources})
