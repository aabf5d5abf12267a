"""The task contract: a task yields chat prompts for a split and scores the model's answers in [0, 1].

Also the rules every task shares, kept once so that tasks cannot drift apart: option and split checks, the
seeded validation/test cut, the two ways items are made (a built-in generator's splits, or a benchmark file
cut in halves), and which metric counts for a task.
"""

from __future__ import annotations

import math
import random
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from lamdagent.errors import LamdagentError
from lamdagent.paths import benchmarks_dir
from lamdagent.registry import PluginOptions, Registry

Split = Literal["validation", "test"]
SPLITS: tuple[Split, ...] = ("validation", "test")
DEFAULT_PRIMARY = "accuracy"  # a task's primary metric unless it names another; the objective assumes it too
# Metric names tried, in order, when a task's primary metric is not known (a run without that record).
FALLBACK_METRICS = (DEFAULT_PRIMARY, "primary", "score")


@dataclass(frozen=True)
class EvalItem:
    """One prompt to answer. `reference` is whatever the task's checker needs (answer, calls, instructions)."""

    id: str
    messages: list[dict[str, Any]]
    reference: Any
    category: str | None = None
    tools: list[dict[str, Any]] | None = None  # JSON-schema function docs, when the chat template takes tools
    extra: dict[str, Any] = field(default_factory=dict)


class TaskOptions(PluginOptions):
    """Options every task source takes (a config task's `options`)."""

    seed: int = Field(default=0, description="Seed of the item order and of the validation/test cut")
    max_new_tokens: int | None = Field(
        default=None, ge=1, description="Tokens a model may write per answer; unset: the source's default"
    )


class SizedTaskOptions(TaskOptions):
    """Options of a task whose validation and test splits can be sized."""

    val_size: int | None = Field(default=None, ge=1, description="Validation items; unset: the source's default")
    test_size: int | None = Field(default=None, ge=1, description="Test items; unset: the source's default")


class FileTaskOptions(SizedTaskOptions):
    """Options of a task read from a public benchmark file."""

    data_dir: str | None = Field(
        default=None, description="Folder of the public benchmark files; unset: $LAMDAGENT_BENCHMARKS"
    )


class Task(ABC):
    """A scored target. Metrics are floats in [0, 1]; `primary_metric` is the one the objective uses.

    A task source is a plug-in: registered by name in `TASKS`, with a typed `Options` model that a config
    task's `options` are checked against when the config loads.
    """

    name: str
    primary_metric: ClassVar[str] = DEFAULT_PRIMARY
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    max_new_tokens: int = 128

    @abstractmethod
    def items(self, split: Split, limit: int | None = None) -> list[EvalItem]:
        """The prompts of a split, in a fixed order (deterministic)."""

    @abstractmethod
    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        """Metrics over the answers; must include `primary_metric`."""

    def score_one(self, item: EvalItem, output: str) -> bool | None:  # noqa: B027 - optional hook
        """Whether one answer is right (for per-item reports); None where the task has no such notion."""
        return None


TaskFactory = Callable[..., Task]
# name -> factory(**options) -> Task; options come from a config task entry (seed, val_size, test_size, ...).
TASKS: Registry[TaskFactory] = Registry("task source")


def check_split(task: str, split: str) -> None:
    """Refuse a split other than validation and test (a typo would otherwise evaluate nothing)."""
    if split not in SPLITS:
        raise LamdagentError(f"task {task!r}: unknown split {split!r}; use 'validation' or 'test'")


def check_size(task: str, option: str, value: Any, *, allow_none: bool = False) -> int | None:
    """A task option that counts items or tokens: a positive integer (or None where that means "all")."""
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LamdagentError(f"task {task!r}: option {option}={value!r} must be a positive integer")
    return value


def seeded_split(
    n: int, seed: int | str, *, count: int | None = None, fraction: float | None = None
) -> tuple[list[int], list[int]]:
    """Indices 0..n-1 shuffled by `seed` and cut in two: (validation, test), disjoint and covering all.

    The cut takes `count` indices, or `fraction` of them rounded but leaving at least one on each side. Both
    lists keep the shuffled order (sort them for file order). The same n and seed always give the same cut,
    so an item never moves between validation and test from one run to the next.
    """
    if (count is None) == (fraction is None):
        raise ValueError("give exactly one of count and fraction")
    if count is None:
        count = min(max(round(n * float(fraction)), 1), n - 1)  # type: ignore[arg-type]
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order[:count], order[count:]


def primary_metric_name(values: Mapping[str, Any], primary: str | None = None) -> str | None:
    """The metric a task counts by: its primary metric when known and reported, else the first of
    `FALLBACK_METRICS` it reports, else its first metric; None when it reports none."""
    for name in (primary, *FALLBACK_METRICS):
        if name and name in values:
            return name
    return next(iter(values), None)


