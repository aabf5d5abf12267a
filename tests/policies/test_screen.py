"""Screening: k candidates from the inner policy, ranked by the lineage predictor on the run so far."""

from __future__ import annotations

import pytest
from policy_helpers import TRAIN, finished, make_pool, make_view

from lamdagent.errors import LamdagentError
from lamdagent.policies import make_policy
from lamdagent.policies.base import Policy, PolicyView, Proposal
from lamdagent.policies.screen import ScreenedPolicy

ITEMS = [(i + 0.5) / 40 for i in range(40)]
EFFECT = {"tool_sft": 0.2, "if_sft": -0.1}


def verdicts(skill: float) -> dict[str, list[float]]:
    return {"tool_use": [1.0 if skill > d else 0.0 for d in ITEMS]}


class Given(Policy):
    """Proposes the given specs, in order (a stand-in for any proposing policy)."""

    name = "given"

    def __init__(self, specs: list) -> None:
        self.specs = specs
        self.asked: list[int] = []

    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        self.asked.append(n)
        return [Proposal(s, rationale=f"candidate {k}", llm_tokens=10) for k, s in enumerate(self.specs[:n])]


def _view():
    """base (skill 0.3) and fine-tunes on the helpful and the harmful set, at depth 1 and 2, all scored."""
    pool = make_pool()
    skills = {"base": 0.3}
    history = []
    parents = ["base"]
    for depth in (1, 2):
        made = []
        for parent in parents:
            for data in ("tool_sft", "if_sft"):
                spec = pool.candidates().build_spec(TRAIN, {"model": parent, "data": data, "learning_rate": 1e-4})
                skill = skills[parent] + EFFECT[data]
                trial = finished(pool, len(history) + 1, spec, sum(verdicts(skill)["tool_use"]) / 40)
                skills[trial.output_model] = skill
                history.append(trial)
                made.append(trial.output_model)
        parents = made[:1] if depth == 1 else parents
    view = make_view(pool, history=history)
    view.verdicts = {m: verdicts(s) for m, s in skills.items()}
    view.rank = lambda scores: scores["tool_use"]
    return view, pool, skills


def test_the_candidate_with_the_best_prediction_runs():
    view, pool, skills = _view()
    weakest = min((m for m in skills if m != "base"), key=lambda m: skills[m])
    cands = pool.candidates()
    bad = cands.build_spec(TRAIN, {"model": weakest, "data": "if_sft", "learning_rate": 1e-5})
    good = cands.build_spec(TRAIN, {"model": weakest, "data": "tool_sft", "learning_rate": 1e-5})
    inner = Given([bad, good])
    [chosen] = ScreenedPolicy(inner, k=2).propose(view)
    assert inner.asked == [2]
    assert chosen.spec == good and chosen.rationale.startswith("candidate 1 | screened best of 2: predicted tool_use")
    screen = chosen.decision["screen"]
    assert [s["spec"]["inputs"]["data"] for s in screen] == ["tool_sft", "if_sft"]
    assert screen[0]["objective"] > screen[1]["objective"]
    assert all(s["low"]["tool_use"] <= s["predicted"]["tool_use"] <= s["high"]["tool_use"] for s in screen)
    assert chosen.llm_tokens == 20  # both candidates cost agent tokens


def test_with_too_little_data_the_first_candidates_pass_through():
    view, pool, _ = _view()
    view.verdicts = {"base": verdicts(0.3)}
    spec = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-5})
    other = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "if_sft", "learning_rate": 1e-5})
    [p] = ScreenedPolicy(Given([spec, other]), k=2).propose(view)
    assert p.spec == spec and "fewer than two scored models" in p.rationale


def test_screen_is_an_option_of_every_proposing_policy_but_fixed():
    made = make_policy("random", {"screen": 3}, 0)
    assert isinstance(made, ScreenedPolicy) and made.k == 3 and made.name == "random"
    assert not isinstance(make_policy("random", {}, 0), ScreenedPolicy)
    fixed = {"pipeline": [{"action": "sft", "inputs": {"model": "base", "data": "d"}}], "screen": 2}
    with pytest.raises(LamdagentError, match="fixed policy runs its pipeline as written"):
        make_policy("fixed", fixed, 0)
