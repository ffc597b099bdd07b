"""The exceptions tinyslm raises on bad input or a failed stage.

The CLI turns every ``TinySlmError`` into one line on stderr and exit code 1;
anything else is a bug and keeps its traceback.
"""


class TinySlmError(Exception):
    """A problem the user can fix: the message is shown as one line."""


class DatasetError(TinySlmError):
    """The dataset is missing, malformed, empty or unusable for training."""


class ModelError(TinySlmError):
    """A model file or manifest is missing, corrupt or unsupported."""


class BoardError(TinySlmError):
    """An unknown board, a board file that fails its schema, or a budget overrun."""


class BudgetError(BoardError):
    """The model and arena do not fit the board's flash or RAM budget."""


class OutputError(TinySlmError):
    """The output folder cannot be written."""


class OutputExistsError(OutputError):
    """The output folder is in use: not empty without --force, or not tinyslm's to replace."""


class ToolchainError(TinySlmError):
    """An external tool (pio, a compiler, TFLM sources, the network) is missing or failed."""


class ProjectError(TinySlmError):
    """A generated project folder is missing, incomplete or not a tinyslm project."""
