"""Screening: a policy proposes k candidates, the lineage predictor ranks them, the best predicted one runs.

`policy.screen: k` wraps any proposing policy (llm, hybrid, random, greedy, tpe). Each round the predictor
(`lamdagent.predict`) is fitted on the run so far (every scored model's validation verdicts and scores, tied by
the pool's lineage) and predicts each candidate's task scores from its inputs and action; the run's objective
ranks the predictions. The chosen proposal carries the prediction with its interval in its rationale, and every
candidate's prediction in its decision record (the report shows them). Until two models have verdicts there is
nothing to fit, and the inner policy's first proposals pass through unchanged, saying so. The candidates' own
cost (LLM tokens) counts: screening spends agent time to save trials.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.ledger import TrialRecord
from lamdagent.policies.base import Policy, PolicyView, Proposal
from lamdagent.policies.briefing import task_scores
from lamdagent.predict import LineagePredictor, Node, Prediction, spec_node
from lamdagent.spec import ActionSpec


class ScreenedPolicy(Policy):
    """`inner` proposes `k` candidates per proposal wanted; the predictor keeps the best."""

    def __init__(self, inner: Policy, k: int, seed: int = 0) -> None:
        if inner.name == "fixed":
            raise LamdagentError(
                "policy.screen: the fixed policy runs its pipeline as written; screen llm, hybrid, random, greedy "
                "or tpe proposals instead"
            )
        self.inner, self.k, self.seed = inner, k, seed
        self.name = inner.name  # type: ignore[misc]

    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        candidates = self.inner.propose(view, n * self.k)
        if len(candidates) <= n:
            return candidates
        nodes = lineage(view)
        observed = {m: v for m, v in view.verdicts.items() if m in nodes}
        scores = _task_scores(view, observed)
        if len(observed) < 2 or view.rank is None:
            why = "screen: fewer than two scored models to learn from yet; the first candidates run unranked"
            return [_note(p, why) for p in candidates[:n]]
        predictor = LineagePredictor(seed=self.seed + view.iteration).fit(list(nodes.values()), observed, scores)
        ranked = []
        for p in candidates:
            pred = predictor.predict(candidate_node(p.spec, view))
            ranked.append((view.rank(pred.scores), p, pred))
        ranked.sort(key=lambda r: -r[0])
        table = [
            {"spec": p.spec.model_dump(mode="json", include={"action", "inputs", "params"}), "objective": round(v, 4)}
            | _interval(pred)
            for v, p, pred in ranked
        ]
        tokens = sum(p.llm_tokens for p in candidates)
        out = []
        for value, p, pred in ranked[:n]:
            why = f"screened best of {len(candidates)}: predicted {pred.text()} (objective {value:.3f})"
            decision = dict(p.decision or {}) | {"screen": table}
            out.append(
                Proposal(
                    p.spec,
                    rationale=f"{p.rationale} | {why}" if p.rationale else why,
                    fallback=p.fallback,
                    llm_tokens=tokens // n,
                    decision=decision,
                )
            )
        return out

    def update_memory(self, view: PolicyView, trial: TrialRecord) -> tuple[str, int] | None:
        return self.inner.update_memory(view, trial)


def lineage(view: PolicyView) -> dict[str, Node]:
    """Every pool model as a node: initial ones bare, produced ones from the spec of the trial that made them."""
    made = {t.output_model: t.spec for t in view.history if t.state == "finished" and t.output_model}
    out: dict[str, Node] = {}
    for mid in view.pool.models:
        spec = made.get(mid)
        out[mid] = candidate_node(spec, view, mid) if spec is not None else Node(mid)
    return out


def candidate_node(spec: ActionSpec, view: PolicyView, node_id: str | None = None) -> Node:
    return spec_node(spec, view.pool.models, node_id or spec.model_id())


def _task_scores(view: PolicyView, model_ids: Collection[str]) -> dict[str, dict[str, float]]:
    """Each model's per-task scores (the objective's metrics), from the initial models' or its trial's metrics."""
    made = {t.output_model: t.metrics for t in view.history if t.state == "finished" and t.output_model}
    return {m: task_scores(view.base_metrics.get(m) or made.get(m, {}), view.primary_metrics) for m in model_ids}


def _interval(pred: Prediction) -> dict[str, Any]:
    return {
        "predicted": {t: round(v, 4) for t, v in pred.scores.items()},
        "low": {t: round(v, 4) for t, v in pred.low.items()},
        "high": {t: round(v, 4) for t, v in pred.high.items()},
    }


def _note(p: Proposal, why: str) -> Proposal:
    return Proposal(
        p.spec,
        rationale=f"{p.rationale} | {why}" if p.rationale else why,
        fallback=p.fallback,
        llm_tokens=p.llm_tokens,
        decision=p.decision,
    )
