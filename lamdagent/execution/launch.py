"""How a worker process starts, for every executor: plain Python on one device, `accelerate launch` on several GPUs.

Multi-GPU training of one action: with `gpus_per_trial: N` (N > 1, a whole number) the worker runs as N
processes under `accelerate launch --multi_gpu`, one per GPU. TRL's trainers pick the launch up from the
environment (RANK, LOCAL_RANK, WORLD_SIZE) and train data-parallel: each process takes its own batches of
`batch_size` rows, so the effective batch is N times larger. Only the main process (RANK 0) commits the model,
evaluates it and writes `result.json`; the others train, then exit. Merges and evaluation-only jobs do not
train, so the other processes exit at once and the main process does the work alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lamdagent.errors import LamdagentError

PR_SET_PDEATHSIG = 1
WORKER_MODULE = "lamdagent.execution.worker"


def gpu_processes(gpus_per_trial: float) -> int:
    """Processes one trial runs as: 1 up to one GPU (a fraction shares a GPU), N for N whole GPUs."""
    if gpus_per_trial <= 1:
        return 1
    if gpus_per_trial != int(gpus_per_trial):
        raise LamdagentError(
            f"executor.gpus_per_trial: {gpus_per_trial} is not a whole number; above 1 a trial takes whole GPUs "
            "(one training process each), e.g. 2"
        )
    return int(gpus_per_trial)


def worker_command(job_dir: str | Path, gpus: int, python: str | None = None) -> list[str]:
    """The command line of one job: `python -m lamdagent.execution.worker JOB_DIR`, under accelerate if gpus > 1.

    `--main_process_port 0` lets accelerate pick a free port, so several multi-GPU trials can share a node.
    Precision is left to the trainer's own arguments (bf16 on GPU), which override the launcher's setting.
    """
    python = python or sys.executable
    if gpus <= 1:
        return [python, "-m", WORKER_MODULE, str(job_dir)]
    return [
        python,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(gpus),
        "--num_machines",
        "1",
        "--main_process_port",
        "0",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        WORKER_MODULE,
        str(job_dir),
    ]


@dataclass(frozen=True)
class Role:
    """This worker process's place in a (possibly distributed) launch."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """The one process that commits, evaluates and reports."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def process_role(env: Mapping[str, str] | None = None) -> Role:
    """Read the role from the variables torchrun/accelerate set; none of them means a single process."""
    env = os.environ if env is None else env
    values: dict[str, int] = {}
    for key, default in (("RANK", 0), ("LOCAL_RANK", 0), ("WORLD_SIZE", 1)):
        raw = env.get(key, "").strip()
        try:
            values[key] = int(raw) if raw else default
        except ValueError:
            raise LamdagentError(f"environment variable {key}={raw!r} is not an integer; unset it or fix it") from None
    role = Role(rank=values["RANK"], local_rank=values["LOCAL_RANK"], world_size=values["WORLD_SIZE"])
    if role.world_size < 1 or not 0 <= role.rank < role.world_size or role.local_rank < 0:
        raise LamdagentError(
            f"RANK={role.rank}, LOCAL_RANK={role.local_rank}, WORLD_SIZE={role.world_size} do not describe a valid "
            "launch; unset them to run one process"
        )
    return role


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux; a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)


def preexec_worker() -> None:
    """Runs in a worker's child before exec: die with the executor, and lead a new process group.

    The group lets a timeout kill the worker with everything it started (accelerate's training processes).
    """
    die_with_parent()
    os.setsid()