def primary_value(values: Mapping[str, float] | float | None, primary: str | None = None) -> float | None:
    """The one number that counts for a task (see `primary_metric_name`); a bare number is that number, and
    None means the task has no score (not evaluated, or no metrics)."""
    if values is None or isinstance(values, int | float):
        return None if values is None else float(values)
    name = primary_metric_name(values, primary)
    return None if name is None else float(values[name])


class GeneratedSplits(Task):
    """Items from a built-in seeded generator's `validation` and `test` rows (shared by the built-in tasks);
    options left out take the class defaults."""

    Options = SizedTaskOptions

    default_sizes: ClassVar[tuple[int, int]] = (48, 96)  # validation, test
    default_max_new_tokens: ClassVar[int]

    def __init__(
        self,
        seed: int = 0,
        val_size: int | None = None,
        test_size: int | None = None,
        max_new_tokens: int | None = None,
    ) -> None:
        chosen = {
            "val_size": self.default_sizes[0] if val_size is None else val_size,
            "test_size": self.default_sizes[1] if test_size is None else test_size,
            "max_new_tokens": self.default_max_new_tokens if max_new_tokens is None else max_new_tokens,
        }
        for option, value in chosen.items():
            check_size(self.name, option, value)
        self.seed, self.max_new_tokens = seed, chosen["max_new_tokens"]
        self.sizes: dict[Split, int] = {"validation": chosen["val_size"], "test": chosen["test_size"]}
        self._cache: dict[Split, list[EvalItem]] = {}

    @staticmethod
    def generator(split: Split, n: int, seed: int) -> list[dict[str, Any]]:
        """`n` rows of a split; a subclass sets it to its generator with `generator = staticmethod(generate)`."""
        raise NotImplementedError

    def item_extra(self, row: dict[str, Any]) -> dict[str, Any]:
        """What a generated row adds to its item's `extra` for the scorer (here: whether it is held out)."""
        return {"heldout": row["heldout"]}

    def items(self, split: Split, limit: int | None = None) -> list[EvalItem]:
        check_split(self.name, split)
        if split not in self._cache:
            self._cache[split] = [
                EvalItem(
                    id=row["id"],
                    messages=row["messages"],
                    reference=row["reference"],
                    category=row["category"],
                    extra=self.item_extra(row),
                )
                for row in type(self).generator(split, self.sizes[split], self.seed)
            ]
        return self._cache[split][:limit]


class FileHalves(Task):
    """Items read from a public benchmark file (`FILE` under the benchmarks folder), split by seed into a
    validation and a test half; `val_size`/`test_size` cap each half (None: all of it)."""

    Options = FileTaskOptions
    FILE: ClassVar[Path]
    default_max_new_tokens: ClassVar[int]

    def __init__(
        self,
        data_dir: str | Path | None = None,
        seed: int = 0,
        val_size: int | None = None,
        test_size: int | None = None,
        max_new_tokens: int | None = None,
    ) -> None:
        max_new_tokens = self.default_max_new_tokens if max_new_tokens is None else max_new_tokens
        for option, value in (("val_size", val_size), ("test_size", test_size)):
            check_size(self.name, option, value, allow_none=True)
        check_size(self.name, "max_new_tokens", max_new_tokens)
        self.path = benchmarks_dir(data_dir) / self.FILE
        self.seed, self.max_new_tokens = seed, max_new_tokens
        self.sizes: dict[Split, int | None] = {"validation": val_size, "test": test_size}
        self._splits: dict[Split, list[EvalItem]] | None = None

    @abstractmethod
    def read_items(self) -> list[EvalItem]:
        """Every item of the file, in file order; errors name `self.path` and the line."""

    def items(self, split: Split, limit: int | None = None) -> list[EvalItem]:
        check_split(self.name, split)
        if self._splits is None:
            items = self.read_items()
            halves = dict(zip(SPLITS, seeded_split(len(items), self.seed, count=len(items) // 2), strict=True))
            self._splits = {s: [items[i] for i in halves[s]][: self.sizes[s]] for s in SPLITS}
        return self._splits[split][:limit]


def wilson_interval(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a share `p` measured on `n` items: honest at small n and near 0 or 1,
    where the normal approximation gives intervals past [0, 1]."""
    if n <= 0:
        return (0.0, 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_interval(values: Sequence[float], seed: int = 0, resamples: int = 2000) -> dict[str, float | None]:
    """Mean and a 95% percentile-bootstrap interval of the mean over the finite values (seeds of a policy, or
    the per-item differences of two models on the same items: a paired interval)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = statistics.fmean(vals)
    if len(vals) == 1:
        return {"mean": mean, "low": mean, "high": mean, "n": 1}
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(vals, k=len(vals))) for _ in range(resamples))
    low = means[int(0.025 * (resamples - 1))]
    high = means[int(math.ceil(0.975 * (resamples - 1)))]
    return {"mean": mean, "low": low, "high": high, "n": len(vals)}
