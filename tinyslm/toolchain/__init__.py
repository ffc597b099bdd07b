"""Compilers and trees: host and Cortex-M7 builds, the TFLM tree, PlatformIO."""
