"""Round 52 (F1 #2b): the log level build and flash judge is the one the build takes.

The build's log level is the choice's member set ``y``; the int beside it
(``CONFIG_LOG_DEFAULT_LEVEL=N``) has no prompt, so kconfgen derives it again and ignores the
file's. A file whose int and member disagree was judged by the int: a quieter member was
warned of on every build, and so was a file that leaves the choice to sdkconfig.defaults.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_paths import require_path, sdk_path

from tinyslm.toolchain.sdkconfig import (
    LEVEL_NAMES,
    WARN_LEVEL,
    Stale,
    parse_sdkconfig,
    required,
    stale_options,
)

APP_WARN = Stale("CONFIG_LOG_DEFAULT_LEVEL_WARN", "n", "y")
DEFAULTS = "CONFIG_UART_ISR_IN_IRAM=y\nCONFIG_LOG_DEFAULT_LEVEL_WARN=y\n"


def _needed(tmp_path: Path, config_text: str) -> list[tuple[Path, tuple[Stale, ...]]]:
    (tmp_path / "sdkconfig.defaults").write_text(DEFAULTS)
    config = tmp_path / "sdkconfig.x"
    config.write_text(config_text)
    return stale_options(tmp_path, [config], needed=True)


def test_a_quieter_member_is_not_warned_of_whatever_the_int_says(tmp_path: Path) -> None:
    """Before: 'CONFIG_LOG_DEFAULT_LEVEL_WARN unset' warned of on every build, though the
    build takes ERROR (the int 3 is a hand edit kconfgen ignores)."""
    quiet = (
        "CONFIG_LOG_DEFAULT_LEVEL_ERROR=y\n# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\n"
        "CONFIG_LOG_DEFAULT_LEVEL=3\n"
    )
    assert _needed(tmp_path, quiet) == []
    # And a louder member is warned of whatever the int says.
    loud = quiet.replace("LEVEL_ERROR=y", "LEVEL_INFO=y").replace("LEVEL=3", "LEVEL=1")
    assert [s for _, found in _needed(tmp_path, loud) for s in found] == [APP_WARN]


def test_a_file_that_sets_no_member_leaves_the_defaults_level(tmp_path: Path) -> None:
    """kconfiglib cannot unset a selected member: with no member set y, sdkconfig.defaults'
    WARN stands. Before: warned of (the int named ERROR, which was not set)."""
    text = "# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\nCONFIG_LOG_DEFAULT_LEVEL=1\n"
    assert _needed(tmp_path, text) == []


def test_the_member_set_last_is_the_level(tmp_path: Path) -> None:
    """Two members set y (a hand edit): kconfiglib takes the last. Before: both warned of."""
    both = "CONFIG_LOG_DEFAULT_LEVEL_{}=y\nCONFIG_LOG_DEFAULT_LEVEL_{}=y\n"
    unset = "# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\n"
    assert _needed(tmp_path, unset + both.format("INFO", "ERROR")) == []
    assert len(_needed(tmp_path, unset + both.format("ERROR", "INFO"))) == 1
    # Set again later: the later place counts (parse_sdkconfig keeps the last one's).
    again = both.format("ERROR", "INFO") + "CONFIG_LOG_DEFAULT_LEVEL_ERROR=y\n"
    assert _needed(tmp_path, unset + again) == []
    assert list(parse_sdkconfig(again)) == [
        "CONFIG_LOG_DEFAULT_LEVEL_INFO",
        "CONFIG_LOG_DEFAULT_LEVEL_ERROR",
    ]


CASES = [
    f"CONFIG_LOG_DEFAULT_LEVEL_{member}=y\n# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\n"
    f"CONFIG_LOG_DEFAULT_LEVEL={n}\n"
    for member in ("NONE", "ERROR", "INFO", "DEBUG", "VERBOSE")
    for n in range(6)
] + [
    "# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\nCONFIG_LOG_DEFAULT_LEVEL=1\n",
    "CONFIG_LOG_DEFAULT_LEVEL_INFO=y\nCONFIG_LOG_DEFAULT_LEVEL_ERROR=y\n"
    "# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\n",
    "CONFIG_LOG_DEFAULT_LEVEL_ERROR=y\nCONFIG_LOG_DEFAULT_LEVEL_INFO=y\n"
    "# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\n",
]


def test_the_warning_follows_kconfiglib_on_esp_idf_5_3_1s_kconfig(tmp_path: Path) -> None:
    """What the build does, asked of the build's own tool: kconfiglib (esp-idf-kconfig, as
    kconfgen runs it: sdkconfig.defaults, then the configuration, neither replacing) on
    ESP-IDF 5.3.1's components/log/Kconfig. Warned of exactly where the level it takes is
    louder than WARN."""
    kconfiglib = pytest.importorskip("kconfiglib")
    idf = require_path(sdk_path("esp-idf-5.3.1"), "ESP-IDF 5.3.1 tree")
    kconfig = idf / "components" / "log" / "Kconfig"
    (tmp_path / "sdkconfig.defaults").write_text(DEFAULTS)
    config = tmp_path / "sdkconfig.x"
    for text in CASES:
        config.write_text(text)
        kconf = kconfiglib.Kconfig(str(kconfig), warn=False)
        kconf.load_config(str(tmp_path / "sdkconfig.defaults"), replace=False)
        kconf.load_config(str(config), replace=False)
        level = int(kconf.syms["LOG_DEFAULT_LEVEL"].str_value)
        assert LEVEL_NAMES[level] in kconf.named_choices["LOG_DEFAULT_LEVEL"].selection.name
        warned = stale_options(tmp_path, [config], needed=True) != []
        assert warned == (level > WARN_LEVEL), (text, level)


def test_required_without_a_configuration_still_warns() -> None:
    assert required((APP_WARN,)) == (APP_WARN,)
    assert required((APP_WARN,), None) == (APP_WARN,)
