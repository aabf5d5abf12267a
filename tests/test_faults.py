"""The fault suite, short: three SIGKILLs of a real run (each aimed at a phase), resumes, then a run to the end.

The logic lives once, in `bench/faults.py` (imported here by path); `python bench/faults.py` runs the long
version whose figures are in docs/reliability.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "faults.py"


def bench_faults() -> ModuleType:
    """`bench/faults.py` as a module (bench/ is not a package)."""
    name = "lamdagent_bench_faults"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is made
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.slow
def test_three_kills_lose_no_trial_and_keep_the_ledger_whole(tiny_model_dir, tmp_path):
    result = bench_faults().run_suite(rounds=3, budget=4, seed=0, work=tmp_path, base=tiny_model_dir)
    assert result["problems"] == []
    # a round whose run ends before its phase comes (budget spent) has no kill; seed 0 kills in all three
    assert result["kills"] >= 1 and result["interrupted_trials"] >= 1
    assert result["trials_lost"] == 0
    assert result["integrity_failures"] == 0
    assert result["orphan_workers"] == 0
    assert result["final_exit_code"] == 0
    # the interrupted trials did not count, and each was run again
    assert result["budget_respected"] and result["finished_trials"] == 4
    assert result["rerun_trials"] == result["interrupted_trials"]
