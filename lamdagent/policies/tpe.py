"""The TPE baseline: Optuna's Tree-structured Parzen Estimator over the action space.

Each proposal is one `ask` of a study that holds every finished trial with its objective score (failed ones
as failed); the sampled point is then turned into the nearest valid, unseen spec.

The encoding, and why. Optuna's categorical distributions may not change their choices within a study, but
the pool grows every trial, so pool model ids cannot be categories. A model slot is instead described by
features whose domains stay fixed: `origin` (the action that made the model, or `base`), `depth` (steps from
an initial model, capped) and `rank` (its score's rank among the pool's models: 0 best, 1 worst). TPE learns
which kinds of model are worth building on ("the best SFT model at depth 1"), and that knowledge carries over
to models that did not exist when it was learnt. Datasets and grid values are fixed sets: plain categoricals.
The action type is a categorical over the run's actions; each action's slots are its own (conditional)
parameters, which `multivariate=True, group=True` models jointly.

A sampled point is realised as the unseen choice of the sampled action at the smallest distance (one per
mismatched categorical, plus the rank and scaled depth differences), and the study is told the *realised*
features, so it learns from what actually ran. The study is rebuilt from the history at each proposal: the
ledger stays the only state (a resumed run proposes as if it had never stopped) and a run's choices depend
only on its seed and its history. Where the sampled action has no unseen choice (a merge before the pool holds
two models, or a type used up), the proposal is a uniformly random unseen spec, marked as a fallback.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from lamdagent.ledger import TrialRecord
from lamdagent.policies.base import POLICIES, Policy, PolicyOptions, PolicyView, Proposal, step_rng
from lamdagent.policies.space import random_unseen, signature_index, try_build, unseen_choices
from lamdagent.pool import ActionCandidates, SlotOptions
from lamdagent.signature import SignatureIndex
from lamdagent.spec import ActionSpec, as_ids

MAX_DEPTH = 4  # depths above this are told as this (the distribution's domain must be fixed)
BASE_ORIGIN = "base"
Encoding = dict[str, Any]


class TPEOptions(PolicyOptions):
    n_startup_trials: int = Field(
        default=5, ge=0, le=1000, description="Finished trials sampled at random before TPE models the scores"
    )
    n_ei_candidates: int = Field(
        default=24, ge=1, le=1000, description="Points TPE draws per proposal to pick the most promising from"
    )


def categorical_value(value: Any) -> Any:
    """A grid value as an Optuna categorical choice (None, bool, int, float or str)."""
    return value if value is None or isinstance(value, bool | int | float | str) else json.dumps(value)


@POLICIES.decorator("tpe")
class TPEPolicy(Policy):
    name = "tpe"
    Options = TPEOptions

    def __init__(self, seed: int = 0, n_startup_trials: int = 5, n_ei_candidates: int = 24) -> None:
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        self._encodings: dict[str, Encoding] = {}  # spec hash -> the features it was proposed with

    @classmethod
    def create(cls, options: Any, seed: int) -> TPEPolicy:
        return cls(seed, options.n_startup_trials, options.n_ei_candidates)

    # -- the encoding ------------------------------------------------------------------------------------
    def distributions(self, view: PolicyView) -> dict[str, Any]:
        """Every parameter of the search space with its fixed domain (see the module docstring)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        import lamdagent.actions  # noqa: F401 - the built-in action types register on import
        from lamdagent.actions.base import ACTIONS

        pool = view.pool
        origins = (BASE_ORIGIN, *sorted(pool.actions))
        data = {
            "sft_data": tuple(sorted(d.id for d in pool.datasets.values() if d.kind == "sft")),
            "pref_data": tuple(sorted(d.id for d in pool.datasets.values() if d.kind == "preference")),
        }
        out: dict[str, Any] = {"action": CategoricalDistribution(tuple(sorted(pool.actions)))}
        for action in pool.actions:
            for slot in ACTIONS.get(action).slots:
                if slot.kind == "model":
                    for k in range(slot.count):
                        key = f"{action}.{slot.name}{k}"
                        out[f"{key}.origin"] = CategoricalDistribution(origins)
                        out[f"{key}.depth"] = IntDistribution(0, MAX_DEPTH)
                        out[f"{key}.rank"] = FloatDistribution(0.0, 1.0)
                elif data[slot.kind]:
                    out[f"{action}.{slot.name}"] = CategoricalDistribution(data[slot.kind])
            for pname, values in pool.grids.get(action, {}).items():
                out[f"{action}.{pname}"] = CategoricalDistribution(tuple(categorical_value(v) for v in values))
        return out

    def model_features(self, view: PolicyView) -> dict[str, tuple[str, int, float]]:
        """Pool model id -> (origin, depth, rank)."""
        models = view.pool.models
        depth: dict[str, int] = {}

        def depth_of(mid: str) -> int:
            if mid not in depth:
                ref = models.get(mid)
                parents = [p for p in (ref.parents if ref else ()) if p in models and p != mid]
                depth[mid] = 0 if ref is None or ref.action is None else 1 + max(map(depth_of, parents), default=0)
            return depth[mid]

        ranked = sorted(models, key=lambda m: -view.model_scores[m] if m in view.model_scores else math.inf)
        n = len(ranked)
        return {
            m: (models[m].action or BASE_ORIGIN, min(depth_of(m), MAX_DEPTH), i / (n - 1) if n > 1 else 0.0)
            for i, m in enumerate(ranked)
        }

    def encode(self, action: str, choice: Mapping[str, Any], cands: ActionCandidates, features: Mapping) -> Encoding:
        """A concrete choice as TPE parameters (the realised features of its models)."""
        enc: Encoding = {"action": action}
        for slot in cands.slots:
            value = choice[slot.name]
            if slot.kind == "model":
                for k, mid in enumerate(as_ids(value)):
                    origin, depth, rank = features[mid]
                    key = f"{action}.{slot.name}{k}"
                    enc.update({f"{key}.origin": origin, f"{key}.depth": depth, f"{key}.rank": rank})
            else:
                enc[f"{action}.{slot.name}"] = categorical_value(value)
        return enc

    def encode_spec(self, spec: ActionSpec, view: PolicyView, features: Mapping) -> Encoding | None:
        """A spec of the history as TPE parameters, or None where its inputs left the pool or the space."""
        if spec.spec_hash() in self._encodings:
            return self._encodings[spec.spec_hash()]
        cands = view.candidates.actions.get(spec.action)
        if cands is None:
            return None
        choice: dict[str, Any] = dict(spec.inputs)
        for slot in cands.slots:
            if slot.kind == "param":
                if slot.name not in spec.params:
                    return None
                choice[slot.name] = spec.params[slot.name]
        if any(mid not in features for s in cands.slots if s.kind == "model" for mid in as_ids(choice[s.name])):
            return None
        return self.encode(spec.action, choice, cands, features)

    # -- the study ---------------------------------------------------------------------------------------
    def study(self, view: PolicyView, dists: Mapping[str, Any], features: Mapping) -> Any:
        """A fresh study told every finished trial (failed ones as failed) and holding the specs in flight."""
        from optuna.trial import TrialState, create_trial

        study = new_study(self.seed, view.iteration, self.n_startup_trials, self.n_ei_candidates)
        told: set[str] = set()
        entries: list[tuple[ActionSpec, TrialRecord | None]] = [(t.spec, t) for t in view.history]
        entries += [(s, None) for s in view.running]
        for spec, trial in entries:
            h = spec.spec_hash()
            enc = self.encode_spec(spec, view, features)
            if h in told or enc is None:
                continue
            told.add(h)
            if trial is None:
                state, value = TrialState.RUNNING, None
            elif trial.state == "finished" and trial.score is not None and math.isfinite(trial.score):
                state, value = TrialState.COMPLETE, float(trial.score)
            else:
                state, value = TrialState.FAIL, None
            try:
                frozen = create_trial(params=enc, distributions={k: dists[k] for k in enc}, value=value, state=state)
                study.add_trial(frozen)
            except (KeyError, ValueError):  # a value outside today's space (e.g. a grid changed on resume)
                continue
        return study

    def ask(self, study: Any, dists: Mapping[str, Any]) -> Encoding:
        """One ask: the action, then that action's own parameters."""
        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            trial = study.ask()
            action = _suggest(trial, "action", dists["action"])
            sampled: Encoding = {"action": action}
            for name, dist in dists.items():
                if name.startswith(f"{action}."):
                    sampled[name] = _suggest(trial, name, dist)
        return sampled

    # -- realising a sampled point -----------------------------------------------------------------------
    @staticmethod
    def distance(sampled: Encoding, enc: Encoding) -> float:
        d = 0.0
        for key, want in sampled.items():
            got = enc.get(key)
            if key.endswith(".rank"):
                d += abs(float(want) - float(got if got is not None else 1.0))
            elif key.endswith(".depth"):
                d += abs(int(want) - int(got if got is not None else 0)) / MAX_DEPTH
            elif got != want:
                d += 1.0
        return d

    def realise(
        self,
        view: PolicyView,
        sampled: Encoding,
        seen: set[str],
        index: SignatureIndex | None,
        features: Mapping,
    ) -> tuple[ActionSpec, Encoding, float] | None:
        """The unseen spec of the sampled action nearest the sampled point; None when it has none."""
        action = sampled["action"]
        cands = view.candidates.actions.get(action)
        if cands is None:
            return None
        left = unseen_choices(view.candidates, action, seen, index=index)
        if left is None:  # too many to list: build the nearest choice slot by slot
            return self._construct(view, cands, sampled, seen, index, features)
        best: tuple[float, str, ActionSpec, Encoding] | None = None
        for choice, spec in left:
            enc = self.encode(action, choice, cands, features)
            key = (self.distance(sampled, enc), spec.spec_hash())
            if best is None or key < best[:2]:
                best = (*key, spec, enc)
        return (best[2], best[3], best[0]) if best else None

    def _construct(
        self,
        view: PolicyView,
        cands: ActionCandidates,
        sampled: Encoding,
        seen: set[str],
        index: SignatureIndex | None,
        features: Mapping,
    ) -> tuple[ActionSpec, Encoding, float] | None:
        action = sampled["action"]
        used: set[str] = set()
        choice: dict[str, Any] = {}
        for slot in cands.slots:
            if slot.kind == "model":
                picked = [self._nearest_model(slot, k, action, sampled, used, features) for k in range(slot.count)]
                choice[slot.name] = picked if slot.count > 1 else picked[0]
            else:
                want = sampled.get(f"{action}.{slot.name}")
                match = [o for o in slot.options if categorical_value(o) == want]
                choice[slot.name] = match[0] if match else slot.options[0]
        spec = try_build(view.candidates, action, choice)
        if spec is None or spec.spec_hash() in seen or (index is not None and index.excluded(spec)):
            return None
        enc = self.encode(action, choice, cands, features)
        return spec, enc, self.distance(sampled, enc)

    def _nearest_model(
        self, slot: SlotOptions, k: int, action: str, sampled: Encoding, used: set[str], features: Mapping
    ) -> str:
        key = f"{action}.{slot.name}{k}"
        want = {f"x.{f}": sampled[f"{key}.{f}"] for f in ("origin", "depth", "rank")}
        options = [m for m in slot.options if m not in used]
        best = min(options, key=lambda m: (self.distance(want, self._model_enc(features[m])), m))
        used.add(best)
        return best

    @staticmethod
    def _model_enc(feature: tuple[str, int, float]) -> Encoding:
        return {"x.origin": feature[0], "x.depth": feature[1], "x.rank": feature[2]}

    # -- proposing ---------------------------------------------------------------------------------------
    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        seen = set(view.seen_hashes)
        index = signature_index(view)
        if index is not None:
            index = index.copy()
        features = self.model_features(view)
        dists = self.distributions(view)
        study = self.study(view, dists, features)
        told = sum(1 for t in study.trials if t.state.name == "COMPLETE")
        rng = step_rng(self.seed, view)
        out: list[Proposal] = []
        for _ in range(n):
            sampled = self.ask(study, dists)
            found = self.realise(view, sampled, seen, index, features)
            if found is not None:
                spec, enc, dist = found
                mode = "random start" if told < self.n_startup_trials else f"TPE on {told} scored trials"
                why = f"tpe ({mode}): sampled {_describe(sampled)}; nearest unseen choice at distance {dist:.2f}"
                proposal = Proposal(spec, rationale=why)
            else:
                spec_or_none = random_unseen(view.candidates, seen, rng, index=index)
                if spec_or_none is None:
                    break
                spec = spec_or_none
                cands = view.candidates.actions[spec.action]
                choice = {**spec.inputs, **{s.name: spec.params[s.name] for s in cands.slots if s.kind == "param"}}
                enc = self.encode(spec.action, choice, cands, features)
                proposal = Proposal(
                    spec,
                    rationale=f"tpe: the sampled action {sampled['action']} has no unseen choice now; random unseen",
                    fallback=True,
                )
            seen.add(spec.spec_hash())
            if index is not None:
                index.add(spec)
            self._encodings[spec.spec_hash()] = enc
            out.append(proposal)
        return out


def new_study(seed: int, iteration: int, n_startup_trials: int, n_ei_candidates: int) -> Any:
    """An empty maximising study on a multivariate TPE sampler seeded by the run's seed and the iteration."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=(seed * 1_000_003 + iteration) % 2**32,
            n_startup_trials=n_startup_trials,
            n_ei_candidates=n_ei_candidates,
            multivariate=True,
            group=True,
            constant_liar=True,
        )
    return optuna.create_study(direction="maximize", sampler=sampler)


def _describe(sampled: Encoding) -> str:
    """The sampled point in a few words, for the rationale."""
    parts = []
    for key, value in sampled.items():
        if key == "action":
            continue
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        parts.append(f"{key.split('.', 1)[1]}={shown}")
    return f"{sampled['action']}({', '.join(parts)})"


def _suggest(trial: Any, name: str, dist: Any) -> Any:
    """`suggest_*` for a distribution of the encoding (categorical, int or float)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high)
    return trial.suggest_float(name, dist.low, dist.high)
