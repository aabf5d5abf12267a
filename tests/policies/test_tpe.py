"""The TPE policy: seeded, never a seen spec, learns from told scores, falls back only when it must."""

from __future__ import annotations

from policy_helpers import MERGE, TRAIN, failed, finished, make_pool, make_view

from lamdagent.ledger import TrialRecord
from lamdagent.policies import POLICIES
from lamdagent.policies.tpe import TPEPolicy
from lamdagent.pool import Pool
from lamdagent.signature import spec_signature
from lamdagent.spec import ActionSpec


def score_of(spec: ActionSpec) -> float:
    """A made-up objective: training on tool_sft at the small learning rate is best, merges are poor."""
    if spec.action == TRAIN:
        return 0.6 + 0.3 * (spec.inputs["data"] == "tool_sft") + 0.05 * (spec.params["learning_rate"] == 1e-5)
    return 0.1 if spec.action == MERGE else 0.3


def simulate(policy: TPEPolicy, steps: int, pool: Pool | None = None) -> tuple[list[ActionSpec], list[TrialRecord]]:
    """A loop without a loop: propose one, finish it with `score_of`, let its model join the pool."""
    pool = pool or make_pool()
    history: list[TrialRecord] = []
    specs = []
    for i in range(1, steps + 1):
        view = make_view(pool, history=history)
        proposals = policy.propose(view, 1)
        assert len(proposals) == 1
        spec = proposals[0].spec
        assert spec.spec_hash() not in view.seen_hashes
        view.candidates.build_spec(
            spec.action, {**spec.inputs, **{k: spec.params[k] for k in pool.grids.get(spec.action, {})}}
        )  # a valid choice of the candidates (raises otherwise)
        specs.append(spec)
        history.append(finished(pool, i, spec, score_of(spec)))
    return specs, history


def test_registered_and_built_from_options():
    cls = POLICIES.get("tpe")
    policy = cls.create(cls.Options.model_validate({"n_startup_trials": 2}), seed=3)
    assert isinstance(policy, TPEPolicy) and policy.n_startup_trials == 2 and policy.seed == 3


def test_same_seed_same_choices_and_never_a_seen_spec():
    one, _ = simulate(TPEPolicy(seed=1, n_startup_trials=3), 12)
    two, _ = simulate(TPEPolicy(seed=1, n_startup_trials=3), 12)
    other, _ = simulate(TPEPolicy(seed=2, n_startup_trials=3), 12)
    assert [s.spec_hash() for s in one] == [s.spec_hash() for s in two]
    assert [s.spec_hash() for s in one] != [s.spec_hash() for s in other]
    assert len({s.spec_hash() for s in one}) == 12


def test_after_the_start_it_models_the_told_scores():
    policy = TPEPolicy(seed=0, n_startup_trials=3)
    pool = make_pool()
    _, history = simulate(policy, 6, pool)
    view = make_view(pool, history=history)
    proposal = policy.propose(view, 1)[0]
    assert "TPE on 6 scored trials" in proposal.rationale and not proposal.fallback
    study = policy.study(view, policy.distributions(view), policy.model_features(view))
    assert sorted(t.value for t in study.trials) == sorted(t.score for t in history)


def test_failed_trials_are_told_as_failed_and_running_ones_as_running():
    pool = make_pool()
    spec = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "if_sft", "learning_rate": 1e-4})
    other = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    view = make_view(pool, history=[failed(1, spec)], running=[other])
    policy = TPEPolicy(seed=0)
    study = policy.study(view, policy.distributions(view), policy.model_features(view))
    assert sorted(t.state.name for t in study.trials) == ["FAIL", "RUNNING"]
    proposals = policy.propose(view, 3)
    hashes = [p.spec.spec_hash() for p in proposals]
    assert len(set(hashes)) == 3 and not set(hashes) & {spec.spec_hash(), other.spec_hash()}


def test_when_the_sampled_action_has_nothing_left_it_falls_back_then_stops():
    pool = make_pool()
    pool.actions = [TRAIN]  # 2 SFT datasets x 2 learning rates on the one base model: four choices
    pool.grids = {TRAIN: pool.grids[TRAIN]}
    history: list[TrialRecord] = []
    policy = TPEPolicy(seed=0, n_startup_trials=1)
    for i in range(1, 5):
        view = make_view(pool, history=history)
        (proposal,) = policy.propose(view, 1)
        assert proposal.spec.spec_hash() not in view.seen_hashes
        history.append(finished(pool, i, proposal.spec, 0.5, add=False))
    assert policy.propose(make_view(pool, history=history), 1) == []


def test_with_signatures_in_the_view_it_skips_twins_and_noops():
    pool = make_pool(extra_models=2)
    done = finished(
        pool, 1, pool.candidates().build_spec(TRAIN, {"model": "m1", "data": "tool_sft", "learning_rate": 1e-4}), 0.9
    )
    view = make_view(pool, history=[done])
    sigs = {"base": "B", "m1": "X", "m2": "X", done.output_model: "Y"}
    view.model_signatures = sigs
    view.seen_signatures = frozenset({spec_signature(done.spec, sigs)})
    twin = pool.candidates().build_spec(TRAIN, {"model": "m2", "data": "tool_sft", "learning_rate": 1e-4})
    for seed in range(6):
        for p in TPEPolicy(seed=seed, n_startup_trials=0).propose(view, 4):
            assert p.spec.spec_hash() != twin.spec_hash()
