"""The worker's device: checked at start, and described in its heartbeats (/readyz, /metrics, `rnncast doctor`).

Nothing here initialises CUDA in the calling process: a prefork worker's
parent forks its pool processes later, and a forked CUDA context is broken.
The availability check uses NVML (PYTORCH_NVML_BASED_CUDA_CHECK), and the
name, memory and utilisation of a GPU are read through NVML (nvidia-ml-py).
"""

from __future__ import annotations

import logging
import os
import platform
from typing import Any

from rnncast.common.settings import host_memory

log = logging.getLogger(__name__)


def check_device(spec: str) -> str:
    """The device `spec` (RNNCAST_DEVICE) names on this host, e.g. `cpu` or `cuda:0`; ValueError, with a
    one-line reason, when the host has no such device."""
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import torch

    from rnncast.core.device import resolve_device

    try:
        device = resolve_device(spec)
    except ValueError as exc:
        build = f"torch {torch.__version__}, CUDA {torch.version.cuda or 'none: a CPU build'}"
        raise ValueError(f"RNNCAST_DEVICE={spec}: {exc} ({build}); set RNNCAST_DEVICE=cpu or auto") from None
    return "cpu" if device.type == "cpu" else f"cuda:{device.index or 0}"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _nvml_handle(pynvml: Any, index: int) -> Any:
    """NVML's handle of the `index`th device CUDA shows this process (NVML ignores CUDA_VISIBLE_DEVICES)."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if index < len(visible):
        chosen = visible[index]
        if chosen.isdigit():
            return pynvml.nvmlDeviceGetHandleByIndex(int(chosen))
        return pynvml.nvmlDeviceGetHandleByUUID(chosen)
    return pynvml.nvmlDeviceGetHandleByIndex(index)


def _gpu_stats(index: int) -> dict[str, Any]:
    try:
        import pynvml
    except ImportError:
        return {"device_name": "a CUDA GPU (install nvidia-ml-py for its name, memory and utilisation)"}
    try:
        pynvml.nvmlInit()
        handle = _nvml_handle(pynvml, index)
        name = pynvml.nvmlDeviceGetName(handle)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
    except pynvml.NVMLError as exc:
        log.debug("NVML: %s", exc)
        return {"device_name": f"a CUDA GPU (NVML: {exc})"}
    return {"device_name": name.decode() if isinstance(name, bytes) else str(name),
            "memory_bytes": int(memory.total), "memory_used_bytes": int(memory.used),
            "utilization": float(utilization.gpu) / 100}


def describe(device: str) -> dict[str, Any]:
    """What a worker says of its device (`check_device`'s answer) at each heartbeat: its name and memory in
    bytes; for a GPU also the memory in use and the utilisation (0-1) when NVML answers."""
    if device == "cpu":
        return {"device": "cpu", "device_name": _cpu_name(), "memory_bytes": host_memory()}
    return {"device": device, **_gpu_stats(int(device.partition(":")[2] or 0))}
