"""The random baseline, and the choice-space helpers every policy shares (enumerate, count, draw unseen).

Random search is the yardstick the paper's agent must beat: uniform over action types, then over each
slot's options, never a spec already finished, running or proposed in the same batch.
"""

from __future__ import annotations

import itertools
import math
import random as _random
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lamdagent.errors import LamdagentError
from lamdagent.policies.base import POLICIES, Policy, PolicyView, Proposal
from lamdagent.pool import ActionCandidates, Candidates
from lamdagent.spec import ActionSpec

ENUMERATION_LIMIT = 5000  # choices of one action type enumerated exactly; beyond it, sampling only
RANDOM_TRIES = 64


def choice_count(cands: ActionCandidates, restrict: Mapping[str, Sequence[Any]] | None = None) -> int:
    """How many slot assignments an action type has: lists are ordered and no model fills two model
    slots (exact when the model slots share their options, as the pool makes them; else an upper bound)."""
    model_slots = [s for s in cands.slots if s.kind == "model"]
    shared = len({tuple(_options(s.name, s.options, restrict)) for s in model_slots}) == 1
    total, others = 1, list(cands.slots)
    if shared:
        total = math.perm(
            len(_options(model_slots[0].name, model_slots[0].options, restrict)), sum(s.count for s in model_slots)
        )
        others = [s for s in cands.slots if s.kind != "model"]
    for slot in others:
        total *= math.perm(len(_options(slot.name, slot.options, restrict)), slot.count)
    return total


def _options(name: str, options: Sequence[Any], restrict: Mapping[str, Sequence[Any]] | None) -> list[Any]:
    if restrict is None or name not in restrict:
        return list(options)
    allowed = list(restrict[name])
    return [o for o in options if o in allowed]


def iter_choices(
    cands: ActionCandidates, restrict: Mapping[str, Sequence[Any]] | None = None
) -> Iterator[dict[str, Any]]:
    """Every slot assignment, optionally with some slots' options narrowed by `restrict`."""
    per_slot = []
    for slot in cands.slots:
        opts = _options(slot.name, slot.options, restrict)
        per_slot.append([list(p) for p in itertools.permutations(opts, slot.count)] if slot.count > 1 else opts)
    for values in itertools.product(*per_slot):
        yield {slot.name: v for slot, v in zip(cands.slots, values, strict=True)}


def try_build(candidates: Candidates, action: str, choice: dict[str, Any]) -> ActionSpec | None:
    """The spec of a choice, or None when a grid value breaks the action's parameter bounds."""
    try:
        return candidates.build_spec(action, choice)
    except (ValueError, ValidationError, LamdagentError):
        return None


def unseen_choices(
    candidates: Candidates,
    action: str,
    seen: Collection[str],
    restrict: Mapping[str, Sequence[Any]] | None = None,
    limit: int = ENUMERATION_LIMIT,
) -> list[tuple[dict[str, Any], ActionSpec]] | None:
    """All choices of `action` whose spec is not in `seen`; None when there are more than `limit`."""
    cands = candidates.actions[action]
    if choice_count(cands, restrict) > limit:
        return None
    out = []
    for choice in iter_choices(cands, restrict):
        spec = try_build(candidates, action, choice)
        if spec is not None and spec.spec_hash() not in seen:
            out.append((choice, spec))
    return out


def random_unseen(
    candidates: Candidates, seen: Collection[str], rng: _random.Random, actions: Sequence[str] | None = None
) -> ActionSpec | None:
    """A uniformly drawn valid spec not in `seen`; None when every choice has been tried."""
    names = sorted(actions if actions is not None else candidates.actions)
    if not names:
        return None
    narrowed = Candidates({a: candidates.actions[a] for a in names}, candidates.pool)
    for _ in range(RANDOM_TRIES):
        action, choice = narrowed.random_choice(rng)
        spec = try_build(candidates, action, choice)
        if spec is not None and spec.spec_hash() not in seen:
            return spec
    # nearly exhausted: enumerate what is left, type by type in random order
    rng.shuffle(names)
    for action in names:
        left = unseen_choices(candidates, action, seen)
        if left is None:  # too many to list, so almost surely not exhausted: keep drawing
            alone = Candidates({action: candidates.actions[action]}, candidates.pool)
            for _ in range(RANDOM_TRIES * 16):
                spec = try_build(candidates, *alone.random_choice(rng))
                if spec is not None and spec.spec_hash() not in seen:
                    return spec
        elif left:
            return rng.choice(left)[1]
    return None


def is_exhausted(view: PolicyView, action: str, seen: Collection[str], extra: Sequence[ActionSpec] = ()) -> bool:
    """True when every choice of `action` is in `seen` (cheap unless the type is nearly used up)."""
    cands = view.candidates.actions[action]
    tried = {s.spec_hash() for s in tried_specs(view, extra) if s.action == action} & set(seen)
    if len(tried) < choice_count(cands):
        return False
    return unseen_choices(view.candidates, action, seen) == []


def tried_specs(view: PolicyView, extra: Sequence[ActionSpec] = ()) -> list[ActionSpec]:
    """Specs finished, failed, running or already proposed in this batch, oldest first, no repeats."""
    out: dict[str, ActionSpec] = {}
    for spec in [*(t.spec for t in view.history), *view.running, *extra]:
        out.setdefault(spec.spec_hash(), spec)
    return list(out.values())


class RandomPolicy(Policy):
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = _random.Random(seed)

    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        seen = set(view.seen_hashes)
        out: list[Proposal] = []
        for _ in range(n):
            spec = random_unseen(view.candidates, seen, self.rng)
            if spec is None:
                break
            seen.add(spec.spec_hash())
            out.append(Proposal(spec, rationale="random: uniform over action types, then over each slot"))
        return out


class PolicyOptions(BaseModel):
    """The keys of the run config's `policy` section; every policy accepts them and uses what it needs."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    llm: dict[str, Any] = Field(default_factory=dict, description="The agent LLM (llm policy)")
    max_retries: int = Field(default=2, ge=0, description="Re-asks after an invalid answer (llm policy)")
    pipeline: list[Any] | None = Field(default=None, description="The steps to run (fixed policy)")


def parse_policy_config(model: type[PolicyOptions], cfg: Mapping[str, Any] | None, policy: str) -> Any:
    """Validate a policy's options; an error names `policy.<field>` and the accepted keys."""
    try:
        options = model(**dict(cfg or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "policy"
        raise LamdagentError(
            f"policy.{where}: {err['msg']}; accepted keys: {', '.join(sorted(model.model_fields))}"
        ) from None
    if options.pipeline is not None and policy != "fixed":
        raise LamdagentError(f"policy.pipeline: the {policy!r} policy takes no pipeline; remove it or use fixed")
    return options


@POLICIES.decorator("random")
def make_random_policy(cfg: Mapping[str, Any] | None, seed: int) -> RandomPolicy:
    parse_policy_config(PolicyOptions, cfg, "random")
    return RandomPolicy(seed)
