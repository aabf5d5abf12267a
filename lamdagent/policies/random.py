"""The random baseline: the yardstick the paper's agent must beat.

Uniform over action types, then over each slot's options, never a spec already finished, running or
proposed in the same batch.
"""

from __future__ import annotations

from typing import Any

from lamdagent.policies.base import POLICIES, Policy, PolicyView, Proposal, step_rng
from lamdagent.policies.space import random_unseen, signature_index


@POLICIES.decorator("random")
class RandomPolicy(Policy):
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @classmethod
    def create(cls, options: Any, seed: int) -> RandomPolicy:
        return cls(seed)

    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        rng = step_rng(self.seed, view)
        seen = set(view.seen_hashes)
        index = signature_index(view)
        out: list[Proposal] = []
        for _ in range(n):
            spec = random_unseen(view.candidates, seen, rng, index=index)
            if spec is None:
                break
            seen.add(spec.spec_hash())
            if index is not None:
                index.add(spec)
            out.append(Proposal(spec, rationale="random: uniform over action types, then over each slot"))
        return out
