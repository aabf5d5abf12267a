"""Trials as Ray tasks: on this machine (a private local Ray instance) or on an existing cluster (`ray_address`).

Each job is a Ray task holding `cpus_per_trial` CPUs and `gpus_per_trial` GPUs; the task runs the same worker
subprocess as the local executor (so every action still gets a fresh process: no GPU memory or library state
leaks) and returns the `JobResult` as a dict. `gpus_per_trial: 0` means CPU only: Ray hands no GPU to the task,
so the worker is shown none. A job past `timeout_s` is cancelled with `force=True`, which kills the task's
process, and the worker dies with it (parent-death signal).

Job directories and the model store are read and written by the workers directly, so on a cluster of several
machines the run directory must be on storage every node mounts at the same path (NFS, a shared volume), and
lamdagent must be installed on every node. A local instance shares this machine's filesystem.

A local instance lives in a short temporary directory (unix socket paths are limited to about 107 bytes;
`LAMDAGENT_RAY_TMPDIR` picks its parent). A small reaper process, started with it, waits for the driver to
exit or die and then kills whatever of that instance is left, so even a SIGKILLed driver leaves no Ray process
(nor trial worker) running. Local test clusters should set `RAY_AUTH_MODE=disabled`; otherwise Ray's token
authentication writes a token under `~/.ray`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from lamdagent.errors import LamdagentError
from lamdagent.execution.executor import Executor, ExecutorOptions, Handle, _kill_group, _log_tail
from lamdagent.execution.job import Job, JobResult
from lamdagent.execution.launch import gpu_processes, preexec_worker, worker_command
from lamdagent.io import pid_alive
from lamdagent.secrets import scrub_env

INSTALL_HINT = "pip install 'lamdagent[ray]'"
FORWARDED_ENV_PREFIXES = ("LAMDAGENT_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")
MAX_TEMP_DIR_CHARS = 40  # Ray adds ~60 characters of session and socket names below it
OBJECT_STORE_BYTES = 128 * 1024**2  # results are small dicts; the default reserves 30% of the memory


def import_ray() -> Any:
    """The `ray` module, or a one-line error with the install command."""
    try:
        import ray
    except ImportError:
        raise LamdagentError(f"executor.kind ray needs the ray package; install it with: {INSTALL_HINT}") from None
    return ray


def forwarded_env() -> dict[str, str]:
    """The driver's lamdagent and Hugging Face settings, for workers on nodes that did not inherit them."""
    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}


