"""The random, greedy and fixed baselines on a real Pool of small fake action types."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from policy_helpers import MERGE, PREF, TRAIN, failed, finished, make_pool, make_view

from lamdagent.errors import LamdagentError
from lamdagent.policies import make_policy
from lamdagent.policies.fixed import FixedPolicy
from lamdagent.policies.greedy import GreedyPolicy
from lamdagent.policies.random import RandomPolicy
from lamdagent.policies.space import choice_count, iter_choices, random_unseen, try_build


def _all_specs(pool):
    cands = pool.candidates()
    return [s for a, c in cands.actions.items() for ch in iter_choices(c) if (s := try_build(cands, a, ch))]


def test_choice_count_is_exact_for_the_pool():
    pool = make_pool(extra_models=2)  # base, m1, m2
    cands = pool.candidates()
    for action, ac in cands.actions.items():
        built = [s for ch in iter_choices(ac) if (s := try_build(cands, action, ch))]
        assert choice_count(ac) == len({s.spec_hash() for s in built}), action
    assert choice_count(cands.actions[MERGE]) == 3 * 2 * 2  # ordered pairs x two weights


def test_random_covers_every_type_never_repeats_and_stops_when_exhausted():
    pool = make_pool(extra_models=1)
    total = len(_all_specs(pool))
    policy = RandomPolicy(seed=1)
    seen: list = []
    kinds: Counter[str] = Counter()
    while True:
        view = make_view(pool, history=[failed(i, s) for i, s in enumerate(seen, 1)])
        props = policy.propose(view, 3)
        if not props:
            break
        hashes = [p.spec.spec_hash() for p in props]
        assert len(set(hashes)) == len(hashes) and not set(hashes) & view.seen_hashes
        seen += [p.spec for p in props]
        kinds.update(p.spec.action for p in props)
    assert len(seen) == total and set(kinds) == {TRAIN, PREF, MERGE}


def test_random_is_reproducible_from_its_seed_and_draws_types_uniformly():
    view = make_view(make_pool(extra_models=2))
    a = [p.spec for p in RandomPolicy(seed=7).propose(view, 4)]
    assert a == [p.spec for p in RandomPolicy(seed=7).propose(view, 4)]
    counts = Counter(random_unseen(view.candidates, set(), random.Random(i)).action for i in range(300))
    assert all(80 <= counts[t] <= 120 for t in (TRAIN, PREF, MERGE)), counts


def test_greedy_varies_the_best_model():
    pool = make_pool()
    cands = pool.candidates()
    weak = finished(pool, 1, cands.build_spec(TRAIN, {"model": "base", "data": "if_sft", "learning_rate": 1e-5}), 0.3)
    best = finished(pool, 2, cands.build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4}), 0.6)
    view = make_view(pool, history=[weak, best])
    props = GreedyPolicy(seed=0).propose(view, 12)
    assert len({p.spec.spec_hash() for p in props}) == 12 and not any(p.fallback for p in props)
    for p in props:
        models = [m for m in p.spec.input_ids() if m in pool.models]
        assert best.output_model in models, p.spec
        assert set(models) <= {best.output_model, weak.output_model, "base"}
        assert best.output_model in p.rationale
    # merges pair the best with the base or the runner-up
    partners = {m for p in props if p.spec.action == MERGE for m in p.spec.inputs["models"]} - {best.output_model}
    assert partners == {"base", weak.output_model}


def test_greedy_falls_back_to_random_once_the_best_is_fully_varied():
    pool = make_pool(extra_models=1)
    view = make_view(pool, scores={"m1": 0.9})
    policy = GreedyPolicy(seed=0)
    tried = [s for specs in policy.variations(view, set(view.seen_hashes)).values() for s in specs]
    assert len(tried) == 4 + 1 + 4  # train m1 (2 data x 2 rates), pref m1, merge m1 with base (2 orders x 2 weights)
    view = make_view(pool, history=[failed(i, s) for i, s in enumerate(tried, 1)], scores={"m1": 0.9})
    props = policy.propose(view, 2)
    assert len(props) == 2 and all(p.fallback for p in props)
    assert all("m1" not in str(p.spec.inputs) for p in props)  # nothing with the best is left


def test_fixed_runs_the_pipeline_in_order_with_step_references():
    pipeline = [
        {"action": TRAIN, "inputs": {"model": "base", "data": "tool_sft"}, "params": {"learning_rate": 3e-4}},
        {"action": MERGE, "inputs": {"models": ["$1", "base"]}, "params": {"weight": 0.6}},
    ]
    policy = make_policy("fixed", {"pipeline": pipeline, "llm": {}, "max_retries": 2}, 0)
    assert isinstance(policy, FixedPolicy)
    pool = make_pool()
    [first] = policy.propose(make_view(pool), 2)  # step 2 needs step 1's model
    assert first.spec.action == TRAIN and first.spec.params["learning_rate"] == 3e-4
    assert policy.propose(make_view(pool, running=[first.spec])) == []  # waits for the running step

    done = finished(pool, 1, first.spec, 0.4)
    [second] = policy.propose(make_view(pool, history=[done]))
    assert second.spec.inputs == {"models": (done.output_model, "base")} and second.spec.params["weight"] == 0.6
    assert second.spec.fingerprints[done.output_model] == pool.fingerprint(done.output_model)
    assert "step 2 of 2" in second.rationale
    assert policy.propose(make_view(pool, history=[done, finished(pool, 2, second.spec, 0.5)])) == []

    # a failed step is not retried, and what depends on it never runs
    assert policy.propose(make_view(make_pool(), history=[failed(1, first.spec)])) == []


@pytest.mark.parametrize(
    ("pipeline", "error"),
    [
        ([{"action": MERGE, "inputs": {"models": ["$1", "base"]}}], r"pipeline\[0\] \(step 1\).*earlier step"),
        ([{"action": TRAIN, "inputs": {"model": "base"}}], r"missing \['data'\]"),
        ([{"action": "sftt", "inputs": {}}], "unknown action type 'sftt'"),
        ([{"action": MERGE, "inputs": {"models": "base"}}], "list of 2"),
        ([{"action": TRAIN, "inputs": {"model": "base", "data": "x"}, "params": {"learning_rate": -1}}], "greater"),
        ([], "pipeline"),
    ],
)
def test_fixed_rejects_a_bad_pipeline_at_start(pipeline, error):
    with pytest.raises(LamdagentError, match=error):
        make_policy("fixed", {"pipeline": pipeline}, 0)


def test_fixed_names_an_unknown_pool_object():
    policy = make_policy("fixed", {"pipeline": [{"action": TRAIN, "inputs": {"model": "base", "data": "nope"}}]}, 0)
    with pytest.raises(LamdagentError, match=r"inputs.data: 'nope' is not in the pool"):
        policy.propose(make_view(make_pool()))


def test_baselines_refuse_a_pipeline_and_unknown_keys():
    with pytest.raises(LamdagentError, match="policy.pipeline: Extra inputs"):
        make_policy("random", {"pipeline": [{"action": TRAIN}]}, 0)
    with pytest.raises(LamdagentError, match="policy.temprature"):
        make_policy("greedy", {"temprature": 0}, 0)
    assert isinstance(make_policy("random", {"llm": {"backend": "local"}}, 0), RandomPolicy)


def test_every_policy_accepts_the_run_configs_policy_section():
    from lamdagent.config import PolicyConfig

    step = {"action": TRAIN, "inputs": {"model": "base", "data": "tool_sft"}}
    for name, extra in [("random", {}), ("greedy", {}), ("fixed", {"pipeline": [step]})]:
        cfg = PolicyConfig(name=name, **extra).options()
        policy = make_policy(name, cfg, 0)
        [prop] = policy.propose(make_view(make_pool()))
        assert prop.spec.action in (TRAIN, PREF)
        if name == "fixed":
            assert prop.spec.inputs == step["inputs"]


def test_every_baseline_skips_symmetric_duplicates_and_no_ops():
    """linear([A, B], 0.3) is linear([B, A], 0.7): once one ran, no policy proposes the other."""
    import lamdagent.actions  # noqa: F401 - registers the real merge actions
    from lamdagent.pool import Pool
    from lamdagent.signature import SignatureIndex, base_signature
    from lamdagent.spec import ModelRef

    pool = Pool(actions=["linear"], grids={"linear": {"weight": [0.3, 0.7]}})
    for mid in ("a", "b"):
        pool.add_model(ModelRef(id=mid, path="unused", fingerprint=mid, name=mid))
    done = pool.candidates().build_spec("linear", {"models": ["a", "b"], "weight": 0.3})
    models = {m: base_signature(m) for m in ("a", "b")}
    view = make_view(pool)  # the merge ran in another run: its spec hash is unknown here, its signature not
    view.model_signatures = models
    view.seen_signatures = frozenset({SignatureIndex(models).signature(done)})
    for policy in (RandomPolicy(seed=3), GreedyPolicy(seed=3)):
        props = policy.propose(view, 4)
        # four assignments, two distinct models; one of them ran already
        assert len(props) == 1, [p.spec for p in props]
        assert SignatureIndex(models).signature(props[0].spec) not in view.seen_signatures
