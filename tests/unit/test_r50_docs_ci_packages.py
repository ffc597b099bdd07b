"""The README's list of the Debian packages `.ci/run` installs is `.ci/run`'s own list
(cmake was added to the script and not to the README, so a machine set up from the
README skipped the cmake test locally and failed it in CI mode)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def ci_packages(script: str) -> set[str]:
    """The packages of the `packages=(...)` array, less its comments."""
    found = re.search(r"^packages=\(([^)]*)\)", script, flags=re.MULTILINE)
    assert found is not None, ".ci/run no longer has a packages=(...) array"
    return set(re.sub(r"#[^\n]*", "", found.group(1)).split())


def readme_packages(readme: str) -> set[str]:
    """The backticked list that follows "`.ci/run` installs the tools on Debian"."""
    found = re.search(r"`\.ci/run` installs the tools on Debian \(`([^`]*)`", readme)
    assert found is not None, "the README no longer lists the packages .ci/run installs"
    return set(found.group(1).split())


def test_the_readme_lists_exactly_the_packages_ci_run_installs() -> None:
    script = REPO.joinpath(".ci", "run").read_text(encoding="utf-8")
    readme = REPO.joinpath("README.md").read_text(encoding="utf-8")
    assert readme_packages(readme) == ci_packages(script)


def test_the_parsers_read_every_name() -> None:
    assert ci_packages("x\npackages=(gcc g++\n  # why\n  cmake)\n") == {"gcc", "g++", "cmake"}
    readme = "`.ci/run` installs the tools on Debian (`gcc\ng++ cmake`, plus"
    assert readme_packages(readme) == {"gcc", "g++", "cmake"}
