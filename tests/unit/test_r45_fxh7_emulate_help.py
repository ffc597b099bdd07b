"""Round 45: ``emulate --help`` states each engine's real ``--tflm-dir`` default.

``--native`` takes ``--tflm-dir``, else the ``tinyslm tflm fetch --target host`` cache
(:func:`tinyslm.toolchain.host.resolve_host_tree`); only ``--qemu`` falls back to the
project's ``lib/tflm`` (:func:`tinyslm.toolchain.cortex_m.resolve_cortex_m_tree`). The
help said the project's ``lib/tflm`` was the default for both.
"""

from __future__ import annotations

import re

from click.testing import CliRunner

from tinyslm.cli import cli


def _tflm_dir_help() -> str:
    result = CliRunner().invoke(cli, ["emulate", "--help"], terminal_width=2000)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    found = re.search(r"--tflm-dir PATH (.*?) --coverage", text)
    assert found, text
    return found[1]


def test_tflm_dir_help_names_each_engines_own_default() -> None:
    text = _tflm_dir_help()
    native, _, qemu = text.partition("for --qemu:")
    assert "default for --native: the 'tinyslm tflm fetch --target host' cache" in native
    assert "never the project's lib/tflm" in native
    assert qemu.strip().startswith("the project's lib/tflm where it has one, else the"), qemu
