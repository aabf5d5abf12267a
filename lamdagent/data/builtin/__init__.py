"""Seeded generators of the offline suite. Each is registered as `generate(split, n, seed) -> rows`.

Splits: `sft` (canonical SFT rows), `preference` (prompt/chosen/rejected, rejected = a realistic mistake),
`validation` and `test` (eval rows `{"id", "messages", "reference", "category"}`). The four are disjoint, and
part of `test` uses templates or functions never seen in the other splits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from lamdagent.errors import LamdagentError
from lamdagent.registry import Registry

BuiltinSplit = Literal["sft", "preference", "validation", "test"]
Generator = Callable[[BuiltinSplit, int, int], list[dict[str, Any]]]
BUILTIN_DATA: Registry[Generator] = Registry("built-in dataset")


class HashSplits:
    """Disjoint splits by a stable hash: the digest of an item's key, modulo the total of the shares, picks its
    split. The same item lands in the same split for every seed and in every process, so a generated
    evaluation item never turns up in training data, whatever the seeds of the two.

    `shares` maps each split to its number of buckets, in order (`{"sft": 12, ..., "test": 2}`: 12 of the
    first buckets go to sft). A key is a string, or anything JSON can write (hashed as sorted-key JSON).
    """

    def __init__(self, generator: str, shares: Mapping[str, int], algorithm: str = "sha1") -> None:
        self.generator, self.algorithm = generator, algorithm
        self.total = sum(shares.values())
        self.ranges: dict[str, range] = {}
        start = 0
        for split, share in shares.items():
            self.ranges[split] = range(start, start + share)
            start += share

    def check(self, split: str) -> None:
        """Refuse a split the generator does not make (the message lists the ones it does)."""
        if split not in self.ranges:
            raise LamdagentError(
                f"{self.generator}: unknown split {split!r} for built-in data; use one of: {', '.join(self.ranges)}"
            )

    def split_of(self, key: Any) -> str:
        """The split an item with this key belongs to."""
        text = key if isinstance(key, str) else json.dumps(key, sort_keys=True)
        bucket = int(hashlib.new(self.algorithm, text.encode()).hexdigest(), 16) % self.total
        return next(split for split, buckets in self.ranges.items() if bucket in buckets)


# Importing the generators registers them (they import BUILTIN_DATA from this module).
from lamdagent.data.builtin import instruction_following, math, tool_use  # noqa: E402, F401
