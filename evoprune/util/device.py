"""Torch device names: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (the best one present)."""

from __future__ import annotations

import re

import torch

__all__ = ["check_device_name", "resolve_device"]

_NAME = re.compile(r"(cpu|cuda|cuda:\d+|mps|auto)")


def check_device_name(name: str) -> str:
    """Validate a device name without needing the device (study files are checked on any machine)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"device must be one of cpu, cuda, cuda:N, mps, auto; got {name!r}")
    return name


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The :class:`torch.device` for ``name`` (``auto``: CUDA, then MPS, then the CPU); one it lacks is an error."""
    if isinstance(name, torch.device):
        return name
    name = check_device_name("auto" if name is None else name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: CUDA is not available on this machine (use cpu or auto)")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps': MPS is not available on this machine (use cpu or auto)")
    return torch.device(name)
