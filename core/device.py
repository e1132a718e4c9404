"""Choosing the torch device lazily, inside the process that trains."""

from __future__ import annotations

import ctypes
import ctypes.util
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


def device_label(device: torch.device) -> str:
    """How a job names the device it ran on: `cpu`, or `cuda:N (<GPU name>)` (call it where training runs:
    it initialises CUDA)."""
    if device.type != "cuda":
        return str(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


M_TOP_PAD = -2  # glibc's mallopt parameter
TOP_PAD = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Let glibc keep freed tensor memory for reuse instead of handing it back to the kernel.

    Training allocates and frees the same multi-MB buffers every batch (oneDNN's
    LSTM workspace, saved activations). By default glibc trims them off its heap
    on free, so every batch pays page faults and zeroing for them again, which
    can cost more than the batch's arithmetic. A top pad keeps up to 256 MB of freed heap; untouched pad is only
    address space. True when applied (glibc only).
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_TOP_PAD, TOP_PAD))

