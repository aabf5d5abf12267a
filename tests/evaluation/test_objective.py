"""The objective: normalised weights, constraints against the base model, ranking, Pareto front."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.objective import Constraint, Objective, pareto_front

PRIMARY = {"tool_use": "accuracy", "instruction_following": "prompt_level_strict_acc"}


def metrics(tool: float, inst: float) -> dict[str, dict[str, float]]:
    return {"tool_use": {"accuracy": tool}, "instruction_following": {"prompt_level_strict_acc": inst}}


def test_weights_are_normalised_and_each_task_can_add_at_most_its_share() -> None:
    obj = Objective({"tool_use": 3.0, "instruction_following": 1.0}, primary=PRIMARY)
    assert obj.weights == {"tool_use": 0.75, "instruction_following": 0.25}
    assert obj.score(metrics(1.0, 1.0)).score == pytest.approx(1.0)
    assert obj.score(metrics(0.0, 0.0)).score == 0.0
    assert obj.score(metrics(0.4, 0.8)).raw == pytest.approx(0.75 * 0.4 + 0.25 * 0.8)

    equal = Objective.equal(["tool_use", "instruction_following"], primary=PRIMARY)
    # equal weights: perfect on one task is worth exactly as much as perfect on the other
    assert equal.score(metrics(1.0, 0.0)).score == equal.score(metrics(0.0, 1.0)).score == pytest.approx(0.5)


def test_the_primary_metric_is_the_one_used() -> None:
    obj = Objective({"instruction_following": 1.0}, primary=PRIMARY)
    m = {"instruction_following": {"prompt_level_strict_acc": 0.2, "inst_level_loose_acc": 0.9}}
    assert obj.score(m).score == pytest.approx(0.2)
    with pytest.raises(LamdagentError, match="no metric 'accuracy'"):
        Objective({"instruction_following": 1.0}).score(m)  # default primary is "accuracy"
    with pytest.raises(LamdagentError, match="no metrics for task 'tool_use'"):
        Objective({"tool_use": 1.0}).score(m)


def test_relative_constraint_against_the_base() -> None:
    obj = Objective.equal(
        ["tool_use", "instruction_following"],
        [Constraint(task="instruction_following", min_delta=-0.01)],
        primary=PRIMARY,
    )
    base = metrics(0.2, 0.50)
    assert obj.score(base, reference=base).feasible  # the base is feasible against itself
    ok = obj.score(metrics(0.6, 0.495), reference=base)  # dropped 0.005 <= 0.01
    assert ok.feasible and ok.violations == [] and ok.score == ok.raw
    bad = obj.score(metrics(0.9, 0.45), reference=base)  # dropped 0.05
    assert not bad.feasible
    assert bad.raw == pytest.approx(0.5 * 0.9 + 0.5 * 0.45)
    assert "instruction_following" in bad.violations[0] and "0.49" in bad.violations[0]
    assert bad.score == pytest.approx(-1.0 - (0.49 - 0.45))
    with pytest.raises(LamdagentError, match="reference"):
        obj.score(metrics(0.5, 0.5))


def test_infeasible_ranks_below_every_feasible_model() -> None:
    obj = Objective.equal(
        ["tool_use", "instruction_following"],
        [Constraint(task="instruction_following", min_delta=-0.01), Constraint(task="tool_use", min=0.1)],
        primary=PRIMARY,
    )
    base = metrics(0.3, 0.5)
    worst_feasible = obj.score(metrics(0.1, 0.49), reference=base)
    best_infeasible = obj.score(metrics(1.0, 0.489), reference=base)  # great raw score, misses by 0.001
    far_infeasible = obj.score(metrics(1.0, 0.2), reference=base)
    both_missed = obj.score(metrics(0.05, 0.2), reference=base)
    assert worst_feasible.feasible and not best_infeasible.feasible
    assert best_infeasible.raw > worst_feasible.raw
    assert worst_feasible.score > best_infeasible.score > far_infeasible.score > both_missed.score
    assert len(both_missed.violations) == 2


def test_absolute_bound_and_describe() -> None:
    obj = Objective(
        {"tool_use": 1.0, "instruction_following": 1.0},
        [Constraint(task="instruction_following", min_delta=-0.01), Constraint(task="tool_use", min=0.3)],
    )
    assert obj.describe() == (
        "maximise 0.5·tool_use + 0.5·instruction_following "
        "subject to instruction_following ≥ base − 0.01 and tool_use ≥ 0.3"
    )
    assert not obj.score(
        {"tool_use": {"accuracy": 0.2}, "instruction_following": {"accuracy": 0.9}},
        reference={"tool_use": {"accuracy": 0.0}, "instruction_following": {"accuracy": 0.5}},
    ).feasible
    assert Objective({"math": 2.0}).describe() == "maximise 1·math"


def test_bad_weights_and_constraints_are_refused() -> None:
    with pytest.raises(LamdagentError, match="weight of 'a'"):
        Objective({"a": -1.0})
    with pytest.raises(LamdagentError, match="all weights are 0"):
        Objective({"a": 0.0})
    with pytest.raises(LamdagentError, match="empty"):
        Objective({})
    with pytest.raises(ValidationError, match="min_delta"):
        Constraint(task="a")
    with pytest.raises(ValidationError):
        Constraint(task="a", min=1.5)
    # a zero weight drops the task from the sum but it can still be constrained
    obj = Objective({"a": 1.0, "b": 0.0}, [Constraint(task="b", min=0.5)])
    assert obj.weights == {"a": 1.0}
    assert not obj.score({"a": {"accuracy": 1.0}, "b": {"accuracy": 0.1}}).feasible


def test_pareto_front_on_crafted_points() -> None:
    points = {
        "base": {"x": 0.2, "y": 0.5},
        "sft": {"x": 0.6, "y": 0.4},
        "merge": {"x": 0.5, "y": 0.55},  # beats base on both
        "dominated": {"x": 0.4, "y": 0.3},  # below sft on both
        "best_y": {"x": 0.1, "y": 0.9},
        "twin": {"x": 0.6, "y": 0.4},  # equal to sft: neither dominates the other
        "partial": {"x": 0.99},  # no y: left out
        "nan": {"x": float("nan"), "y": 1.0},
    }
    assert pareto_front(points, "x", "y") == ["best_y", "merge", "sft", "twin"]
    assert pareto_front({}, "x", "y") == []
    assert pareto_front({1: {"x": 0.0, "y": 0.0}}, "x", "y") == [1]
