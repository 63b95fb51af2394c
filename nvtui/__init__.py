"""nvtui: an interactive terminal explorer for NVMe devices on Linux."""

__version__ = "0.1.0"
