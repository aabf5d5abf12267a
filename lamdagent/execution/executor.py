"""Executors run jobs out of process. `LocalExecutor` starts one subprocess per job, up to `parallel` at once.

A worker that outlives its timeout is killed with its whole process group; a worker whose parent dies is
killed by the kernel (PR_SET_PDEATHSIG), so a killed driver leaves no orphan training behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from lamdagent.errors import LamdagentError
from lamdagent.execution import memwatch
from lamdagent.execution.job import Job, JobResult
from lamdagent.execution.launch import gpu_processes, preexec_worker, worker_command
from lamdagent.registry import PluginOptions, Registry
from lamdagent.secrets import scrub_env


class ExecutorOptions(PluginOptions):
    """Options every executor takes (the `executor` section of a run config, without `kind`)."""

    parallel: int = Field(default=1, ge=1, description="Trials in flight at once")
    timeout_s: float = Field(default=3600, gt=0, description="Seconds before a trial's worker is killed")
    gpus_per_trial: float = Field(
        default=0, ge=0, description="GPUs per trial: 0 = one each where there are any, a fraction shares one"
    )


@dataclass(eq=False)
class Handle:
    """A job in flight (hashed by identity: the loop keys its in-flight trials by it)."""

    job: Job
    started: float = field(default_factory=time.time)
    slot: int = 0
    backend: object | None = None  # the executor's own handle (a Popen, a Ray ObjectRef, ...)


class Executor(ABC):
    """Runs jobs; the loop submits while `free_slots()` > 0 and collects with `wait`.

    An executor is a plug-in: a `name`, a typed `Options` model checked when the config loads, and
    `create(options)`, which may start what it needs (a Ray instance) and fail with a one-line error.
    """

    name: ClassVar[str] = "executor"
    Options: ClassVar[type[ExecutorOptions]] = ExecutorOptions
    parallel: int = 1
    hidden_env: tuple[str, ...] = ()  # variables no worker may see (the agent's key), besides credential-named ones
    passed_env: tuple[str, ...] = ()  # credential variables a worker needs (an LLM judge's key)

    @classmethod
    def create(cls, options: Any) -> Executor:
        """Build the executor from its validated options."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a config")

    @abstractmethod
    def submit(self, job: Job) -> Handle: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[tuple[Handle, JobResult]]:
        """Block until at least one job ends (or the timeout passes); return the ended ones."""

    @abstractmethod
    def running(self) -> list[Handle]: ...

    def free_slots(self) -> int:
        return self.parallel - len(self.running())

    def shutdown(self) -> None:  # noqa: B027 - optional
        """Stop whatever still runs."""

    def run(self, job: Job) -> JobResult:
        """Submit one job and wait for it (for callers that need a single result)."""
        handle = self.submit(job)
        while True:
            for h, result in self.wait(timeout=1.0):
                if h is handle:
                    return result


EXECUTORS: Registry[type[Executor]] = Registry("executor")


