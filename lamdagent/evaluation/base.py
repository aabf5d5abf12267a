"""The task contract: a task yields chat prompts for a split and scores the model's answers in [0, 1]."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from lamdagent.registry import Registry

Split = Literal["validation", "test"]


@dataclass(frozen=True)
class EvalItem:
    """One prompt to answer. `reference` is whatever the task's checker needs (answer, calls, instructions)."""

    id: str
    messages: list[dict[str, Any]]
    reference: Any
    category: str | None = None
    tools: list[dict[str, Any]] | None = None  # JSON-schema function docs, when the chat template takes tools
    extra: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """A scored target. Metrics are floats in [0, 1]; `primary_metric` is the one the objective uses."""

    name: str
    primary_metric: ClassVar[str] = "accuracy"
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
TASKS: Registry[TaskFactory] = Registry("task")
