"""tinyslm: labelled voice-command phrases in, offline TFLM firmware out."""

__version__ = "0.1.0"
