"""The object pool (models, datasets, hyperparameter values) and enumeration of candidate actions.

Enumeration is per slot: the agent sees, for each slot of an action type, the list of objects that may fill
it, never the cartesian product, so it stays cheap as the pool grows.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lamdagent.actions.base import ACTIONS, ActionType
from lamdagent.errors import LamdagentError
from lamdagent.spec import ActionSpec, DatasetRef, ModelRef, as_ids

SlotKind = Literal["model", "sft_data", "pref_data", "param"]
ANCESTOR_DRAWS = 32  # draws of the merged models before random_choice gives up finding them a common ancestor


@dataclass(frozen=True)
class SlotOptions:
    """One slot of an action type and the values that may fill it."""

    name: str
    kind: SlotKind
    description: str
    options: tuple[Any, ...]
    count: int = 1  # how many distinct options the slot takes (a list when > 1)
    ancestor_of: str | None = None  # the model slot whose models this slot's model must be an ancestor of


@dataclass(frozen=True)
class ActionCandidates:
    action: str
    description: str
    slots: tuple[SlotOptions, ...]

    def slot(self, name: str) -> SlotOptions:
        for s in self.slots:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass
class Candidates:
    """Every valid action type with its per-slot options; builds and validates concrete specs."""

    actions: dict[str, ActionCandidates]
    pool: Pool

    def validate_choice(self, action: str, choice: dict[str, Any]) -> dict[str, Any]:
        """Check a slot assignment; raise ValueError with a message the agent can act on."""
        if action not in self.actions:
            raise ValueError(f"action {action!r} is not available; choose one of {sorted(self.actions)}")
        cands = self.actions[action]
        clean: dict[str, Any] = {}
        for slot in cands.slots:
            if slot.name not in choice:
                raise ValueError(f"slot {slot.name!r} is missing; choose from {list(slot.options)}")
            value = choice[slot.name]
            if slot.count > 1:
                if (
                    not isinstance(value, list | tuple)
                    or len(value) != slot.count
                    or len(set(map(str, value))) != slot.count
                ):
                    raise ValueError(f"slot {slot.name!r} needs a list of {slot.count} distinct options")
                bad = [v for v in value if v not in slot.options]
                if bad:
                    raise ValueError(f"slot {slot.name!r}: {bad} not among {list(slot.options)}")
            elif value not in slot.options:
                # numbers may come back as strings or with another type from an LLM
                match = [o for o in slot.options if str(o) == str(value)]
                if not match:
                    raise ValueError(f"slot {slot.name!r}: {value!r} is not one of {list(slot.options)}")
                value = match[0]
            clean[slot.name] = value
        used = [i for s in cands.slots if s.kind == "model" for i in as_ids(clean[s.name])]
        if len(set(used)) != len(used):
            raise ValueError(f"a model may fill only one model slot; got {used}")
        for slot in cands.slots:
            if slot.ancestor_of:
                problem = self.pool.ancestor_problem(clean[slot.name], as_ids(clean[slot.ancestor_of]))
                if problem:
                    raise ValueError(f"slot {slot.name!r}: {problem}")
        extra = set(choice) - {s.name for s in cands.slots}
        if extra:
            raise ValueError(f"unknown slots {sorted(extra)}; the slots are {[s.name for s in cands.slots]}")
        return clean

    def build_spec(self, action: str, choice: dict[str, Any]) -> ActionSpec:
        clean = self.validate_choice(action, choice)
        cands = self.actions[action]
        inputs: dict[str, Any] = {}
        params: dict[str, Any] = dict(self.pool.fixed_params.get(action, {}))
        for slot in cands.slots:
            if slot.kind == "param":
                params[slot.name] = clean[slot.name]
            else:
                inputs[slot.name] = clean[slot.name]
        action_type: type[ActionType] = ACTIONS.get(action)
        params = action_type.spec_params(params)
        ids = [i for v in inputs.values() for i in as_ids(v)]
        return ActionSpec(
            action=action,
            inputs=inputs,
            params=params,
            fingerprints={i: self.pool.fingerprint(i) for i in ids},
        )

    def random_choice(self, rng: random.Random) -> tuple[str, dict[str, Any]]:
        """A random assignment; models are drawn without replacement across model slots, and an ancestor slot
        (a TIES base) among the common ancestors of its partner's models, redrawing those when they have none."""
        action = rng.choice(sorted(self.actions))
        slots = self.actions[action].slots
        model_slots = [s for s in slots if s.kind == "model"]
        offered = list(model_slots[0].options) if model_slots else []  # the model slots share their options
        choice: dict[str, Any] = {}
        for _ in range(ANCESTOR_DRAWS):
            models = rng.sample(offered, sum(s.count for s in model_slots))
            for slot in model_slots:
                picked, models = models[: slot.count], models[slot.count :]
                choice[slot.name] = picked if slot.count > 1 else picked[0]
            redraw = False
            for slot in model_slots:
                if slot.ancestor_of:
                    valid = self.pool.common_ancestors(as_ids(choice[slot.ancestor_of])) & set(slot.options)
                    if valid:
                        choice[slot.name] = rng.choice(sorted(valid))
                    else:
                        redraw = True
            if not redraw:
                break
        for slot in slots:
            if slot.kind != "model":
                options = list(slot.options)
                choice[slot.name] = rng.sample(options, slot.count) if slot.count > 1 else rng.choice(options)
        return action, choice


