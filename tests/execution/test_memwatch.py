"""A worker killed by a signal: the trial's error names the signal, the peak memory and the likely cause."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from lamdagent.execution.executor import Handle, LocalExecutor
from lamdagent.execution.memwatch import MemoryWatch, killed_message, signal_text

MB = 1_000_000
HOG = (
    "import sys, time; b = b'x' * ({n} * 1_000_000); print('allocated', flush=True); "
    "open(sys.argv[1], 'w').close(); time.sleep(120)"
)


def start_hog(job_dir: Path, megabytes: int) -> subprocess.Popen:
    """A stand-in worker: fills `megabytes` of memory, says so in its log, then waits to be killed."""
    job_dir.mkdir(parents=True, exist_ok=True)
    with open(job_dir / "worker.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", HOG.format(n=megabytes), str(job_dir / "ready")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def run_and_kill(tmp_path: Path, sig: int, megabytes: int = 300) -> str:
    executor = LocalExecutor(timeout_s=600, parallel=1, gpus=[])
    job_dir = tmp_path / "jobs" / "trial-0001"
    proc = start_hog(job_dir, megabytes)
    handle = Handle(job=SimpleNamespace(job_dir=str(job_dir)), backend=proc)  # type: ignore[arg-type]
    executor._running.append(handle)
    try:
        assert executor.wait(timeout=0.3) == []  # the executor starts watching the worker here
        wait_for(job_dir / "ready")
        time.sleep(0.8)  # at least one sample after the allocation
        os.kill(proc.pid, sig)
        ended = executor.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [h for h, _ in ended] == [handle]
    result = ended[0][1]
    assert not result.ok and result.error is not None and "\n" not in result.error
    return result.error


def test_a_sigkilled_worker_reports_signal_peak_memory_and_the_likely_cause(tmp_path: Path) -> None:
    error = run_and_kill(tmp_path, signal.SIGKILL)
    assert error.startswith("worker killed by signal SIGKILL (9) after "), error
    peak = re.search(r"peak memory (\d+\.\d) GB", error)
    assert peak and float(peak.group(1)) >= 0.3, error
    assert "likely out of memory" in error and "lower batch_size or max_length" in error
    assert error.endswith("last log line: allocated")


def test_another_signal_is_named_without_blaming_memory(tmp_path: Path) -> None:
    error = run_and_kill(tmp_path, signal.SIGTERM, megabytes=50)
    assert error.startswith("worker killed by signal SIGTERM (15)") and "out of memory" not in error


def test_the_watch_counts_the_whole_process_tree(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    child = HOG.format(n=200)
    parent = f"import subprocess, sys, time; subprocess.run([sys.executable, '-c', {child!r}, {str(ready)!r}])"
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        watch = MemoryWatch(proc.pid, interval=0.1)
        wait_for(ready)
        time.sleep(0.5)
        assert watch.stop() >= 200 * MB  # the parent alone holds a few MB; its child holds the rest
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its child, which lead their own group
        proc.wait()


@pytest.mark.parametrize(("code", "text"), [(-9, "SIGKILL (9)"), (-11, "SIGSEGV (11)"), (-200, "signal 200")])
def test_signal_text(code: int, text: str) -> None:
    assert signal_text(code) == text


def test_killed_message_without_a_memory_figure() -> None:
    message = killed_message(-9, 0, 12.0, "(empty log)")
    assert message.startswith("worker killed by signal SIGKILL (9) after 12 s; likely out of memory")
    assert "peak memory" not in message
