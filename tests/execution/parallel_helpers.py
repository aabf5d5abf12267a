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

import helpers

from lamdagent.io import pid_alive

if TYPE_CHECKING:
    from lamdagent.loop import Loop, RunSummary


def tiny_config(base: Path, **over: Any) -> dict[str, Any]:
    """The shared tiny run with SFT data only, three learning rates and four iterations (room for parallel
    trials that never repeat a spec)."""
    parallel: dict[str, Any] = {
        "datasets": [{"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": 8}],
        "grids": {"sft": {"learning_rate": [1e-4, 3e-4, 1e-3]}, "linear": {"weight": [0.3, 0.5, 0.7]}},
        "budget": {"iterations": 4},
    }
    return helpers.tiny_config(base, **{**parallel, **over})


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
    return [int(p) for p in found if int(p) != os.getpid() and pid_alive(int(p))]


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
