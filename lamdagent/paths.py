"""Where lamdagent keeps caches; one place so tests and users can redirect everything with one variable."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$LAMDAGENT_CACHE`, else `~/.cache/lamdagent`; created on first use."""
    root = Path(os.environ.get("LAMDAGENT_CACHE") or Path.home() / ".cache" / "lamdagent").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def benchmarks_dir(data_dir: str | Path | None = None) -> Path:
    """Public benchmark files: the given folder, else `$LAMDAGENT_BENCHMARKS`, else `shared/benchmarks` beside
    the repository (where a checkout keeps them; they are never copied into it)."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("LAMDAGENT_BENCHMARKS")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
