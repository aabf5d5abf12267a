"""Enumerate every pipeline of a declared space up to a depth, each once by its canonical signature.

Depth d holds every action whose deepest input model has depth d - 1: every training action (each dataset of
its kind, each combination of grid values) on each model of depth d - 1, and every merge of two distinct
models of depth < d, at least one of depth d - 1, with each grid value. Symmetric merges are enumerated in
both orders and kept once (their signatures agree); no-ops (a linear weight of 0 or 1, ...) are left out.
The base slot of a task-vector merge (TIES, DARE-TIES, task arithmetic) takes the initial models only by
default: the common ancestor the task vectors are measured from (`merge_base="any"` takes every model).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import lamdagent.actions  # noqa: F401 - registers the built-in action types
from lamdagent.actions.base import ACTIONS
from lamdagent.errors import LamdagentError
from lamdagent.signature import base_signature, canonicalise

DATA_SLOT_KIND = {"sft_data": "sft", "pref_data": "preference"}
ModelInput = int | tuple[int, ...]  # pipeline indices (into the enumerated list) of a slot's model(s)


@dataclass(frozen=True)
class Pipeline:
    """One pipeline: an initial model (depth 0, `name` set) or an action on earlier pipelines.

    `inputs` maps model slots to indices of earlier pipelines in the enumerated list and dataset slots to
    dataset names; `params` are the action's full parameters, as a spec of the pool holds them.
    """

    index: int
    signature: str
    depth: int
    action: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, ModelInput | str] = field(default_factory=dict)
    parents: tuple[str, ...] = ()
    name: str | None = None


def grid_params(action: str, grid: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of grid values with the fixed params, as full validated parameters."""
    action_type = ACTIONS.get(action)
    names = list(grid)
    out = []
    for combo in itertools.product(*(grid[n] for n in names)):
        chosen = {**fixed, **dict(zip(names, combo, strict=True))}
        out.append(action_type.spec_params(chosen))
    return out


def enumerate_pipelines(
    bases: Sequence[str],
    datasets: Mapping[str, str],
    actions: Sequence[str],
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    max_depth: int = 2,
    merge_base: Literal["initial", "any"] = "initial",
) -> list[Pipeline]:
    """Every pipeline of the space to `max_depth`, initial models first, each after its inputs.

    `bases`: initial model names (their signatures); `datasets`: name -> kind (`sft` or `preference`).
    """
    grids, params = grids or {}, params or {}
    out: list[Pipeline] = [
        Pipeline(index=i, signature=base_signature(name), depth=0, name=name) for i, name in enumerate(bases)
    ]
    seen = {p.signature for p in out}
    if len(seen) != len(out):
        raise LamdagentError("enumerate: two initial models share a name")
    for depth in range(1, max_depth + 1):
        earlier = list(out)
        for action in actions:
            combos = grid_params(action, grids.get(action, {}), params.get(action, {}))
            for inputs in _assignments(action, earlier, depth, datasets, merge_base):
                for full in combos:
                    sig_inputs = {
                        slot: _signatures(v, earlier) if not isinstance(v, str) else v for slot, v in inputs.items()
                    }
                    canonical = canonicalise(action, full, sig_inputs)
                    if canonical.is_noop() or canonical.signature() in seen:
                        continue
                    seen.add(canonical.signature())
                    model_ids = [i for v in inputs.values() if not isinstance(v, str) for i in _as_tuple(v)]
                    out.append(
                        Pipeline(
                            index=len(out),
                            signature=canonical.signature(),
                            depth=depth,
                            action=action,
                            params=full,
                            inputs=dict(inputs),
                            parents=tuple(dict.fromkeys(earlier[i].signature for i in model_ids)),
                        )
                    )
    return out


def _as_tuple(value: ModelInput) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,)


def _signatures(value: ModelInput, pipelines: Sequence[Pipeline]) -> str | tuple[str, ...]:
    if isinstance(value, tuple):
        return tuple(pipelines[i].signature for i in value)
    return pipelines[value].signature


def _assignments(
    action: str, earlier: Sequence[Pipeline], depth: int, datasets: Mapping[str, str], merge_base: str
) -> Iterator[dict[str, ModelInput | str]]:
    """Slot assignments of `action` whose deepest input model has depth `depth - 1`."""
    slots = ACTIONS.get(action).slots
    per_slot: list[list[ModelInput | str]] = []
    for slot in slots:
        if slot.kind == "model":
            pool = [p.index for p in earlier]
            if slot.name == "base" and merge_base == "initial":
                pool = [p.index for p in earlier if p.depth == 0]
            if slot.count > 1:
                per_slot.append(list(itertools.permutations(pool, slot.count)))
            else:
                per_slot.append(list(pool))
        else:
            kind = DATA_SLOT_KIND[slot.kind]
            per_slot.append([name for name, k in datasets.items() if k == kind])
    for values in itertools.product(*per_slot):
        choice = dict(zip([s.name for s in slots], values, strict=True))
        models = [i for s in slots if s.kind == "model" for i in _as_tuple(choice[s.name])]  # type: ignore[arg-type]
        if len(set(models)) != len(models):
            continue  # a model fills one model slot at most (as the pool requires)
        if max(earlier[i].depth for i in models) == depth - 1:
            yield choice