def run_worker_task(
    job_dir: str,
    processes: int,
    cpus: float,
    gpus: float,
    env: dict[str, str],
    hidden: tuple[str, ...] = (),
    passed: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The body of a job's Ray task: one worker subprocess (under accelerate if processes > 1); its result.

    Runs on a Ray worker. The subprocess dies with this process (a forced cancel kills it), and a
    failure to produce `result.json` becomes a failed result with the last line of `worker.log`.
    """
    child_env = {**scrub_env({**os.environ, **env}, hidden, passed), "PYTHONUNBUFFERED": "1"}
    child_env["LAMDAGENT_THREADS"] = str(max(1, int(cpus)))
    if gpus == 0:
        child_env["CUDA_VISIBLE_DEVICES"] = ""  # Ray leaves the variable alone for tasks without GPUs
    started = time.time()
    log_path = Path(job_dir) / "worker.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            worker_command(job_dir, processes),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            preexec_fn=preexec_worker,
        )
    try:
        code = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted (a non-forced cancel): take the worker down too
            _kill_group(proc)
    result = JobResult.read(job_dir)
    if result is None:
        result = JobResult(ok=False, error=f"worker exited with code {code} and no result: {_log_tail(log_path)}")
    result.timings.setdefault("wall_s", time.time() - started)
    return result.model_dump(mode="json")


# -- a private local instance ----------------------------------------------------------------------------
def ray_temp_dir() -> Path:
    """A fresh, short directory for a local instance's sockets, logs and spill files."""
    parent = os.environ.get("LAMDAGENT_RAY_TMPDIR") or ("/tmp" if os.access("/tmp", os.W_OK) else None)
    path = Path(tempfile.mkdtemp(prefix="lgray-", dir=parent))
    if len(str(path)) > MAX_TEMP_DIR_CHARS:
        shutil.rmtree(path, ignore_errors=True)
        raise LamdagentError(
            f"Ray's temporary directory {path} is too long for its unix sockets; "
            "set LAMDAGENT_RAY_TMPDIR to a short directory such as /tmp"
        )
    return path


def session_pids(
    temp_dir: str, raylet_pid: int | None = None, node_id: str | None = None, spare: int | None = None
) -> list[int]:
    """Processes of a local instance: their command line or an open file (Ray sends every process's output to
    a log there) names its directory, or their environment names its raylet or node. Ray's agents and workers
    rename themselves, which can also wipe what /proc shows of their environment; the trial workers that Ray
    workers start carry RAY_RAYLET_PID."""
    skip, needle = {os.getpid(), spare}, temp_dir.encode()
    markers = set()
    if raylet_pid:
        markers.add(f"RAY_RAYLET_PID={raylet_pid}".encode())
    if node_id:
        markers.add(f"RAY_NODE_ID={node_id}".encode())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        try:
            ours = needle in Path(f"/proc/{entry}/cmdline").read_bytes()
            ours = ours or bool(markers & set(Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")))
            ours = ours or _opens(int(entry), temp_dir)
        except OSError:  # gone, or not ours to read
            continue
        if ours:
            found.append(int(entry))
    return found


def _opens(pid: int, directory: str) -> bool:
    """Whether a process holds a file under `directory` open."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(directory + "/"):
                return True
    return False


def find_raylet(temp_dir: str) -> int | None:
    for pid in session_pids(temp_dir):
        with contextlib.suppress(OSError):
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if os.path.basename(argv0) == b"raylet":
                return pid
    return None


def reap(temp_dir: str, raylet_pid: int | None, node_id: str | None = None, driver: int | None = None) -> list[int]:
    """Kill what is left of a local instance and remove its directory; returns the pids killed. The driver,
    which holds the instance's logs open too, is spared: it may be stopping Ray and going on."""
    killed: list[int] = []
    quiet = 0
    for _ in range(40):  # a dying raylet may still start a process: stop after two empty looks in a row
        pids = session_pids(temp_dir, raylet_pid, node_id, spare=driver)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        quiet = 0 if pids else quiet + 1
        if quiet == 2:
            break
        time.sleep(0.25)
    shutil.rmtree(temp_dir, ignore_errors=True)
    return killed


@dataclass
class LocalRay:
    """A Ray instance this process started, and the reaper that outlives the process if it is killed."""

    temp_dir: Path
    reaper: subprocess.Popen
    pipe: int  # write end held by this process only; EOF tells the reaper that the driver is gone

    @classmethod
    def start(cls, ray: Any, num_cpus: int) -> LocalRay:
        temp_dir = ray_temp_dir()
        try:
            ray.init(
                address="local",  # a new instance even where RAY_ADDRESS names a cluster
                num_cpus=num_cpus,
                include_dashboard=False,
                _temp_dir=str(temp_dir),
                object_store_memory=OBJECT_STORE_BYTES,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user needs one line
            shutil.rmtree(temp_dir, ignore_errors=True)
            first = (str(exc).strip().splitlines() or [""])[0]
            raise LamdagentError(f"could not start a local Ray instance: {type(exc).__name__}: {first}") from None
        raylet = str(find_raylet(str(temp_dir)) or 0)
        node = ray.get_runtime_context().get_node_id()
        read_end, write_end = os.pipe()
        reaper = subprocess.Popen(
            [sys.executable, "-m", __name__, "--reap", str(temp_dir), raylet, node, str(os.getpid())],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(read_end)
        return cls(temp_dir=temp_dir, reaper=reaper, pipe=write_end)

    def stop(self, ray: Any) -> None:
        with contextlib.suppress(Exception):
            ray.shutdown()
        with contextlib.suppress(OSError):
            os.close(self.pipe)
        try:
            self.reaper.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.reaper.kill()
            self.reaper.wait()


# -- the executor ----------------------------------------------------------------------------------------
class RayOptions(ExecutorOptions):
    """The `executor` section for `kind: ray`."""

    ray_address: str | None = Field(default=None, description="An existing cluster (ray://host:port); none: local")
    cpus_per_trial: float = Field(default=1, gt=0, description="CPUs each trial's Ray task holds")


class RayExecutor(Executor):
    """Runs each job as a Ray task; at most `parallel` at once. Use `create` to connect or start Ray."""

    name = "ray"
    Options = RayOptions

    def __init__(
        self,
        timeout_s: float = 3600,
        parallel: int = 1,
        cpus_per_trial: float = 1,
        gpus_per_trial: float = 0,
        local: LocalRay | None = None,
    ) -> None:
        self._ray = import_ray()
        if not self._ray.is_initialized():
            raise LamdagentError("RayExecutor needs a connected Ray; build it with RayExecutor.create")
        self.timeout_s = timeout_s
        self.parallel = parallel
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.processes = gpu_processes(gpus_per_trial)
        self._local = local
        self._task = self._ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=0)(run_worker_task)
        self._running: list[Handle] = []
        self._closed = False

    @classmethod
    def create(cls, cfg: Any) -> RayExecutor:
        """Connect to `cfg.ray_address`, reuse a Ray this process already runs, or start a private local one."""
        ray = import_ray()
        gpu_processes(cfg.gpus_per_trial)  # a bad value fails before Ray starts
        local = None
        if ray.is_initialized():
            pass
        elif cfg.ray_address:
            try:
                ray.init(address=cfg.ray_address, log_to_driver=False, logging_level=logging.WARNING)
            except Exception as exc:  # noqa: BLE001 - connection errors come in several types
                first = (str(exc).strip().splitlines() or [""])[0]
                raise LamdagentError(
                    f"executor.ray_address: cannot connect to the Ray cluster at {cfg.ray_address!r} ({first}); "
                    "start one with `ray start --head` or fix the address"
                ) from None
        else:
            cpus = max(os.cpu_count() or 1, math.ceil(cfg.parallel * cfg.cpus_per_trial))
            local = LocalRay.start(ray, cpus)
            have = ray.cluster_resources().get("GPU", 0)
            if cfg.gpus_per_trial > have:
                local.stop(ray)
                raise LamdagentError(
                    f"executor.gpus_per_trial: {cfg.gpus_per_trial} GPUs per trial, but this machine has {have:g}; "
                    "set it to 0 to train on the CPU"
                )
        return cls(
            timeout_s=cfg.timeout_s,
            parallel=cfg.parallel,
            cpus_per_trial=cfg.cpus_per_trial,
            gpus_per_trial=cfg.gpus_per_trial,
            local=local,
        )

    def submit(self, job: Job) -> Handle:
        if self._closed:
            raise RuntimeError("this executor is shut down")
        if self.free_slots() <= 0:
            raise RuntimeError("no free slot; wait for a job to end first")
        used = {h.slot for h in self._running}
        slot = next(i for i in range(self.parallel) if i not in used)
        job.write()
        ref = self._task.remote(
            job.job_dir,
            self.processes,
            self.cpus_per_trial,
            self.gpus_per_trial,
            forwarded_env(),
            self.hidden_env,
            self.passed_env,
        )
        handle = Handle(job=job, slot=slot, backend=ref)
        self._running.append(handle)
        return handle

    def running(self) -> list[Handle]:
        return list(self._running)

    def wait(self, timeout: float | None = None) -> list[tuple[Handle, JobResult]]:
        deadline = None if timeout is None else time.time() + timeout
        while self._running:
            now = time.time()
            step = max(0.0, min(h.started + self.timeout_s for h in self._running) - now)
            if deadline is not None:
                step = min(step, max(0.0, deadline - now))
            refs = [h.backend for h in self._running]
            ready, _ = self._ray.wait(refs, num_returns=1, timeout=step)
            if ready:  # collect every job that has ended, not only the first
                ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
            ended = self._collect(set(ready))
            if ended or (deadline is not None and time.time() >= deadline):
                return ended
        return []

    def _collect(self, ready: set[Any]) -> list[tuple[Handle, JobResult]]:
        ended = []
        for handle in list(self._running):
            if handle.backend in ready:
                result = self._fetch(handle)
            elif time.time() - handle.started > self.timeout_s:
                self._cancel(handle)
                result = JobResult(ok=False, error=f"timeout: the action ran past {self.timeout_s:.0f} s")
            else:
                continue
            self._running.remove(handle)
            ended.append((handle, result))
        return ended

    def _fetch(self, handle: Handle) -> JobResult:
        try:
            result = JobResult.model_validate(self._ray.get(handle.backend))
        except Exception as exc:  # noqa: BLE001 - a crashed or lost task is a failed trial
            # the worker may have written its result before Ray lost the task
            result = JobResult.read(handle.job.job_dir) or JobResult(
                ok=False, error=f"ray task failed: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            )
        result.timings.setdefault("wall_s", time.time() - handle.started)
        return result

    def _cancel(self, handle: Handle) -> None:
        with contextlib.suppress(Exception):
            self._ray.cancel(handle.backend, force=True)

    def shutdown(self) -> None:
        """Cancel what runs; a local instance this executor started is stopped, a cluster is only left."""
        for handle in self._running:
            self._cancel(handle)
        self._running.clear()
        if self._closed:
            return
        self._closed = True
        if self._local is not None:
            self._local.stop(self._ray)


def _reaper_main(argv: list[str]) -> int:
    """`python -m lamdagent.execution.ray --reap TEMP_DIR RAYLET_PID NODE_ID DRIVER_PID`: clean up once the
    driver is gone, told by EOF on stdin or, should a forked child still hold the pipe open, by its pid."""
    temp_dir, raylet, node, driver = argv[0], int(argv[1]), argv[2], int(argv[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        while pid_alive(driver):
            ready, _, _ = select.select([0], [], [], 0.5)
            if ready and not os.read(0, 4096):
                break
    reap(temp_dir, raylet or None, node or None, driver)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--reap"] and len(sys.argv) == 6:
        sys.exit(_reaper_main(sys.argv[2:]))
    sys.exit("usage: python -m lamdagent.execution.ray --reap TEMP_DIR RAYLET_PID NODE_ID DRIVER_PID")
