"""Reading JSON Lines files (datasets, benchmark files) with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lamdagent.errors import LamdagentError


def read_jsonl_numbered(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Objects of a JSON Lines file with their 1-based line numbers (BFCL's `.json` files are JSON Lines too)."""
    rows = []
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LamdagentError(
                        f"{path}:{lineno}: not valid JSON ({exc.msg}); one JSON object per line"
                    ) from None
                if not isinstance(row, dict):
                    raise LamdagentError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                rows.append((lineno, row))
    except FileNotFoundError:
        raise LamdagentError(f"{path} not found; check the path (benchmarks: the data_dir option)") from None
    return rows


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [row for _, row in read_jsonl_numbered(path)]
