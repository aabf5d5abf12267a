"""Helpers shared by tests in several folders: the tiny run config and the sample run of the report tests.

Importable as `helpers` from any test (pytest puts `tests/`, the folder of the root conftest, on sys.path).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

TESTS = Path(__file__).resolve().parent


def tiny_config(base: Path, **over: Any) -> dict[str, Any]:
    """A run config that takes seconds per trial on the tiny random Llama: SFT and preference data from the
    built-in tool-use suite, one SFT step, four evaluation items per split; `over` replaces top-level keys."""
    cfg: dict[str, Any] = {
        "base_models": [str(base)],
        "datasets": [
            {"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": 8},
            {"name": "tool_pref", "kind": "preference", "source": "builtin:tool_use", "size": 8},
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
        "grids": {"sft": {"learning_rate": [1e-4, 1e-3]}, "linear": {"weight": [0.3, 0.5, 0.7]}},
        "policy": {"name": "random"},
        "budget": {"iterations": 2},
        "eval": {"batch_size": 8},
    }
    cfg.update(over)
    return cfg


def sample_run() -> ModuleType:
    """`tests/report/sample_run.py` (a ledger written like the loop writes it), imported by path once, so
    tests outside `tests/report` can use it whatever folders pytest put on sys.path."""
    name = "lamdagent_tests_sample_run"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / "report" / "sample_run.py")
        assert spec and spec.loader
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]
