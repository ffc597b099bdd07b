"""The project's action hooks: ``src/tinyslm_actions.c``, the one source that is the user's.

The board glue calls ``tinyslm_actions_init`` once and ``tinyslm_on_answer`` (text) or
``tinyslm_on_keyword`` (keywords) after every answer or detection line
(``src/tinyslm_actions.h``, generated). A firmware engineer's reason to own a
keyword spotter is what the board does when it hears a word, and that code must
survive regenerating the project for a new model. So ``generate`` writes a starter
``src/tinyslm_actions.c`` (compiling, doing nothing, with the model's labels and a
commented example) only where the file is missing, never records it as its own, and
so never replaces or prunes it (:func:`tinyslm.outdir.write_tree`'s ``starters``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinyslm.emit.carrays import c_string
from tinyslm.emit.render import TEMPLATE_SUFFIX, render
from tinyslm.resources import templates_dir

ACTIONS_SOURCE = "tinyslm_actions.c"
# The hook the board glue calls after each line (src/tinyslm_actions.h), per modality;
# each starter defines its own (tests/unit/test_emit.py checks the templates).
HOOKS = {"text": "tinyslm_on_answer", "audio": "tinyslm_on_keyword"}
# templates/starters/<modality>/: not a template layer, so nothing there is generated.
STARTERS = "starters"


def action_context(labels: Sequence[str]) -> dict[str, Any]:
    """The starter's list of labels (C string literals, safe in a ``//`` comment) and
    the label of its example (the first; empty when there is none)."""
    quoted = [c_string(x) for x in labels]
    return {"labels": quoted, "example": quoted[0] if quoted else c_string("")}


def starter_header(board_id: str, version: str) -> str:
    """The starter's first lines: who wrote it, and that it is not regenerated."""
    return f"// Written by tinyslm {version} for board {board_id} as a start; this file is yours.\n"


def _starter_templates(modality_name: str, templates: Path | None) -> dict[str, str]:
    """Output path -> template name under ``templates/starters/<modality>/``."""
    base = (templates or templates_dir()) / STARTERS / modality_name
    if not base.is_dir():
        # main.cc calls the actions: a project without them would not link on the board.
        raise FileNotFoundError(f"template folder {base} is missing")
    out = {}
    for path in sorted(base.rglob("*" + TEMPLATE_SUFFIX)):
        rel = path.relative_to(base).as_posix()
        out[rel[: -len(TEMPLATE_SUFFIX)]] = f"{STARTERS}/{modality_name}/{rel}"
    return out


def starter_paths(modality_name: str, templates: Path | None = None) -> tuple[str, ...]:
    """The project paths of the modality's starters (``src/tinyslm_actions.c``)."""
    return tuple(_starter_templates(modality_name, templates))


def render_starters(
    modality_name: str, context: dict[str, Any], templates: Path | None, version: str
) -> dict[str, bytes]:
    """``src/...`` path -> bytes of the user's starter files for the modality."""
    board_id = str(context["board"]["id"])
    return {
        path: (starter_header(board_id, version) + render(name, context, templates)).encode()
        for path, name in _starter_templates(modality_name, templates).items()
    }


# The starter's example code is commented out line by line with this prefix, so that
# deleting it gives code the host tests compile (tests/host: the STM32H7 image, ESP-IDF).
EXAMPLE_PREFIX = "//> "


def with_example(starter: str) -> str:
    """The starter with its example lines uncommented (what a user gets by deleting ``//> ``)."""
    return "\n".join(
        line.replace(EXAMPLE_PREFIX, "", 1) if line.lstrip().startswith(EXAMPLE_PREFIX) else line
        for line in starter.split("\n")
    )


def missing_hooks(project: Path, modality_name: str, templates: Path | None = None) -> list[str]:
    """Starters kept in ``project`` (the user's) that do not define the modality's hook.

    A project regenerated for a model of the other modality keeps its old
    ``src/tinyslm_actions.c`` (it is never replaced), whose hook the new ``main.cc`` does
    not call, and the one it calls is then undefined: the board build fails at the link.
    """
    hook = re.compile(rf"\b{HOOKS[modality_name]}\s*\(")
    out = []
    for rel in starter_paths(modality_name, templates):
        path = project / rel
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not hook.search(text):
            out.append(rel)
    return out
