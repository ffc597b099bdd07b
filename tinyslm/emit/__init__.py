"""Emit a firmware project: C arrays, the op list, the one Jinja environment.

``project.render_project`` turns a board, a manifest and the model bytes into
file contents (pure, deterministic); ``tinyslm.outdir.write_tree`` puts them on
disk so that a failure leaves nothing behind.
"""

from tinyslm.emit.project import (
    GeneratedFile,
    ProjectPlan,
    arena_size_for,
    check_budget,
    render_project,
)

__all__ = [
    "GeneratedFile",
    "ProjectPlan",
    "arena_size_for",
    "check_budget",
    "render_project",
]
