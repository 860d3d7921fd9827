"""How many cores this process may use: the thread count of ONNX Runtime and of the PNG encoder."""
from __future__ import annotations

import os


def default_threads() -> int:
    """The cores this process may run on (its affinity where the OS has one)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
