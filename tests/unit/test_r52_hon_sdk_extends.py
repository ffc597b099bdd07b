"""An env's ``extends`` is followed for its sdkconfig path (round 52 audit of 77ef5da).

``tinyslm.toolchain.sdkconfig._env_option`` resolves ``board_build.esp-idf.sdkconfig_path``
through the sections an env ``extends`` before the common ``[env]``, as PlatformIO does.
The round-51 unit test's extending env ended on the same file as ``[env]``'s (named once
with another env's), so with the ``extends`` lookup deleted every sdkconfig unit test
still passed: a build whose env extends one naming its own configuration would have
checked ``[env]``'s file (or ``sdkconfig.<env>``) and said nothing of the file it builds
with.
"""

from __future__ import annotations

from pathlib import Path

from tinyslm.toolchain.sdkconfig import pio_configs

PATH = "board_build.esp-idf.sdkconfig_path"


def test_an_extending_env_takes_the_path_of_the_env_it_extends_over_envs(
    tmp_path: Path,
) -> None:
    ini = (
        "[platformio]\ndefault_envs = dev\n"
        f"[env]\n{PATH} = common.cfg\n"
        f"[env:base]\n{PATH} = base.cfg\n"
        "[env:dev]\nextends = env:base\n"
    )
    assert pio_configs(tmp_path, ini) == [tmp_path / "base.cfg"]


def test_an_extending_env_without_a_path_anywhere_is_its_own_sdkconfig(tmp_path: Path) -> None:
    ini = "[platformio]\ndefault_envs = dev\n[env:base]\n[env:dev]\nextends = env:base\n"
    assert pio_configs(tmp_path, ini) == [tmp_path / "sdkconfig.dev"]


def test_its_own_path_wins_over_the_one_it_extends(tmp_path: Path) -> None:
    ini = (
        "[platformio]\ndefault_envs = dev\n"
        f"[env:base]\n{PATH} = base.cfg\n"
        f"[env:dev]\nextends = env:base\n{PATH} = dev.cfg\n"
    )
    assert pio_configs(tmp_path, ini) == [tmp_path / "dev.cfg"]