@dataclass
class Pool:
    """What the agent can act on. Initial models and datasets come from the config; results join later."""

    actions: list[str]
    models: dict[str, ModelRef] = field(default_factory=dict)
    datasets: dict[str, DatasetRef] = field(default_factory=dict)
    grids: dict[str, dict[str, list[Any]]] = field(default_factory=dict)  # action -> param -> values
    fixed_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # action -> param -> value
    max_depth: int | None = None  # models this deep are offered to no action (a pipeline table's depth)

    def __post_init__(self) -> None:
        for name in self.actions:
            ACTIONS.get(name)  # unknown names fail early, listing the known ones
        for action, grid in self.grids.items():
            if action not in self.actions:
                raise LamdagentError(f"grids.{action}: action {action!r} is not enabled; add it to `actions`")
            fields = ACTIONS.get(action).Params.model_fields
            for pname in grid:
                if pname not in fields:
                    raise LamdagentError(
                        f"grids.{action}.{pname}: no such parameter; valid: {', '.join(sorted(fields))}"
                    )

    def add_model(self, ref: ModelRef) -> None:
        self.models[ref.id] = ref

    def depth(self, model_id: str) -> int:
        """Actions between a model and the initial models: 0 for an initial model, 1 + its deepest parent's."""
        parents = [p for p in self.models[model_id].parents if p in self.models]
        return 1 + max(self.depth(p) for p in parents) if parents else 0

    def ancestors(self, model_id: str) -> set[str]:
        """Every model a model was made from, directly or through other models."""
        out: set[str] = set()
        todo = list(self.models[model_id].parents)
        while todo:
            parent = todo.pop()
            if parent in self.models and parent not in out:
                out.add(parent)
                todo.extend(self.models[parent].parents)
        return out

    def common_ancestors(self, model_ids: Sequence[str]) -> set[str]:
        """The models every one of `model_ids` descends from; an initial model's lineage is unknown to the pool,
        so for it any initial model counts (two public fine-tunes merged over their shared base)."""
        initial = {m for m, ref in self.models.items() if not ref.parents}
        out: set[str] | None = None
        for mid in model_ids:
            mine = self.ancestors(mid) if self.models[mid].parents else initial
            out = mine if out is None else out & mine
        return (out or set()) - set(model_ids)

    def ancestor_problem(self, ancestor: str, model_ids: Sequence[str]) -> str | None:
        """Why `ancestor` cannot be the common ancestor of `model_ids` (None: it can)."""
        valid = self.common_ancestors(model_ids)
        if ancestor in valid:
            return None
        offer = ", ".join(sorted(valid)) or "none in the pool"
        return f"{ancestor} is not an ancestor of every model in {list(model_ids)}; their common ancestors: {offer}"

    def fingerprint(self, object_id: str) -> str:
        if object_id in self.models:
            return self.models[object_id].fingerprint
        if object_id in self.datasets:
            return self.datasets[object_id].fingerprint
        raise LamdagentError(f"object {object_id!r} is not in the pool")

    def candidates(self) -> Candidates:
        model_ids = tuple(m for m in self.models if self.max_depth is None or self.depth(m) < self.max_depth)
        data_ids = {
            "sft_data": tuple(d.id for d in self.datasets.values() if d.kind == "sft"),
            "pref_data": tuple(d.id for d in self.datasets.values() if d.kind == "preference"),
        }
        out: dict[str, ActionCandidates] = {}
        for name in self.actions:
            action_type = ACTIONS.get(name)
            slots: list[SlotOptions] = []
            for slot in action_type.slots:
                options = model_ids if slot.kind == "model" else data_ids[slot.kind]
                slots.append(SlotOptions(slot.name, slot.kind, slot.description, options, slot.count, slot.ancestor_of))
            model_slots = sum(s.count for s in slots if s.kind == "model")
            if any(len(s.options) < s.count for s in slots) or len(model_ids) < model_slots:
                continue  # not enough objects yet (e.g. a merge needs two models, TIES a third as its base)
            fields = action_type.Params.model_fields
            for pname, values in self.grids.get(name, {}).items():
                desc = fields[pname].description or pname
                slots.append(SlotOptions(pname, "param", desc, tuple(values)))
            out[name] = ActionCandidates(name, action_type.description, tuple(slots))
        return Candidates(out, self)
