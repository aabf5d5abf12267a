"""Seeded generators of the offline suite. Each is registered as `generate(split, n, seed) -> rows`.

Splits: `sft` (canonical SFT rows), `preference` (prompt/chosen/rejected, rejected = a realistic mistake),
`validation` and `test` (eval rows `{"id", "messages", "reference", "category"}`). The four are disjoint, and
part of `test` uses templates or functions never seen in the other splits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from lamdagent.registry import Registry

BuiltinSplit = Literal["sft", "preference", "validation", "test"]
Generator = Callable[[BuiltinSplit, int, int], list[dict[str, Any]]]
BUILTIN_DATA: Registry[Generator] = Registry("built-in dataset")

# Importing the generators registers them (they import BUILTIN_DATA from this module).
from lamdagent.data.builtin import instruction_following, math, tool_use  # noqa: E402, F401
