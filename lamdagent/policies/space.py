"""The choice space every policy shares: count, enumerate and draw the slot assignments not tried yet.

Policies differ in how they choose; what may be chosen (valid, not finished, running or proposed in the same
batch) is one rule, kept here so every policy and the loop's duplicate guard agree on it.
"""

from __future__ import annotations

import itertools
import math
import random as _random
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lamdagent.errors import LamdagentError
from lamdagent.pool import ActionCandidates, Candidates
from lamdagent.signature import SignatureIndex
from lamdagent.spec import ActionSpec

if TYPE_CHECKING:
    from lamdagent.policies.base import PolicyView

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


def signature_index(view: PolicyView) -> SignatureIndex | None:
    """The view's signatures as an index, or None when the loop gave none (then spec hashes alone decide)."""
    if not view.model_signatures:
        return None
    return SignatureIndex(view.model_signatures, view.seen_signatures)


def is_unseen(spec: ActionSpec | None, seen: Collection[str], index: SignatureIndex | None = None) -> bool:
    """A built spec whose hash is not in `seen` and, with an index, neither a seen signature nor a no-op."""
    return spec is not None and spec.spec_hash() not in seen and not (index is not None and index.excluded(spec))


def unseen_choices(
    candidates: Candidates,
    action: str,
    seen: Collection[str],
    restrict: Mapping[str, Sequence[Any]] | None = None,
    limit: int = ENUMERATION_LIMIT,
    index: SignatureIndex | None = None,
) -> list[tuple[dict[str, Any], ActionSpec]] | None:
    """All choices of `action` whose spec is not in `seen` (nor, given `index`, a seen signature or a no-op);
    None when there are more than `limit`."""
    cands = candidates.actions[action]
    if choice_count(cands, restrict) > limit:
        return None
    out = []
    for choice in iter_choices(cands, restrict):
        spec = try_build(candidates, action, choice)
        if spec is not None and is_unseen(spec, seen, index):
            out.append((choice, spec))
    return out


def random_unseen(
    candidates: Candidates,
    seen: Collection[str],
    rng: _random.Random,
    actions: Sequence[str] | None = None,
    index: SignatureIndex | None = None,
) -> ActionSpec | None:
    """A uniformly drawn valid spec not in `seen` (nor, given `index`, a seen signature or a no-op); None when
    every choice has been tried."""
    names = sorted(actions if actions is not None else candidates.actions)
    if not names:
        return None
    narrowed = Candidates({a: candidates.actions[a] for a in names}, candidates.pool)
    for _ in range(RANDOM_TRIES):
        action, choice = narrowed.random_choice(rng)
        spec = try_build(candidates, action, choice)
        if spec is not None and is_unseen(spec, seen, index):
            return spec
    # nearly exhausted: enumerate what is left, type by type in random order
    rng.shuffle(names)
    for action in names:
        left = unseen_choices(candidates, action, seen, index=index)
        if left is None:  # too many to list, so almost surely not exhausted: keep drawing
            alone = Candidates({action: candidates.actions[action]}, candidates.pool)
            for _ in range(RANDOM_TRIES * 16):
                spec = try_build(candidates, *alone.random_choice(rng))
                if spec is not None and is_unseen(spec, seen, index):
                    return spec
        elif left:
            return rng.choice(left)[1]
    return None


def is_exhausted(view: PolicyView, action: str, seen: Collection[str], extra: Sequence[ActionSpec] = ()) -> bool:
    """True when every choice of `action` is in `seen` (cheap unless the type is nearly used up); where the
    view carries signatures, a choice with a seen signature or a no-op counts as tried too."""
    cands = view.candidates.actions[action]
    index = signature_index(view)
    if index is None:
        tried = {s.spec_hash() for s in tried_specs(view, extra) if s.action == action} & set(seen)
        if len(tried) < choice_count(cands):
            return False
    else:
        for spec in extra:
            index.add(spec)
    return unseen_choices(view.candidates, action, seen, index=index) == []


def tried_specs(view: PolicyView, extra: Sequence[ActionSpec] = ()) -> list[ActionSpec]:
    """Specs finished, failed, running or already proposed in this batch, oldest first, no repeats."""
    out: dict[str, ActionSpec] = {}
    for spec in [*(t.spec for t in view.history), *view.running, *extra]:
        out.setdefault(spec.spec_hash(), spec)
    return list(out.values())
