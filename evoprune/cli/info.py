"""``evoprune info``: what a bug report needs first (versions, devices, threads, the kernel backend and why)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

import torch

from .. import __version__
from ..architecture import Architecture
from ..backends import select_backend
from ..backends.build import kernel_dir

__all__ = ["describe"]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _devices() -> list[str]:
    devices = [f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} logical cores)"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    else:
        devices.append(f"cuda: not available (torch built with CUDA {torch.version.cuda or 'none'})")
    mps = getattr(torch.backends, "mps", None)
    devices.append("mps: available" if mps is not None and mps.is_available() else "mps: not available")
    return devices


def describe() -> str:
    """The report :command:`evoprune info` prints, as text (it loads, or builds, the fused kernel)."""
    arch = Architecture.paper()
    choice = select_backend((arch.encoder, arch.decoder), "cpu", "l1")
    lines = [
        f"evoprune {__version__} ({os.path.dirname(os.path.abspath(__file__))})",
        f"torch {torch.__version__}, DEAP {_version('deap')}, NumPy {_version('numpy')}, "
        f"Python {platform.python_version()} ({sys.executable})",
        "devices: " + "; ".join(_devices()),
        f"intra-op threads: {torch.get_num_threads()}",
        f"kernel backend (dense networks on the CPU): {choice.name} ({choice.reason})",
        f"kernel folder: {kernel_dir()}",
    ]
    return "\n".join(lines)
