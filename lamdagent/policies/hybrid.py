"""The hybrid policy: the LLM chooses the action type and its models and datasets, TPE chooses the grid values.

Each part does what it is good at. The LLM reads lineage, per-task changes and the budget (`briefing`), which
a classical optimiser cannot; TPE fits how grid values scored, which a language model does poorly from a
list of numbers. In fixed search spaces an LLM + classical hybrid beat both alone (arXiv 2603.24647).

Per action type a small TPE study is rebuilt from the finished trials of that type: their grid values and
objective scores (failed ones as failed). Until `n_startup_trials` of the type have scores, the values are a
random unseen completion of the LLM's objects; after that TPE samples until its values complete the objects
into an unseen spec, and a random unseen completion is taken if it keeps proposing tried values. The LLM is
only offered objects that some grid values still complete into an unseen spec.
"""

from __future__ import annotations

import itertools
import math
import random
import warnings
from typing import Any

from pydantic import Field

from lamdagent.policies.base import POLICIES, PolicyView
from lamdagent.policies.llm import LLMPolicy, LLMPolicyOptions
from lamdagent.policies.space import is_unseen, try_build
from lamdagent.policies.tpe import categorical_value, new_study
from lamdagent.signature import SignatureIndex
from lamdagent.spec import ActionSpec, fmt_value

TPE_ASKS = 16  # samples TPE gets to hit an unseen completion before a random one is taken


class HybridOptions(LLMPolicyOptions):
    n_startup_trials: int = Field(
        default=2, ge=0, le=1000, description="Scored trials of an action type before TPE models its grid values"
    )
    n_ei_candidates: int = Field(default=24, ge=1, le=1000, description="Points TPE draws per proposal")


@POLICIES.decorator("hybrid")
class HybridPolicy(LLMPolicy):
    name = "hybrid"
    Options = HybridOptions
    llm_params = False

    options: HybridOptions

    def __init__(self, client: Any, options: HybridOptions | None = None, seed: int = 0) -> None:
        super().__init__(client, options or HybridOptions(), seed)

    def choose_params(
        self,
        view: PolicyView,
        action: str,
        choice: dict[str, Any],
        seen: set[str],
        index: SignatureIndex | None,
        rng: random.Random,
    ) -> tuple[ActionSpec, str] | None:
        cands = view.candidates.actions[action]
        grid = [s for s in cands.slots if s.kind == "param"]
        names = [s.name for s in grid]
        completions: dict[tuple[Any, ...], ActionSpec] = {}
        for values in itertools.product(*(s.options for s in grid)):
            spec = try_build(view.candidates, action, {**choice, **dict(zip(names, values, strict=True))})
            if spec is not None and is_unseen(spec, seen, index):
                completions[tuple(categorical_value(v) for v in values)] = spec
        if not completions:
            return None
        if not grid:
            return next(iter(completions.values())), ""
        study, scored = self._study(view, action, grid)
        if scored >= self.options.n_startup_trials:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(TPE_ASKS):
                    trial = study.ask()
                    values = tuple(
                        trial.suggest_categorical(s.name, [categorical_value(o) for o in s.options]) for s in grid
                    )
                    if values in completions:
                        why = f"TPE on {scored} scored {action} trials chose {_text(names, values)}"
                        return completions[values], why
        values = rng.choice(sorted(completions, key=repr))
        why = "random start" if scored < self.options.n_startup_trials else "TPE proposed only tried values"
        return completions[values], f"{why}: {_text(names, values)} at random"

    def _study(self, view: PolicyView, action: str, grid: list[Any]) -> tuple[Any, int]:
        """A TPE study told this action type's finished trials (grid values and score); and how many scored."""
        from optuna.distributions import CategoricalDistribution
        from optuna.trial import TrialState, create_trial

        study = new_study(self.seed, view.iteration, self.options.n_startup_trials, self.options.n_ei_candidates)
        dists: dict[str, Any] = {
            s.name: CategoricalDistribution([categorical_value(o) for o in s.options]) for s in grid
        }
        scored = 0
        for t in view.history:
            if t.spec.action != action or any(s.name not in t.spec.params for s in grid):
                continue
            params = {s.name: categorical_value(t.spec.params[s.name]) for s in grid}
            if any(params[k] not in dists[k].choices for k in params):
                continue  # a value outside today's grid (changed on resume)
            value = t.score if t.state == "finished" and t.score is not None and math.isfinite(t.score) else None
            ok = value is not None
            state = TrialState.COMPLETE if ok else TrialState.FAIL
            study.add_trial(create_trial(params=params, distributions=dists, value=value, state=state))
            scored += ok
        return study, scored


def _text(names: list[str], values: tuple[Any, ...]) -> str:
    return ", ".join(f"{n}={fmt_value(v)}" for n, v in zip(names, values, strict=True))
