"""The policy contract: given what the run knows, propose the next action(s) and keep a memory text."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from lamdagent.ledger import TrialRecord
from lamdagent.pool import Candidates, Pool
from lamdagent.registry import Registry
from lamdagent.spec import ActionSpec


@dataclass(frozen=True)
class Proposal:
    """A chosen action and why. `fallback` marks a random choice made after the agent failed to answer."""

    spec: ActionSpec
    rationale: str = ""
    fallback: bool = False
    llm_tokens: int = 0


@dataclass
class PolicyView:
    """Everything a policy may read: the pool, the candidates, finished history, trials in flight, memory.

    Policies see validation scores only (`TrialRecord.metrics` and `score`); test scores are for the report.
    """

    pool: Pool
    candidates: Candidates
    history: list[TrialRecord]
    running: list[ActionSpec] = field(default_factory=list)
    memory: str = ""
    # initial model id -> task -> metric -> value
    base_metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    model_scores: dict[str, float] = field(default_factory=dict)  # model id -> objective score
    primary_metrics: dict[str, str] = field(default_factory=dict)  # task -> the metric its objective term uses
    objective: str = ""  # a sentence describing the goal, for prompts
    iteration: int = 0
    seen_hashes: frozenset[str] = frozenset()  # specs finished or running: never proposed twice


class Policy(ABC):
    """Chooses actions. Implementations must always return valid specs (fall back rather than fail)."""

    name: str = "policy"

    @abstractmethod
    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        """Up to `n` distinct proposals not in `view.seen_hashes` (fewer only when the space is exhausted)."""

    def update_memory(self, view: PolicyView, trial: TrialRecord) -> tuple[str, int] | None:
        """New memory text after a trial and the LLM tokens it cost; None keeps the memory as is."""
        return None


PolicyFactory = Any  # callable(config: PolicyConfig-like dict, seed: int) -> Policy
POLICIES: Registry[PolicyFactory] = Registry("policy")
