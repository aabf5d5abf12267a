"""The hybrid policy: the LLM fills the objects only, TPE (or a random start) fills the grid values."""

from __future__ import annotations

import json

from policy_helpers import MERGE, TRAIN, ScriptedClient, failed, finished, last_user, make_pool, make_view

from lamdagent.policies import make_policy
from lamdagent.policies.hybrid import HybridOptions, HybridPolicy


def hybrid(client: ScriptedClient, seed: int = 0, **options: object) -> HybridPolicy:
    return HybridPolicy(client, HybridOptions(**options), seed=seed)


def test_the_llm_is_asked_for_objects_only_and_the_grid_value_is_filled_in():
    client = ScriptedClient(
        [json.dumps({"action": TRAIN}), json.dumps({"rationale": "tools", "model": "M0", "data": "tool_sft"})]
    )
    [prop] = hybrid(client).propose(make_view(make_pool()))
    assert prop.spec.action == TRAIN and prop.spec.inputs == {"model": "base", "data": "tool_sft"}
    assert prop.spec.params["learning_rate"] in (1e-5, 1e-4) and not prop.fallback
    assert "learning_rate" not in client.schemas[1]["properties"]
    step2 = last_user(client.calls[1])
    assert "The values of learning_rate are chosen afterwards" in step2 and "pick one of: " not in step2
    assert "random start" in prop.rationale and "tools" in prop.rationale


def test_only_unseen_completions_are_taken_and_used_up_objects_are_refused():
    pool = make_pool()
    cands = pool.candidates()
    tried = cands.build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    view = make_view(pool, history=[failed(1, tried)])
    client = ScriptedClient([json.dumps({"action": TRAIN}), json.dumps({"model": "M0", "data": "tool_sft"})])
    [prop] = hybrid(client).propose(view)
    assert prop.spec.params["learning_rate"] == 1e-5  # the only value left for these objects

    both = cands.build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-5})
    view = make_view(pool, history=[failed(1, tried), failed(2, both)])
    answers = [json.dumps({"action": TRAIN}), json.dumps({"model": "M0", "data": "tool_sft"})]
    client = ScriptedClient([*answers, json.dumps({"model": "M0", "data": "if_sft"})])
    [prop] = hybrid(client).propose(view)
    assert prop.spec.inputs["data"] == "if_sft"
    assert "every value of learning_rate was already tried" in last_user(client.calls[2])

    # a constrained backend is never offered objects whose grid values are all used up
    client = ScriptedClient(constrained=True, pick=lambda options: options.index(TRAIN) if TRAIN in options else 0)
    [prop] = hybrid(client).propose(view)
    assert prop.spec.inputs["data"] == "if_sft" and ["if_sft", "tool_sft"] not in [sorted(c) for c in client.choices]


def test_tpe_takes_over_the_grid_values_once_enough_trials_are_scored():
    """With the larger learning rate always scoring higher, TPE proposes it for new objects."""
    pool = make_pool(extra_models=4)
    cands = pool.candidates()
    history, n = [], 0
    for model in ("m1", "m2", "m3"):
        for lr, score in ((1e-4, 0.6), (1e-5, 0.1)):
            n += 1
            spec = cands.build_spec(TRAIN, {"model": model, "data": "tool_sft", "learning_rate": lr})
            history.append(finished(pool, n, spec, score, add=False))
    chosen = []
    for seed in range(10):
        answers = [json.dumps({"action": TRAIN}), json.dumps({"model": "M4", "data": "if_sft"})]
        client = ScriptedClient(answers)
        [prop] = hybrid(client, seed=seed, n_startup_trials=2).propose(make_view(pool, history=history))
        assert "TPE on 6 scored pt_train trials" in prop.rationale
        chosen.append(prop.spec.params["learning_rate"])
    assert chosen.count(1e-4) >= 9, chosen  # at random: 1% of the time


def test_merges_get_their_weight_from_tpe_and_the_factory_builds_the_hybrid():
    pool = make_pool(extra_models=1)
    client = ScriptedClient([json.dumps({"action": MERGE}), json.dumps({"models": ["M1", "M0"]})])
    [prop] = hybrid(client).propose(make_view(pool))
    assert prop.spec.action == MERGE and prop.spec.params["weight"] in (0.3, 0.7)
    made = make_policy("hybrid", {"llm": {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}}, 1)
    assert isinstance(made, HybridPolicy) and made.seed == 1 and not made.llm_params
