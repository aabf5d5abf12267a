"""Where lamdagent keeps caches; one place so tests and users can redirect everything with one variable."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$LAMDAGENT_CACHE`, else `~/.cache/lamdagent`; created on first use."""
    root = Path(os.environ.get("LAMDAGENT_CACHE") or Path.home() / ".cache" / "lamdagent").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root