@EXECUTORS.decorator("local")
class LocalExecutor(Executor):
    """One `python -m lamdagent.execution.worker` process per job; GPUs, where present, shared out by slot.

    `gpus_per_trial`: 0 gives each slot one GPU when there are any (else the CPU); a fraction lets slots share
    a GPU; N > 1 gives each slot N GPUs and launches the worker with accelerate (see `launch.py`).
    """

    def __init__(
        self,
        timeout_s: float = 3600,
        parallel: int = 1,
        gpus: list[int] | None = None,
        gpus_per_trial: float = 0,
    ) -> None:
        self.timeout_s = timeout_s
        self.parallel = parallel
        self.gpus = gpus if gpus is not None else _visible_gpus()
        self.gpus_per_trial = gpus_per_trial
        self.processes = gpu_processes(gpus_per_trial)
        if gpus_per_trial >= 1 and len(self.gpus) < math.ceil(parallel * gpus_per_trial):
            raise LamdagentError(
                f"executor: {parallel} parallel trials x gpus_per_trial {gpus_per_trial} need "
                f"{math.ceil(parallel * gpus_per_trial)} GPUs but {len(self.gpus)} are visible; "
                "lower executor.parallel or executor.gpus_per_trial"
            )
        self._running: list[Handle] = []

    name = "local"

    @classmethod
    def create(cls, options: Any) -> LocalExecutor:
        """From the run config's `executor` options."""
        return cls(timeout_s=options.timeout_s, parallel=options.parallel, gpus_per_trial=options.gpus_per_trial)

    def slot_gpus(self, slot: int) -> list[int]:
        """The GPU ids a slot's worker sees (its CUDA_VISIBLE_DEVICES); empty on a machine without GPUs."""
        if not self.gpus:
            return []
        per = self.gpus_per_trial
        if per >= 1:
            n = math.ceil(per)
            return self.gpus[slot * n : (slot + 1) * n]
        index = slot if per == 0 else math.floor(slot * per)
        return [self.gpus[index % len(self.gpus)]]

    def submit(self, job: Job) -> Handle:
        if self.free_slots() <= 0:
            raise RuntimeError("no free slot; wait for a job to end first")
        used = {h.slot for h in self._running}
        slot = next(i for i in range(self.parallel) if i not in used)
        job_dir = Path(job.job_dir)
        job.write()
        env = scrub_env(os.environ, self.hidden_env, self.passed_env)
        env["PYTHONUNBUFFERED"] = "1"
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in self.slot_gpus(slot))
        if self.parallel > 1 and not self.gpus:
            env.setdefault("LAMDAGENT_THREADS", str(max(1, (os.cpu_count() or 1) // self.parallel)))
        log = open(job_dir / "worker.log", "ab")  # noqa: SIM115 - closed when the job ends
        proc = subprocess.Popen(
            worker_command(job_dir, self.processes),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=preexec_worker,
        )
        log.close()
        handle = Handle(job=job, slot=slot, backend=proc)
        self._running.append(handle)
        return handle

    def running(self) -> list[Handle]:
        return list(self._running)

    def wait(self, timeout: float | None = None) -> list[tuple[Handle, JobResult]]:
        deadline = None if timeout is None else time.time() + timeout
        while True:
            done = [self._collect(h) for h in list(self._running)]
            ended = [d for d in done if d is not None]
            if ended or not self._running or (deadline is not None and time.time() >= deadline):
                return ended
            time.sleep(0.2)

    def _collect(self, handle: Handle) -> tuple[Handle, JobResult] | None:
        proc: subprocess.Popen = handle.backend  # type: ignore[assignment]
        code = proc.poll()
        # sampled from here, since a worker the kernel kills cannot report its own peak memory
        memory = memwatch.watch(handle, proc.pid)
        if code is None and time.time() - handle.started > self.timeout_s:
            _kill_group(proc)
            memory.stop()
            self._running.remove(handle)
            return handle, JobResult(ok=False, error=f"timeout: the action ran past {self.timeout_s:.0f} s")
        if code is None:
            return None
        peak = memory.stop()
        self._running.remove(handle)
        result = JobResult.read(handle.job.job_dir)
        if result is None:
            tail = _log_tail(Path(handle.job.job_dir) / "worker.log")
            if code < 0:
                error = memwatch.killed_message(code, peak, time.time() - handle.started, tail)
            else:
                error = f"worker exited with code {code} and no result: {tail}"
            result = JobResult(ok=False, error=error)
        if peak:
            result.stats.setdefault("peak_rss_gb", round(peak / 1e9, 3))
        result.timings.setdefault("wall_s", time.time() - handle.started)
        return handle, result

    def shutdown(self) -> None:
        for handle in self._running:
            _kill_group(handle.backend)  # type: ignore[arg-type]
        self._running.clear()


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _log_tail(path: Path, chars: int = 300) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return "(no log)"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][-chars:] if lines else "(empty log)"


def _visible_gpus() -> list[int]:
    try:
        import torch

        return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    except ImportError:
        return []
