"""Choosing the torch device lazily, inside the process that trains."""

from __future__ import annotations

import re

import torch

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn `auto`, `cpu`, `cuda` or `cuda:N` into a usable device.

    `auto` picks CUDA when it is available, else the CPU; asking for CUDA on a
    machine without it is an error rather than a silent fallback.
    """
    if not _DEVICE.match(spec):
        raise ValueError(f"device ({spec!r}) must be auto, cpu, cuda or cuda:N")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device ({spec!r}) asked for CUDA, which is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device ({spec!r}) does not exist: {torch.cuda.device_count()} CUDA device(s)"
            )
    return device
