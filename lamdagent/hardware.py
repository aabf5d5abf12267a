"""Device and precision choices in one place, so every trainer, merge and evaluation agrees.

On CPU, training runs in fp32: TRL's bf16 default was measured about 8x slower there, and activation
checkpointing bought nothing at these lengths. On a GPU, bf16 with checkpointing (memory for larger bases).
Torch threads follow the cores that other work leaves free (`set_threads`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def cpu_cores() -> int:
    """Cores this process may run on (respects affinity masks and `LAMDAGENT_THREADS`)."""
    forced = os.environ.get("LAMDAGENT_THREADS")
    if forced and forced.isdigit() and int(forced) > 0:
        return int(forced)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def pick_device() -> str:
    """ "cuda" when a GPU is usable, else "cpu"; `LAMDAGENT_DEVICE` overrides (e.g. to force the CPU)."""
    forced = os.environ.get("LAMDAGENT_DEVICE")
    if forced:
        return forced
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def busy_cores(sample_s: float = 0.25) -> float:
    """How many cores other work keeps busy now (Linux `/proc/stat`, sampled over `sample_s`); 0 elsewhere."""
    import time

    def ticks() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = ticks()
        time.sleep(sample_s)
        total1, idle1 = ticks()
    except (OSError, ValueError, IndexError):
        return 0.0
    elapsed = total1 - total0
    if elapsed <= 0:
        return 0.0
    return (os.cpu_count() or 1) * (1.0 - (idle1 - idle0) / elapsed)


def set_threads() -> int:
    """Threads for torch's intra-op pool: `LAMDAGENT_THREADS` when set, else the cores not kept busy by other
    work. Two threads on a core another job is using ran up to 10x slower than one here, so a trial on a
    shared machine (or beside another trial) takes what is free, never less than one; returns the count."""
    import torch

    cores = cpu_cores()
    if not os.environ.get("LAMDAGENT_THREADS") and cores > 1:
        cores = max(1, min(cores, round(cores - busy_cores())))
    torch.set_num_threads(cores)
    return cores


def rss_mb() -> dict[str, float]:
    """This process's resident memory now and at its peak, in MB (Linux `/proc`; the peak alone elsewhere)."""
    import resource

    out = {"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # KiB on Linux
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                out["now"] = int(line.split()[1]) / 1024
    return out


def release_memory() -> None:
    """Hand memory freed by a finished trainer back to the system before the next phase loads a model.

    Without this a worker that evaluates right after training kept the trainer's peak (measured 10 GB for the
    embedded model): cycles hold the trainer until a collection, and glibc keeps freed heap pages mapped.
    """
    import contextlib
    import ctypes
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass(frozen=True)
class Precision:
    """How to load and train a model on a device."""

    device: str
    bf16: bool
    use_cpu: bool
    activation_checkpointing: bool

    @property
    def dtype(self) -> Any:
        import torch

        return torch.bfloat16 if self.bf16 else torch.float32

    def trainer_kwargs(self) -> dict[str, Any]:
        """Arguments every TRL config (SFTConfig, DPOConfig) takes from the hardware."""
        return {
            "use_cpu": self.use_cpu,
            "bf16": self.bf16,
            "fp16": False,
            "activation_checkpointing": self.activation_checkpointing,
        }


def precision(device: str | None = None) -> Precision:
    """The training precision for `device` (default: `pick_device()`)."""
    device = device or pick_device()
    if device.startswith("cuda"):
        return Precision(device=device, bf16=True, use_cpu=False, activation_checkpointing=True)
    return Precision(device="cpu", bf16=False, use_cpu=True, activation_checkpointing=False)
