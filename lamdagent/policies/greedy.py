"""The greedy baseline: always build on the best model so far.

It varies the current best: trains it again (another dataset or setting) or merges it with a base model
or the runner-up, uniformly over action types and then over those variations. Where no variation is
left it draws a random unseen action, marked as a fallback. It shows what pure exploitation finds.
"""

from __future__ import annotations

from typing import Any

from lamdagent.policies.base import POLICIES, Policy, PolicyView, Proposal, step_rng
from lamdagent.policies.space import random_unseen, signature_index, unseen_choices
from lamdagent.signature import SignatureIndex
from lamdagent.spec import ActionSpec, as_ids


def ranked_models(view: PolicyView) -> list[str]:
    """Pool models by objective score, best first; unscored ones last, in pool order."""
    ids = list(view.pool.models)
    return sorted(ids, key=lambda i: -view.model_scores[i] if i in view.model_scores else float("inf"))


@POLICIES.decorator("greedy")
class GreedyPolicy(Policy):
    name = "greedy"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @classmethod
    def create(cls, options: Any, seed: int) -> GreedyPolicy:
        return cls(seed)

    def variations(
        self, view: PolicyView, seen: set[str], index: SignatureIndex | None = None
    ) -> dict[str, list[ActionSpec]]:
        """Unseen specs per action type that use the best model, with partners from the focus set."""
        ranked = ranked_models(view)
        if not ranked:
            return {}
        best = ranked[0]
        bases = [i for i, m in view.pool.models.items() if m.action is None]
        focus = list(dict.fromkeys([best, *ranked[1:2], *bases]))
        out: dict[str, list[ActionSpec]] = {}
        for action, cands in view.candidates.actions.items():
            model_slots = [s.name for s in cands.slots if s.kind == "model"]
            if not model_slots:
                continue
            restrict = {s: focus for s in model_slots}
            left = unseen_choices(view.candidates, action, seen, restrict=restrict, index=index) or []
            specs = [spec for choice, spec in left if _uses(choice, model_slots, best)]
            if specs:
                out[action] = specs
        return out

    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        rng = step_rng(self.seed, view)
        seen = set(view.seen_hashes)
        index = signature_index(view)
        out: list[Proposal] = []
        for _ in range(n):
            options = self.variations(view, seen, index)
            if options:
                action = rng.choice(sorted(options))
                spec = rng.choice(options[action])
                best = ranked_models(view)[0]
                score = view.model_scores.get(best)
                why = f"greedy: vary the best model {best}" + (f" (score {score:.3f})" if score is not None else "")
                proposal = Proposal(spec, rationale=why)
            else:
                unseen = random_unseen(view.candidates, seen, rng, index=index)
                if unseen is None:
                    break
                proposal = Proposal(
                    unseen, rationale="greedy: no unseen variation of the best model; random", fallback=True
                )
            seen.add(proposal.spec.spec_hash())
            if index is not None:
                index.add(proposal.spec)
            out.append(proposal)
        return out


def _uses(choice: dict[str, Any], model_slots: list[str], model_id: str) -> bool:
    return any(model_id in as_ids(choice[name]) for name in model_slots)
