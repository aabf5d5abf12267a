"""The fixed baseline: a pipeline written by hand in the config, run step by step, then stop.

A step's inputs may name pool objects or `$k`, the model produced by step k (1-based). The policy keeps no
state of its own: which steps are done is read from the history, so a resumed run continues where it was.
A step whose inputs are not produced yet (still running, or failed) is skipped for now; when nothing is
ready the policy returns no proposal, and a loop with nothing running then stops.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lamdagent.actions.base import ACTIONS
from lamdagent.errors import LamdagentError
from lamdagent.policies.base import POLICIES, Policy, PolicyOptions, PolicyView, Proposal
from lamdagent.pool import Pool
from lamdagent.spec import ActionSpec, as_ids

REF = re.compile(r"^\$(\d+)$")


class FixedStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = Field(description="Action type name")
    inputs: dict[str, str | list[str]] = Field(description="slot -> pool object id, or $k for step k's model")
    params: dict[str, Any] = Field(default_factory=dict, description="Action parameters (defaults otherwise)")


class FixedOptions(PolicyOptions):
    pipeline: list[FixedStep] = Field(min_length=1, description="The steps, in order; $k names step k's model")


def _check_step(k: int, step: FixedStep) -> None:
    """Fail at start-up, naming the step and field, rather than mid-run."""
    where = f"policy.pipeline[{k - 1}] (step {k})"
    try:
        action_type = ACTIONS.get(step.action)
    except LamdagentError as exc:
        raise LamdagentError(f"{where}.action: {exc}") from None
    slots = {s.name: s for s in action_type.slots}
    missing, extra = set(slots) - set(step.inputs), set(step.inputs) - set(slots)
    if missing or extra:
        raise LamdagentError(
            f"{where}.inputs: {step.action!r} takes the slots {sorted(slots)}; "
            + (f"missing {sorted(missing)}" if missing else f"unknown {sorted(extra)}")
        )
    for name, value in step.inputs.items():
        count = slots[name].count
        if count > 1 and (not isinstance(value, list) or len(value) != count):
            raise LamdagentError(f"{where}.inputs.{name}: give a list of {count} object ids")
        if count == 1 and not isinstance(value, str):
            raise LamdagentError(f"{where}.inputs.{name}: give one object id, not a list")
        for ref in as_ids(value):
            m = REF.match(ref)
            if m and not 1 <= int(m.group(1)) < k:
                raise LamdagentError(f"{where}.inputs.{name}: {ref} must refer to an earlier step (1 to {k - 1})")
    try:
        action_type.parse_params(step.params)
    except LamdagentError as exc:
        raise LamdagentError(f"{where}.params: {exc}") from None


def _step_spec(k: int, step: FixedStep, pool: Pool, produced: dict[int, str]) -> ActionSpec | None:
    """The step's spec once every `$k` input is produced; None while one is not."""
    inputs: dict[str, str | list[str]] = {}
    for name, value in step.inputs.items():
        ids = []
        for ref in as_ids(value):
            m = REF.match(ref)
            if m:
                ref = produced.get(int(m.group(1)), "")
                if ref not in pool.models:  # not produced yet, or not yet added to this pool
                    return None
            elif ref not in pool.models and ref not in pool.datasets:
                known = ", ".join([*pool.models, *pool.datasets])
                raise LamdagentError(
                    f"policy.pipeline[{k - 1}].inputs.{name}: {ref!r} is not in the pool; it has: {known}"
                )
            ids.append(ref)
        inputs[name] = ids if isinstance(value, list) else ids[0]
    action_type = ACTIONS.get(step.action)
    params = action_type.spec_params({**pool.fixed_params.get(step.action, {}), **step.params})
    return ActionSpec(
        action=step.action,
        inputs=inputs,
        params=params,
        fingerprints={i: pool.fingerprint(i) for v in inputs.values() for i in as_ids(v)},
    )


@POLICIES.decorator("fixed")
class FixedPolicy(Policy):
    name = "fixed"
    Options = FixedOptions

    def __init__(self, steps: list[FixedStep]) -> None:
        for k, step in enumerate(steps, 1):
            _check_step(k, step)
        self.steps = steps

    @classmethod
    def create(cls, options: Any, seed: int) -> FixedPolicy:
        import lamdagent.actions  # noqa: F401 - the built-in action types register on import

        return cls(options.pipeline)

    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        outputs = {t.spec_hash: t.output_model for t in view.history if t.state == "finished" and t.output_model}
        tried = set(view.seen_hashes) | {t.spec_hash for t in view.history} | {s.spec_hash() for s in view.running}
        produced: dict[int, str] = {}
        out: list[Proposal] = []
        for k, step in enumerate(self.steps, 1):
            spec = _step_spec(k, step, view.pool, produced)
            if spec is None:
                continue
            h = spec.spec_hash()
            if h in outputs:
                produced[k] = outputs[h]
            elif h not in tried and len(out) < n:
                tried.add(h)
                out.append(Proposal(spec, rationale=f"fixed pipeline: step {k} of {len(self.steps)}"))
        return out
