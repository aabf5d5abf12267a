"""Duration estimates of the next trial and of a test evaluation, from a run's own trials."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from lamdagent.clock import ClockEstimates, action_relation, eval_s

BASE = {"eval_validation_s": 90.0, "eval_test_s": 60.0, "eval_load_s": 5.0}


def trial(action: str, wall: float, val: float | None = None, cached: bool = False, state: str = "finished") -> Any:
    timings = {"wall_s": wall} | ({"eval_validation_s": val, "eval_load_s": 1.0} if val is not None else {})
    return SimpleNamespace(action=action, state=state, cached=cached, timings=timings)


def test_a_trial_is_estimated_by_its_action_type_then_its_kind_then_its_evaluation():
    clock = ClockEstimates.of([trial("sft", 400.0, 70.0), trial("sft", 500.0, 70.0), trial("linear", 80.0, 69.0)], BASE)
    assert clock.trial_s("sft") == 450.0
    assert clock.trial_s("dpo") == 450.0  # another fine-tune: the fine-tunes' mean, not the merge's
    assert clock.trial_s("slerp") == 80.0  # another merge
    # nothing of its kind yet: the validation evaluation every trial ends with (the trials' mean)
    assert ClockEstimates.of([trial("sft", 400.0, 70.0)], BASE).trial_s("ties") == 71.0
    assert ClockEstimates.of([], BASE).trial_s("sft") == 95.0  # no trial yet: the base model's evaluation


def test_cache_hits_failures_and_untimed_trials_do_not_count():
    trials = [trial("sft", 0.0, cached=True), trial("sft", 900.0, state="failed"), trial("sft", 300.0, 60.0)]
    assert ClockEstimates.of(trials, BASE).trial_s("sft") == 300.0
    untimed = SimpleNamespace(action="sft", state="finished", cached=False, timings={})
    assert ClockEstimates.of([untimed], BASE).trials == ()


def test_a_test_evaluation_costs_the_base_models_or_what_trials_validation_took_scaled_to_the_test_items():
    assert ClockEstimates.of([], BASE).test_s() == 65.0
    slow = [trial("sft", 400.0, 99.0)]  # trial models decode longer than the base: 100 s a validation split
    assert ClockEstimates.of(slow, BASE).test_s() == 100.0
    items = {"validation": {"tool_use": 48, "if": 16}, "test": {"tool_use": 96, "if": 32}}
    assert ClockEstimates.of(slow, BASE, items).test_s() == 200.0  # twice the items


def test_kinds_come_from_the_action_registry():
    import lamdagent.actions  # noqa: F401 - registers the built-in action types

    assert action_relation("sft") == action_relation("dpo") == "finetune"
    assert action_relation("slerp") == action_relation("ties") == "merge"
    assert action_relation("no_such_action") == "no_such_action"
    assert eval_s({"eval_test_s": 3.0}, "test") == 3.0 and eval_s({}, "validation") == 0.0
