"""What a run tells the world while it goes: the loop calls an observer, and never prints itself.

The console (`lamdagent.console`) is one observer; a test, the arena or a notebook can pass another, or none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamdagent.ledger import TrialRecord
from lamdagent.spec import ActionSpec


@dataclass
class RunSummary:
    """How a run ended: the best trial, the initial models' scores, and the best model's pipeline."""

    run_dir: Path
    best: TrialRecord | None
    base: dict[str, Any]
    trials: int
    stopped_by: str
    elapsed_s: float
    pipeline: list[ActionSpec] = field(default_factory=list)
    primary_metrics: dict[str, str] = field(default_factory=dict)
    grids: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    fallbacks: int = 0  # choices the policy made at random because its LLM failed
    items: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> task -> items scored
    # task -> the best model's test gain over the base with a paired 95% interval (`RunInfo.test_gains`)
    test_gains: dict[str, dict[str, float | None]] = field(default_factory=dict)


class RunObserver:
    """No-op hooks; override the ones you need."""

    def evaluating_base(self, model_id: str, name: str | None) -> None:
        """An initial model is about to be scored."""

    def bases(self, entries: dict[str, dict[str, Any]], primary: dict[str, str]) -> None:
        """Every initial model is scored (`entries`: id -> metrics, score, feasible)."""

    def launched(self, trial: TrialRecord, text: str) -> None:
        """A trial was recorded and started (`text`: the spec as people read it)."""

    def duplicate(self, spec: ActionSpec, text: str) -> None:
        """A proposal equal to a trial in flight was dropped."""

    def ended(self, trial: TrialRecord, best: TrialRecord | None, budget: str, primary: dict[str, str]) -> None:
        """A trial finished or failed; `best` is the best trial so far, `budget` what is left, in words."""

    def final_test(self, model_id: str) -> None:
        """One of the best models is being scored on the test split, at the end of the search."""

    def waiting(self, status: str) -> None:
        """Trials are in flight; `status` says which, the best so far and the budget left."""

    def stopped(self, reason: str) -> None:
        """The loop ended (`reason`: the budget that ran out, or `policy`)."""
