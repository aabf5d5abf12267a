"""Instruction-following tasks: the built-in IFEval-style suite and the real IFEval prompts.

Both are scored by the offline IFEval checkers with IFEval's four metrics. The built-in task's primary metric
is instruction-level loose accuracy: every instruction counts on its own, a smoother signal than all-or-nothing
prompts on a few dozen items (SmolLM2-135M-Instruct: 0.43 instruction-level, 0.22 prompt-level on 32 test
prompts), and a preamble or sign-off line is forgiven. The real IFEval keeps its usual headline,
prompt-level strict accuracy, so its numbers compare with published ones.

This module also holds `seeded_halves`, which the file-backed tasks share.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from lamdagent.data.builtin.instruction_following import generate as generate_if
from lamdagent.data.jsonl import read_jsonl
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import TASKS, EvalItem, Split, Task
from lamdagent.evaluation.checkers.ifeval import (
    INSTRUCTIONS,
    follows_loose,
    follows_strict,
    ifeval_metrics,
    instruction_family,
)
from lamdagent.paths import benchmarks_dir

SPLITS: tuple[Split, ...] = ("validation", "test")


def seeded_halves(rows: list[Any], seed: int) -> dict[Split, list[Any]]:
    """A seeded shuffle cut in two: validation (the first half) and test (the rest), never overlapping."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    return {"validation": [rows[i] for i in order[:half]], "test": [rows[i] for i in order[half:]]}


def check_size(task: str, option: str, value: Any, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LamdagentError(f"task {task!r}: option {option}={value!r} must be a positive integer")


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise LamdagentError(f"split {split!r} is unknown; use 'validation' or 'test'")


class GeneratedSplits(Task):
    """Items from a built-in seeded generator's `validation` and `test` rows (shared by the built-in tasks)."""

    generator: ClassVar[Callable[[str, int, int], list[dict[str, Any]]]]
    default_max_new_tokens: ClassVar[int]

    def __init__(
        self, seed: int = 0, val_size: int = 48, test_size: int = 96, max_new_tokens: int | None = None
    ) -> None:
        max_new_tokens = self.default_max_new_tokens if max_new_tokens is None else max_new_tokens
        for option, value in (("val_size", val_size), ("test_size", test_size), ("max_new_tokens", max_new_tokens)):
            check_size(self.name, option, value, allow_none=False)
        self.seed, self.max_new_tokens = seed, max_new_tokens
        self.sizes: dict[Split, int] = {"validation": val_size, "test": test_size}
        self._cache: dict[Split, list[EvalItem]] = {}

    def items(self, split: Split, limit: int | None = None) -> list[EvalItem]:
        check_split(split)
        if split not in self._cache:
            self._cache[split] = [
                EvalItem(
                    id=row["id"],
                    messages=row["messages"],
                    reference=row["reference"],
                    category=row["category"],
                    extra={"heldout": row["heldout"]},
                )
                for row in type(self).generator(split, self.sizes[split], self.seed)
            ]
        return self._cache[split][:limit]


class _IFScoring(Task):
    """Scoring shared by both instruction-following tasks; `reference` = {instruction_id_list, kwargs}."""

    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        if len(items) != len(outputs):
            raise ValueError(f"{len(items)} items but {len(outputs)} outputs")
        strict, loose = [], []
        for item, output in zip(items, outputs, strict=True):
            ids, kwargs = item.reference["instruction_id_list"], item.reference["kwargs"]
            strict.append(follows_strict(output, ids, kwargs))
            loose.append(follows_loose(output, ids, kwargs))
        metrics = ifeval_metrics(strict, loose)
        held = [i for i, item in enumerate(items) if item.extra.get("heldout")]
        if held:
            sub = ifeval_metrics([strict[i] for i in held], [loose[i] for i in held])
            metrics[f"{self.primary_metric}_heldout"] = sub[self.primary_metric]
        # Per instruction family (`keywords`, `change_case`, ...), over every instruction of that family.
        families: dict[str, list[bool]] = {}
        for item, followed in zip(items, loose, strict=True):
            for instruction, ok in zip(item.reference["instruction_id_list"], followed, strict=True):
                families.setdefault(instruction_family([instruction]), []).append(ok)
        for family, oks in sorted(families.items()):
            metrics[f"inst_level_loose_acc_{family}"] = sum(oks) / len(oks)
        return metrics

    def score_one(self, item: EvalItem, output: str) -> bool:
        """Every instruction followed, strictly."""
        ref = item.reference
        return all(follows_strict(output, ref["instruction_id_list"], ref["kwargs"]))


class BuiltinIFTask(GeneratedSplits, _IFScoring):
    """The offline instruction-following suite: generated prompts with one to three verifiable instructions."""

    name = "instruction_following"
    primary_metric: ClassVar[str] = "inst_level_loose_acc"
    generator = staticmethod(generate_if)
    default_max_new_tokens = 200


class IFEvalTask(_IFScoring):
    """Google's IFEval prompts (`ifeval/input_data.jsonl`), split by seed into validation and test halves."""

    name = "ifeval"
    primary_metric: ClassVar[str] = "prompt_level_strict_acc"
    FILE = Path("ifeval") / "input_data.jsonl"

    def __init__(
        self,
        data_dir: str | Path | None = None,
        seed: int = 0,
        val_size: int | None = None,
        test_size: int | None = None,
        max_new_tokens: int = 256,
    ) -> None:
        for option, value in (("val_size", val_size), ("test_size", test_size)):
            check_size(self.name, option, value)
        check_size(self.name, "max_new_tokens", max_new_tokens, allow_none=False)
        self.path = benchmarks_dir(data_dir) / self.FILE
        self.seed, self.max_new_tokens = seed, max_new_tokens
        self.sizes: dict[Split, int | None] = {"validation": val_size, "test": test_size}
        self._splits: dict[Split, list[EvalItem]] | None = None

    def _load(self) -> dict[Split, list[EvalItem]]:
        items = []
        for number, row in enumerate(read_jsonl(self.path), 1):
            ids, kwargs = row.get("instruction_id_list"), row.get("kwargs")
            if not isinstance(row.get("prompt"), str) or not isinstance(ids, list) or not isinstance(kwargs, list):
                raise LamdagentError(
                    f"{self.path}:{number}: each row needs 'prompt', 'instruction_id_list' and 'kwargs'"
                )
            if len(ids) != len(kwargs):
                raise LamdagentError(f"{self.path}:{number}: 'instruction_id_list' and 'kwargs' differ in length")
            unknown = [i for i in ids if i not in INSTRUCTIONS]
            if unknown:
                raise LamdagentError(
                    f"{self.path}:{number}: instruction {unknown[0]!r} is not supported; "
                    f"known: {', '.join(INSTRUCTIONS.names())}"
                )
            items.append(
                EvalItem(
                    id=str(row.get("key", number)),
                    messages=[{"role": "user", "content": row["prompt"]}],
                    reference={"instruction_id_list": ids, "kwargs": [k or {} for k in kwargs]},
                    category=instruction_family(ids),
                )
            )
        halves = seeded_halves(items, self.seed)
        return {split: halves[split][: self.sizes[split]] for split in SPLITS}

    def items(self, split: Split, limit: int | None = None) -> list[EvalItem]:
        check_split(split)
        if self._splits is None:
            self._splits = self._load()
        return self._splits[split][:limit]


TASKS.register("builtin:instruction_following", BuiltinIFTask)
TASKS.register("ifeval", IFEvalTask)
