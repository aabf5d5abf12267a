"""Helpers shared by tests in several folders: the tiny run config and the sample run of the report tests.

Importable as `helpers` from any test (pytest puts `tests/`, the folder of the root conftest, on sys.path).
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

TESTS = Path(__file__).resolve().parent


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (for a test server, or a refused connection)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiny_config(base: Path, **over: Any) -> dict[str, Any]:
    """The tiny run config (`lamdagent.models.tiny.tiny_run_config`); `over` replaces top-level keys."""
    from lamdagent.models.tiny import tiny_run_config

    return tiny_run_config(base, **over)


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
