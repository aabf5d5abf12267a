"""Executors run jobs out of process. `LocalExecutor` starts one subprocess per job, up to `parallel` at once.

A worker that outlives its timeout is killed with its whole process group; a worker whose parent dies is
killed by the kernel (PR_SET_PDEATHSIG), so a killed driver leaves no orphan training behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from lamdagent.execution.job import Job, JobResult

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGKILL it when the parent process dies."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()


@dataclass(eq=False)
class Handle:
    """A job in flight (hashed by identity: the loop keys its in-flight trials by it)."""

    job: Job
    started: float = field(default_factory=time.time)
    slot: int = 0
    backend: object | None = None  # the executor's own handle (a Popen, a Ray ObjectRef, ...)


class Executor(ABC):
    """Runs jobs; the loop submits while `free_slots()` > 0 and collects with `wait`."""

    parallel: int = 1

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


class LocalExecutor(Executor):
    """One `python -m lamdagent.execution.worker` process per job; GPUs, where present, one per slot."""

    def __init__(self, timeout_s: float = 3600, parallel: int = 1, gpus: list[int] | None = None) -> None:
        self.timeout_s = timeout_s
        self.parallel = parallel
        self.gpus = gpus if gpus is not None else _visible_gpus()
        self._running: list[Handle] = []

    def submit(self, job: Job) -> Handle:
        if self.free_slots() <= 0:
            raise RuntimeError("no free slot; wait for a job to end first")
        used = {h.slot for h in self._running}
        slot = next(i for i in range(self.parallel) if i not in used)
        job_dir = Path(job.job_dir)
        job.write()
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(self.gpus[slot % len(self.gpus)])
        if self.parallel > 1 and not self.gpus:
            env.setdefault("LAMDAGENT_THREADS", str(max(1, (os.cpu_count() or 1) // self.parallel)))
        log = open(job_dir / "worker.log", "ab")  # noqa: SIM115 - closed when the job ends
        proc = subprocess.Popen(
            [sys.executable, "-m", "lamdagent.execution.worker", str(job_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
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
        if code is None and time.time() - handle.started > self.timeout_s:
            _kill_group(proc)
            self._running.remove(handle)
            return handle, JobResult(ok=False, error=f"timeout: the action ran past {self.timeout_s:.0f} s")
        if code is None:
            return None
        self._running.remove(handle)
        result = JobResult.read(handle.job.job_dir)
        if result is None:
            tail = _log_tail(Path(handle.job.job_dir) / "worker.log")
            result = JobResult(ok=False, error=f"worker exited with code {code} and no result: {tail}")
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
