"""Canonical pipeline signatures: what a model *is*, independent of run ids, seeds and argument order.

A spec names its inputs by pool ids (`m3f2a…`), which differ from run to run, and a symmetric merge can be
written two ways (`linear([A, B], 0.7)` and `linear([B, A], 0.3)` are the same model). A signature replaces
each input model by the signature of the pipeline that produced it (an initial model by its name), keeps
datasets by name, writes every parameter (fixed ones included) with floats rounded to 6 significant digits,
and picks one orientation of a symmetric merge. Two specs with one signature compute the same model, so
a search can count (and avoid) repeats across runs, and a benchmark table can answer a spec from any run.

The form is nested: `action(param=value, ...; slot=input, ...)`, e.g.
`linear(weight=0.3; models=[smollm2, sft(learning_rate=0.0002; data=tool_sft, model=smollm2)])`.

A merge whose result is one of its inputs (the same model twice in a linear merge or SLERP, a linear weight
of 0 or 1, a SLERP t of 0 or 1, a task-vector merge of one model with itself that adds its task vector back
exactly once) is a no-op: its signature is that input's, and `is_noop()` says so.
DARE-TIES is canonicalised like TIES although its random drop masks depend on the order of the models: the
two orders give models equal in distribution, not bit for bit (the tokenizer, copied from the first model,
is the same for models of one base).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lamdagent.errors import LamdagentError
from lamdagent.spec import ActionSpec, as_ids

DIGITS = 6  # significant digits kept of a float parameter, so 1 - 0.7 equals 0.3
MERGE_SLOT = "models"
TASK_VECTOR_MERGES = ("task_arithmetic", "ties", "dare_ties")


def canonical_value(value: Any) -> Any:
    """A parameter value with floats rounded to `DIGITS` significant digits (and -0.0 as 0.0)."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        rounded = float(f"{value:.{DIGITS}g}")
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, Mapping):
        return {str(k): canonical_value(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    return str(value)


def _fmt(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _complement(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Swap for a weight of the first model: the other order takes 1 - weight."""
    return lambda p: {**p, name: canonical_value(1.0 - float(p[name]))} if name in p else dict(p)


def _swap_pair(first: str, second: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Swap for per-model parameters: the other order swaps them."""
    return lambda p: {**p, first: p.get(second), second: p.get(first)} if first in p and second in p else dict(p)


# action -> how its parameters change when the two merged models swap places (symmetric merges only)
SYMMETRIC: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "linear": _complement("weight"),
    "slerp": _complement("t"),
    **{name: _swap_pair("weight_first", "weight_second") for name in TASK_VECTOR_MERGES},
}


@dataclass(frozen=True)
class CanonicalSpec:
    """A spec in canonical form: inputs as signatures (datasets by name), params rounded, one orientation.

    `noop_of` is the signature of the input the action returns unchanged, when it is a no-op.
    """

    action: str
    params: dict[str, Any]
    inputs: dict[str, str | tuple[str, ...]]
    noop_of: str | None = None
    text: str = field(default="", compare=False)

    def signature(self) -> str:
        """The model's signature: the input's own for a no-op, else the nested `action(params; inputs)`."""
        return self.noop_of if self.noop_of is not None else self.text

    def is_noop(self) -> bool:
        return self.noop_of is not None


def _render(action: str, params: Mapping[str, Any], inputs: Mapping[str, str | tuple[str, ...]]) -> str:
    ps = ",".join(f"{k}={_fmt(params[k])}" for k in sorted(params))
    ins = ",".join(f"{k}={v if isinstance(v, str) else '[' + ','.join(v) + ']'}" for k, v in sorted(inputs.items()))
    return f"{action}({ps}; {ins})"


def _equal(a: Any, b: float) -> bool:
    return isinstance(a, int | float) and not isinstance(a, bool) and canonical_value(float(a)) == b


def _noop(action: str, params: Mapping[str, Any], inputs: Mapping[str, str | tuple[str, ...]]) -> str | None:
    """The signature of the input a merge returns unchanged, or None (see the module docstring)."""
    models = inputs.get(MERGE_SLOT)
    if isinstance(models, str) or models is None or len(models) != 2:
        return None
    first, second = models
    if action in ("linear", "slerp"):
        if first == second:
            return first
        name = "weight" if action == "linear" else "t"
        if _equal(params.get(name), 1.0):
            return first if action == "linear" else second
        if _equal(params.get(name), 0.0):
            return second if action == "linear" else first
        return None
    if action in TASK_VECTOR_MERGES:
        base = inputs.get("base")
        w1, w2 = params.get("weight_first"), params.get("weight_second")
        if not isinstance(w1, int | float) or not isinstance(w2, int | float) or not isinstance(base, str):
            return None
        if w1 == 0 and w2 == 0:
            return base  # both task vectors weighted 0: the base itself
        if first != second or (action != "task_arithmetic" and not _equal(params.get("density"), 1.0)):
            return None
        # one task vector added (w1 + w2) * scaling times, or once per unit of weight when normalised
        times = float(params.get("scaling", 1.0)) * (1.0 if params.get("normalize") else float(w1) + float(w2))
        return first if canonical_value(times) == 1.0 else None
    return None


def canonicalise(action: str, params: Mapping[str, Any], inputs: Mapping[str, str | Sequence[str]]) -> CanonicalSpec:
    """The canonical form of an action whose model inputs are already given as their signatures.

    `inputs` maps each slot to a signature or dataset name (a sequence for multi-model slots); this is the
    form a table builder uses before any spec exists.
    """
    clean_params = {str(k): canonical_value(v) for k, v in params.items()}
    clean_inputs: dict[str, str | tuple[str, ...]] = {
        str(k): v if isinstance(v, str) else tuple(v) for k, v in inputs.items()
    }
    swap = SYMMETRIC.get(action)
    models = clean_inputs.get(MERGE_SLOT)
    if swap is not None and isinstance(models, tuple) and len(models) == 2:
        other_inputs = {**clean_inputs, MERGE_SLOT: (models[1], models[0])}
        other_params = swap(clean_params)
        here = (models, _render(action, clean_params, clean_inputs))
        there = ((models[1], models[0]), _render(action, other_params, other_inputs))
        if there < here:  # models in sorted order; for one model twice, the params that render first
            clean_params, clean_inputs = other_params, other_inputs
    text = _render(action, clean_params, clean_inputs)
    return CanonicalSpec(action, clean_params, clean_inputs, _noop(action, clean_params, clean_inputs), text)


def split_top(text: str, sep: str) -> list[str]:
    """`text` split at each `sep` outside brackets and parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def signature_inputs(signature: str) -> dict[str, str | list[str]]:
    """The top-level inputs of a signature (`{"data": "tool_sft", "model": "<signature>"}`); {} for an initial
    model's. The inverse of the rendering above, for readers that hold only signatures (a benchmark table)."""
    head, paren, rest = signature.partition("(")
    if not paren or not rest.endswith(")") or not head.isidentifier():
        return {}
    parts = split_top(rest[:-1], ";")
    if len(parts) != 2:
        return {}
    out: dict[str, str | list[str]] = {}
    for pair in split_top(parts[1].strip(), ","):
        key, eq, value = pair.partition("=")
        if not eq:
            continue
        value = value.strip()
        out[key.strip()] = split_top(value[1:-1], ",") if value.startswith("[") and value.endswith("]") else value
    return out


def _model_slots(action: str) -> set[str] | None:
    """Names of the action's model slots, or None when the action type is not registered here."""
    import lamdagent.actions  # noqa: F401 - registers the built-in action types
    from lamdagent.actions.base import ACTIONS

    if action not in ACTIONS:
        return None
    return {s.name for s in ACTIONS.get(action).slots if s.kind == "model"}


def spec_canonical(spec: ActionSpec, signature_of_model: Mapping[str, str]) -> CanonicalSpec:
    """The canonical form of a spec; `signature_of_model` maps its input model ids to their signatures.

    Datasets keep their ids (the config's dataset names). A model input with no signature is an error.
    """
    model_slots = _model_slots(spec.action)
    inputs: dict[str, str | tuple[str, ...]] = {}
    for slot, value in spec.inputs.items():
        is_model = slot in model_slots if model_slots is not None else None
        sigs = []
        for object_id in as_ids(value):
            if object_id in signature_of_model and is_model is not False:
                sigs.append(signature_of_model[object_id])
            elif is_model:
                raise LamdagentError(
                    f"signature: model {object_id!r} (slot {slot!r} of {spec.action}) has no known signature"
                )
            else:
                sigs.append(object_id)
        inputs[slot] = sigs[0] if isinstance(value, str) else tuple(sigs)
    return canonicalise(spec.action, dict(spec.params), inputs)


def spec_signature(spec: ActionSpec, signature_of_model: Mapping[str, str]) -> str:
    """The signature of the model `spec` produces (the input's own when the spec is a no-op)."""
    return spec_canonical(spec, signature_of_model).signature()


def is_noop(spec: ActionSpec, signature_of_model: Mapping[str, str]) -> bool:
    """Whether the spec returns one of its inputs unchanged."""
    return spec_canonical(spec, signature_of_model).is_noop()


def _missing(spec: ActionSpec, models: Mapping[str, str]) -> list[str]:
    """Input model ids of a spec that have no signature yet (none for an unregistered action type)."""
    slots = _model_slots(spec.action) or set()
    return [i for slot, v in spec.inputs.items() if slot in slots for i in as_ids(v) if i not in models]


def base_signature(name: str) -> str:
    """An initial model's signature: its name as the config gives it (an embedded name, hub id or path)."""
    return name


class RunLike(Protocol):
    """What `signatures_of_run` reads: `lamdagent.runinfo.RunInfo` fits."""

    trials: list[Any]
    bases: Mapping[str, Any]


def signatures_of_run(trials: Iterable[Any], bases: Mapping[str, str]) -> tuple[dict[str, str], dict[int, str | None]]:
    """Model id -> signature for every finished model, and trial id -> signature for every trial.

    `trials` are `TrialRecord`s (id, spec, state, output_model); `bases` maps initial model ids to their
    signatures. A trial whose input models have no signature (a
    parent missing from the ledger) gets None.
    """
    models = dict(bases)
    by_trial: dict[int, str | None] = {}
    pending = sorted(trials, key=lambda t: t.id)
    while pending:  # a trial reads models finished before it started, but resolve by readiness, not by id
        left = [t for t in pending if _missing(t.spec, models)]
        waiting = {t.id for t in left}
        for t in pending:
            if t.id in waiting:
                continue
            sig = spec_signature(t.spec, models)
            by_trial[t.id] = sig
            if str(t.state) == "finished" and t.output_model:
                models.setdefault(t.output_model, sig)
        if len(left) == len(pending):  # the rest read models no trial made
            by_trial.update({t.id: None for t in left})
            break
        pending = left
    return models, by_trial


def run_signatures(run: RunLike, base_signatures: Mapping[str, str] | None = None) -> dict[str, str]:
    """Model id -> signature for every model of a run (`lamdagent.runinfo.load_run(run_dir)`).

    Initial models are signed by name unless `base_signatures` gives their signature (a table built on a
    model stored at another path names it differently).
    """
    bases = {mid: base_signature(getattr(b, "name", None) or mid) for mid, b in run.bases.items()}
    bases.update(base_signatures or {})
    return signatures_of_run(run.trials, bases)[0]


class SignatureIndex:
    """Signatures of the models in a pool and of the specs already tried: the loop's duplicate guard.

    `seen(spec)` is True when a spec with the same signature finished or runs (under other ids, or in the
    other orientation of a symmetric merge); `noop(spec)` when the spec would return one of its inputs.
    A spec reading a model with no known signature is never called seen (nothing can be said about it).
    """

    def __init__(self, model_signatures: Mapping[str, str] | None = None, seen: Iterable[str] = ()) -> None:
        self.models: dict[str, str] = dict(model_signatures or {})
        self.signatures: set[str] = set(seen)

    def add_model(self, model_id: str, signature: str) -> None:
        self.models[model_id] = signature

    def canonical(self, spec: ActionSpec) -> CanonicalSpec | None:
        try:
            return spec_canonical(spec, self.models)
        except LamdagentError:
            return None

    def signature(self, spec: ActionSpec) -> str | None:
        canonical = self.canonical(spec)
        return canonical.signature() if canonical else None

    def add(self, spec: ActionSpec) -> str | None:
        """Mark a spec tried (finished, running or proposed); returns its signature."""
        sig = self.signature(spec)
        if sig is not None:
            self.signatures.add(sig)
        return sig

    def seen(self, spec: ActionSpec) -> bool:
        sig = self.signature(spec)
        return sig is not None and sig in self.signatures

    def noop(self, spec: ActionSpec) -> bool:
        canonical = self.canonical(spec)
        return canonical is not None and canonical.is_noop()

    def excluded(self, spec: ActionSpec) -> bool:
        """Seen or a no-op: what a policy should not propose."""
        canonical = self.canonical(spec)
        return canonical is not None and (canonical.is_noop() or canonical.signature() in self.signatures)

    def copy(self) -> SignatureIndex:
        return SignatureIndex(self.models, self.signatures)

    @classmethod
    def from_run(
        cls, run: RunLike, base_signatures: Mapping[str, str] | None = None, running: Iterable[ActionSpec] = ()
    ) -> SignatureIndex:
        """The index of a run: its models, its trials that did not end interrupted, and specs in flight."""
        bases = {mid: base_signature(getattr(b, "name", None) or mid) for mid, b in run.bases.items()}
        bases.update(base_signatures or {})
        models, by_trial = signatures_of_run(run.trials, bases)
        index = cls(models)
        for t in run.trials:
            if str(t.state) != "interrupted" and by_trial.get(t.id):
                index.signatures.add(by_trial[t.id])  # type: ignore[arg-type]
        for spec in running:
            index.add(spec)
        return index
