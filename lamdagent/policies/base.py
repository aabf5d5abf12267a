"""The policy contract: given what the run knows, propose the next action(s) and keep a memory text."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

from lamdagent.ledger import TrialRecord
from lamdagent.llm.base import parse_client_config
from lamdagent.pool import Candidates, Pool
from lamdagent.registry import PluginOptions, Registry
from lamdagent.spec import ActionSpec


@dataclass(frozen=True)
class Proposal:
    """A chosen action and why. `fallback` marks a random choice made after the agent failed to answer."""

    spec: ActionSpec
    rationale: str = ""
    fallback: bool = False
    llm_tokens: int = 0
    decision: dict[str, Any] | None = None  # how an LLM chose it (prompts, answers, option scores), for the record


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
    # pipeline signatures (`lamdagent.signature`), filled by a loop that signs its models: with them, a spec
    # equal to a tried one under other ids or in the other order of a symmetric merge, or a no-op, is seen too
    seen_signatures: frozenset[str] = frozenset()
    model_signatures: dict[str, str] = field(default_factory=dict)  # pool model id -> its signature
    items: dict[str, int] = field(default_factory=dict)  # task -> validation items a score is measured on
    violations: dict[str, list[str]] = field(default_factory=dict)  # model id -> the constraints it breaks
    budget: str = ""  # what is left, e.g. "iterations 3, wall_clock_s 1440"
    verdicts: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # model -> task -> 0/1 per item
    rank: Callable[[Mapping[str, float]], float] | None = None  # the objective of per-task scores (for screening)


class PolicyOptions(PluginOptions):
    """Options every policy takes, so a run can switch policy (`--policy random`) and keep its agent LLM."""

    llm: dict[str, Any] = Field(
        default_factory=lambda: {"backend": "local"},
        description="The agent LLM for LLM-driven policies: `backend` and that backend's settings",
    )
    max_retries: int = Field(default=2, ge=0, le=10, description="Re-asks after an invalid LLM answer")
    screen: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Candidates proposed per trial; above 1 the lineage predictor runs the best predicted one",
    )


class Policy(ABC):
    """Chooses actions. Implementations must always return valid specs (fall back rather than fail).

    A policy is a plug-in: a `name`, a typed `Options` model checked when the config loads, and `create`.
    """

    name: ClassVar[str] = "policy"
    Options: ClassVar[type[PolicyOptions]] = PolicyOptions

    @classmethod
    def create(cls, options: Any, seed: int) -> Policy:
        """Build the policy from its validated options and the run's seed (every registered policy does)."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a config")

    @abstractmethod
    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        """Up to `n` distinct proposals not in `view.seen_hashes` (fewer only when the space is exhausted)."""

    def update_memory(self, view: PolicyView, trial: TrialRecord) -> tuple[str, int] | None:
        """New memory text after a trial and the LLM tokens it cost; None keeps the memory as is."""
        return None


POLICIES: Registry[type[Policy]] = Registry("policy")


def step_rng(seed: int, view: PolicyView) -> random.Random:
    """The random stream of one proposal round, from the run's seed and the iteration: a resumed run goes on
    with new draws where a stream seeded once per process would replay its first ones after every resume."""
    return random.Random(f"{seed}|{view.iteration}")


def policy_options(name: str, raw: Mapping[str, Any] | None) -> PolicyOptions:
    """Check the `policy` section (without its `name`) against the named policy's options."""
    options = POLICIES.options(name, raw, "policy")
    parse_client_config(options.llm, "policy.llm")  # type: ignore[attr-defined]
    return options  # type: ignore[return-value]


def make_policy(name: str, raw: Mapping[str, Any] | None, seed: int) -> Policy:
    """The named policy, its options checked, seeded; wrapped in screening when `screen` asks for it."""
    options = policy_options(name, raw)
    policy = POLICIES.get(name).create(options, seed)
    if options.screen > 1:
        from lamdagent.policies.screen import ScreenedPolicy

        return ScreenedPolicy(policy, options.screen, seed)
    return policy
