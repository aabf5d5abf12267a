"""Helpers of the execution tests: a tiny run config, worker timestamps, and process checks through /proc."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamdagent.loop import Loop, RunSummary


def tiny_config(base: Path, **over: Any) -> dict[str, Any]:
    """Seconds per trial on the 2-layer random Llama: one SFT step, four evaluation items per split."""
    cfg: dict[str, Any] = {
        "base_models": [str(base)],
        "datasets": [
            {"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": 8},
        ],
        "tasks": [
            {
                "name": "tool_use",
                "source": "builtin:tool_use",
                "weight": 1.0,
                "options": {"val_size": 4, "test_size": 4, "max_new_tokens": 8},
            },
        ],
        "actions": ["sft", "linear"],
        "params": {"sft": {"max_steps": 1, "batch_size": 4, "max_length": 256}},
        "grids": {"sft": {"learning_rate": [1e-4, 3e-4, 1e-3]}, "linear": {"weight": [0.3, 0.5, 0.7]}},
        "policy": {"name": "random"},
        "budget": {"iterations": 4},
        "eval": {"batch_size": 8},
    }
    cfg.update(over)
    return cfg


def worker_times(run_dir: Path) -> dict[int, tuple[float, float]]:
    """Trial id -> (started, finished) wall-clock times as the worker process itself recorded them."""
    out = {}
    for path in sorted((run_dir / "jobs").glob("trial-*/result.json")):
        worker = json.loads(path.read_text())["stats"].get("worker")
        if worker:
            out[int(path.parent.name.split("-")[1])] = (worker["started_at"], worker["finished_at"])
    return out


def overlapping_pairs(times: dict[int, tuple[float, float]]) -> list[tuple[int, int]]:
    """Pairs of trials whose workers ran at the same moment."""
    return [
        (a, b)
        for a, b in combinations(sorted(times), 2)
        if max(times[a][0], times[b][0]) < min(times[a][1], times[b][1])
    ]


def alive(pid: int) -> bool:
    """Running (a zombie, already dead but not yet reaped, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def descendants(root: int) -> list[int]:
    """Every live process below `root`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def pgrep(pattern: str) -> list[int]:
    """Live processes whose command line contains `pattern` (not this test's own pgrep)."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found if int(p) != os.getpid() and alive(int(p))]


def wait_for(pred: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(every)
    return pred()


def check_parallel_run(loop: Loop, summary: RunSummary, budget: int) -> None:
    """What every parallel run must show: the budget spent, all finished, nothing twice, workers overlapping."""
    trials = loop.ledger.trials()
    assert summary.trials == budget and summary.stopped_by == "iterations"
    assert [t.state for t in trials] == ["finished"] * budget, [t.error for t in trials]
    assert len({t.spec_hash for t in trials}) == budget and not any(t.cached for t in trials)
    for t in trials:
        assert loop.store.is_complete(t.output_model), t.output_model
    times = worker_times(loop.run_dir)
    assert sorted(times) == [t.id for t in trials]
    # the first round launches two trials together: their workers' own clocks must overlap
    assert (1, 2) in overlapping_pairs(times), times
