"""The one scalar the agent maximises: a weighted sum of task metrics, with optional constraints.

Following the paper, every task can contribute at most its weight: metrics lie in [0, 1] and the weights
are normalised to sum to 1, so equal weights give every task the same maximum contribution and a feasible
score lies in [0, 1].

Constraints bound a task's primary metric, absolutely (`min`) or relative to a reference model, usually
the base (`min_delta`: "may not drop more than 0.01 below the base" is `min_delta: -0.01`). A model that
breaks one is infeasible and scores `-1 - violation`, where `violation` is the total amount by which it
misses its bounds: below every feasible model (whose scores are >= 0), and among infeasible models the
one closer to feasibility ranks higher (Deb's rule). The unpenalised weighted sum is kept as `raw`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import DEFAULT_PRIMARY

Metrics = Mapping[str, Mapping[str, float]]
K = TypeVar("K", bound=Hashable)
TOLERANCE = 1e-9  # float noise must not make the base model infeasible against itself


class Constraint(BaseModel):
    """A lower bound on one task's metric: absolute (`min`), relative to the reference (`min_delta`), or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str = Field(description="Task name, as in the run config's task list.")
    min_delta: float | None = Field(
        default=None,
        description="Lowest allowed difference from the reference (base) model; -0.01 allows a 0.01 drop.",
    )
    min: float | None = Field(default=None, ge=0.0, le=1.0, description="Lowest allowed absolute value.")
    metric: str | None = Field(default=None, description="Metric to bound; default: the task's primary metric.")

    @model_validator(mode="after")
    def _has_a_bound(self) -> Constraint:
        if self.min_delta is None and self.min is None:
            raise ValueError(f"constraint on {self.task!r} needs `min_delta` or `min`")
        return self


@dataclass(frozen=True)
class ObjectiveResult:
    """`score` ranks models (penalised when infeasible); `raw` is the plain weighted sum."""

    score: float
    raw: float
    feasible: bool
    violations: list[str] = field(default_factory=list)


class Objective:
    """Weighted sum of primary metrics under constraints; see the module docstring for the penalty."""

    def __init__(
        self,
        weights: Mapping[str, float],
        constraints: list[Constraint] | None = None,
        primary: Mapping[str, str] | None = None,
    ) -> None:
        if not weights:
            raise LamdagentError("objective: `weights` is empty; give at least one task")
        for task, w in weights.items():
            if not math.isfinite(w) or w < 0:
                raise LamdagentError(f"objective: weight of {task!r} is {w}; weights must be finite and >= 0")
        total = sum(weights.values())
        if total <= 0:
            raise LamdagentError("objective: all weights are 0; give at least one task a positive weight")
        # A zero weight drops the task from the sum; it may still be constrained.
        self.weights = {task: w / total for task, w in weights.items() if w > 0}
        self.constraints = list(constraints or [])
        self.primary = dict(primary or {})

    @classmethod
    def equal(
        cls, tasks: list[str], constraints: list[Constraint] | None = None, primary: Mapping[str, str] | None = None
    ) -> Objective:
        """Every task weighted the same: the paper's default."""
        return cls(dict.fromkeys(tasks, 1.0), constraints, primary)

    def metric_name(self, task: str) -> str:
        """The metric a task's term uses: its declared primary metric, else the task default. Unlike
        `primary_metric_name` there is no fallback: a missing metric is an error, never a silent stand-in."""
        return self.primary.get(task, DEFAULT_PRIMARY)

    def _value(self, metrics: Metrics, task: str, metric: str, what: str) -> float:
        if task not in metrics:
            raise LamdagentError(f"objective: no metrics for task {task!r} in the {what} (have: {', '.join(metrics)})")
        if metric not in metrics[task]:
            have = ", ".join(metrics[task]) or "none"
            raise LamdagentError(f"objective: task {task!r} has no metric {metric!r} in the {what} (have: {have})")
        return float(metrics[task][metric])

    def score(self, metrics: Metrics, reference: Metrics | None = None) -> ObjectiveResult:
        """Score a model's metrics; `reference` (the base model's metrics) is needed by `min_delta` bounds."""
        raw = sum(w * self._value(metrics, t, self.metric_name(t), "model") for t, w in self.weights.items())
        violations: list[str] = []
        missed = 0.0
        for c in self.constraints:
            metric = c.metric or self.metric_name(c.task)
            value = self._value(metrics, c.task, metric, "model")
            if c.min is not None and value < c.min - TOLERANCE:
                missed += c.min - value
                violations.append(f"{c.task}.{metric} = {value:.4g} < {c.min:g}")
            if c.min_delta is not None:
                if reference is None:
                    raise LamdagentError(
                        f"objective: the constraint on {c.task!r} is relative to the base model; "
                        "pass the base model's metrics as `reference`"
                    )
                bound = self._value(reference, c.task, metric, "reference") + c.min_delta
                if value < bound - TOLERANCE:
                    missed += bound - value
                    violations.append(f"{c.task}.{metric} = {value:.4g} < base {_signed(c.min_delta)} = {bound:.4g}")
        if violations:
            return ObjectiveResult(score=-1.0 - missed, raw=raw, feasible=False, violations=violations)
        return ObjectiveResult(score=raw, raw=raw, feasible=True)

    def describe(self) -> str:
        """One sentence for the agent's prompt, e.g. "maximise 0.5·a + 0.5·b subject to b ≥ base − 0.01"."""
        terms = " + ".join(f"{w:.3g}·{t}" for t, w in self.weights.items())
        text = f"maximise {terms}"
        bounds = []
        for c in self.constraints:
            name = c.task if c.metric is None else f"{c.task}.{c.metric}"
            if c.min is not None:
                bounds.append(f"{name} ≥ {c.min:g}")
            if c.min_delta is not None:
                bounds.append(f"{name} ≥ base {_signed(c.min_delta).replace('-', '−')}")
        if bounds:
            text += " subject to " + " and ".join(bounds)
        return text


def _signed(delta: float) -> str:
    return f"+ {delta:g}" if delta >= 0 else f"- {-delta:g}"


def pareto_front(points: Mapping[K, Mapping[str, float]], x: str, y: str) -> list[K]:
    """Ids of the points no other point beats on both `x` and `y` (higher is better), sorted by `x`.

    Points lacking either coordinate, or with NaN there, are left out; equal points are all kept.
    """
    usable = {
        k: (float(p[x]), float(p[y]))
        for k, p in points.items()
        if x in p and y in p and not (math.isnan(p[x]) or math.isnan(p[y]))
    }

    def dominated(a: tuple[float, float]) -> bool:
        return any(b[0] >= a[0] and b[1] >= a[1] and b != a for b in usable.values())

    front = [k for k, v in usable.items() if not dominated(v)]
    return sorted(front, key=lambda k: (usable[k][0], -usable[k][1]))


def objective_from_config(config: Mapping[str, Any], primary: Mapping[str, str] | None = None) -> Objective:
    """The run's objective from its config as JSON (task weights and constraints): the one place it is built,
    so the loop that scores trials and the report that explains them always agree."""
    tasks = [t for t in config.get("tasks") or [] if isinstance(t, Mapping) and "name" in t]
    constraints = [
        Constraint(**{k: c[k] for k in ("task", "min_delta", "min", "metric") if c.get(k) is not None})
        for c in config.get("constraints") or []
    ]
    return Objective({t["name"]: float(t.get("weight", 1.0)) for t in tasks}, constraints, primary)
