"""Watch a worker's memory from outside, so a worker the kernel kills still leaves a figure behind.

A worker killed by SIGKILL (the out-of-memory killer's signal) cannot report its own peak, and once it is
reaped its `/proc` entry is gone. So the executor samples the worker's process tree while it runs: the
leader's high-water mark (`VmHWM`, exact for that process) and the summed resident memory of its
descendants (accelerate's training processes), in a daemon thread that ends with the process.
"""

from __future__ import annotations

import signal
import threading
import weakref
from pathlib import Path

_PROC = Path("/proc")
_WATCHES: weakref.WeakKeyDictionary[object, MemoryWatch] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _status_kib(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), or None when the process or the field is gone."""
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return out


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and every descendant, summed (shared pages count once per process)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += (_status_kib(p, "VmRSS") or 0) * 1024
        todo += _children(p)
    return total


def machine_memory_bytes() -> int | None:
    """The memory this machine (or this cgroup, when it is limited) has, for context in a message."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            return int(limit)
    except OSError:
        pass
    try:
        for line in (_PROC / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class MemoryWatch:
    """Samples a process tree's memory every `interval` seconds until the process ends or `stop()` is called."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self.sample()
        self._thread = threading.Thread(target=self._run, name=f"memwatch-{pid}", daemon=True)
        self._thread.start()

    def sample(self) -> bool:
        """Take one sample; False once the process is gone (or a zombie, whose memory is already freed)."""
        hwm = _status_kib(self.pid, "VmHWM")
        if hwm is None:
            return False
        self.peak_bytes = max(self.peak_bytes, hwm * 1024, tree_rss_bytes(self.pid))
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.sample():
                return

    def stop(self) -> int:
        """Stop sampling; returns the peak seen (bytes, 0 when nothing could be read)."""
        self._stop.set()
        return self.peak_bytes


def watch(key: object, pid: int) -> MemoryWatch:
    """The watch of `key` (an executor's handle), started on first call; it goes when the key does."""
    with _LOCK:
        found = _WATCHES.get(key)
        if found is None:
            found = _WATCHES[key] = MemoryWatch(pid)
        return found


def signal_text(code: int) -> str:
    """`SIGKILL (9)` for a return code of -9."""
    number = -code
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return f"signal {number}"


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def killed_message(code: int, peak_bytes: int, wall_s: float, tail: str) -> str:
    """One line for a worker that a signal ended: which signal, after how long, its peak memory, the likely
    cause when the signal is SIGKILL (the out-of-memory killer's), and the log's last line."""
    parts = [f"worker killed by signal {signal_text(code)} after {wall_s:.0f} s"]
    if peak_bytes:
        total = machine_memory_bytes()
        parts.append(f"peak memory {_gb(peak_bytes)}" + (f" of {_gb(total)}" if total else ""))
    if -code == signal.SIGKILL:
        parts.append(
            "likely out of memory (the kernel's OOM killer sends SIGKILL): lower batch_size or max_length, "
            "use a smaller model or run fewer trials in parallel"
        )
    parts.append(f"last log line: {tail}")
    return "; ".join(parts)
