"""What fits in a run's wall clock: how long the next trial of an action type will take, and how much time to
keep for the test scores at the end.

Estimates come from the run's own finished trials, so a slow machine plans by its own speed. A fine-tune and
a merge differ by minutes, so a trial is estimated from trials of its own action type, then of its kind
(`ActionType.relation`: fine-tunes, merges), and only then from the one cost every trial shares, its
validation evaluation. The loop offers a policy only the action types that fit, so a run whose last minutes
cannot hold another fine-tune can still merge what it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lamdagent.actions.base import ACTIONS
from lamdagent.errors import LamdagentError
from lamdagent.ledger import TrialRecord


def action_relation(action: str) -> str:
    """An action type's kind ("finetune", "merge"); an unregistered one is a kind of its own."""
    try:
        return str(ACTIONS.get(action).relation)
    except (LamdagentError, AttributeError):
        return action


def eval_s(timings: Mapping[str, float], split: str) -> float:
    """Seconds one evaluation of `split` took (its model load included); 0 where it was not timed."""
    return float(timings.get(f"eval_{split}_s", 0.0)) + float(timings.get("eval_load_s", 0.0))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class ClockEstimates:
    """Duration estimates from a run's finished trials and its base model's evaluation."""

    trials: tuple[TrialRecord, ...]  # finished trials that ran (cache hits took no time)
    base_timings: Mapping[str, float]  # the first initial model's evaluation timings
    test_share: float = 1.0  # test items / validation items: a test evaluation's cost against a validation one

    @classmethod
    def of(
        cls,
        trials: Iterable[TrialRecord],
        base_timings: Mapping[str, float],
        items: Mapping[str, Mapping[str, int]] | None = None,
    ) -> ClockEstimates:
        timed = tuple(t for t in trials if t.state == "finished" and not t.cached and "wall_s" in t.timings)
        val, test = (sum((items or {}).get(split, {}).values()) for split in ("validation", "test"))
        return cls(timed, base_timings, test / val if val and test else 1.0)

    def _validation_evals(self) -> list[float]:
        return [eval_s(t.timings, "validation") for t in self.trials if "eval_validation_s" in t.timings]

    def trial_s(self, action: str) -> float:
        """The mean duration of this action type's trials; else of its kind's; else a lower bound: the
        validation evaluation every trial ends with (the trials' mean, else the base model's)."""
        kind = action_relation(action)
        for same in (
            [t.timings["wall_s"] for t in self.trials if t.action == action],
            [t.timings["wall_s"] for t in self.trials if action_relation(t.action) == kind],
            self._validation_evals(),
        ):
            mean = _mean(same)
            if mean is not None:
                return mean
        return eval_s(self.base_timings, "validation")

    def test_s(self) -> float:
        """One model's test evaluation: the base model's, or where more, what the trials' validation took
        scaled to the test split's items (a model that rambles to the token limit decodes longer)."""
        trials = _mean(self._validation_evals())
        return max(eval_s(self.base_timings, "test"), (trials or 0.0) * self.test_share)
