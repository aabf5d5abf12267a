"""Canonical pipeline signatures: symmetric merges, no-ops, nesting, and independence from run ids."""

from __future__ import annotations

from typing import Any

import pytest

import lamdagent.actions  # noqa: F401 - registers the built-in action types
from lamdagent.actions.base import ACTIONS
from lamdagent.errors import LamdagentError
from lamdagent.ledger import TrialRecord
from lamdagent.signature import (
    SignatureIndex,
    canonical_value,
    canonicalise,
    is_noop,
    signatures_of_run,
    spec_canonical,
    spec_signature,
)
from lamdagent.spec import ActionSpec

BASE = "smollm2-135m-instruct"


def spec(action: str, inputs: dict[str, Any], **params: Any) -> ActionSpec:
    """A spec with the action's full parameters (defaults filled in), as the pool builds it."""
    full = ACTIONS.get(action).spec_params(params)
    ids = [i for v in inputs.values() for i in ([v] if isinstance(v, str) else v)]
    return ActionSpec(action=action, inputs=inputs, params=full, fingerprints={i: "f" + i for i in ids})


SIGS = {"base": BASE, "a": "sft(x=1; data=d1, model=smollm2)", "b": "sft(x=2; data=d2, model=smollm2)"}


def test_floats_are_rounded_so_complements_match():
    assert canonical_value(1 - 0.7) == canonical_value(0.3) == 0.3
    assert canonical_value(-0.0) == 0.0 and canonical_value(True) is True and canonical_value(3) == 3
    assert canonical_value({"b": [0.1 + 0.2], "a": 1}) == {"a": 1, "b": [0.3]}


def test_linear_and_slerp_are_symmetric_with_the_weight_complemented():
    one = spec_signature(spec("linear", {"models": ["a", "b"]}, weight=0.7), SIGS)
    other = spec_signature(spec("linear", {"models": ["b", "a"]}, weight=1 - 0.7), SIGS)
    assert one == other
    assert one != spec_signature(spec("linear", {"models": ["a", "b"]}, weight=0.3), SIGS)
    s1 = spec_signature(spec("slerp", {"models": ["a", "b"]}, t=0.25), SIGS)
    assert s1 == spec_signature(spec("slerp", {"models": ["b", "a"]}, t=0.75), SIGS)


@pytest.mark.parametrize("action", ["task_arithmetic", "ties", "dare_ties"])
def test_task_vector_merges_swap_their_per_model_weights(action):
    one = spec_signature(
        spec(action, {"models": ["a", "b"], "base": "base"}, weight_first=0.4, weight_second=1.2), SIGS
    )
    other = spec_signature(
        spec(action, {"models": ["b", "a"], "base": "base"}, weight_first=1.2, weight_second=0.4), SIGS
    )
    assert one == other
    same_weights = spec_signature(
        spec(action, {"models": ["b", "a"], "base": "base"}, weight_first=0.4, weight_second=1.2), SIGS
    )
    assert same_weights != one


def test_the_canonical_order_puts_the_models_in_sorted_order():
    c = spec_canonical(spec("linear", {"models": ["b", "a"]}, weight=0.2), SIGS)
    assert c.inputs["models"] == (SIGS["a"], SIGS["b"]) and c.params["weight"] == 0.8


def test_training_actions_keep_every_parameter_and_the_dataset_name():
    s = spec_signature(spec("sft", {"model": "base", "data": "tool_sft"}, learning_rate=2e-4, lora_r=16), SIGS)
    assert s.startswith("sft(") and "learning_rate=0.0002" in s and "lora_r=16" in s
    assert "data=tool_sft" in s and f"model={BASE}" in s
    assert s != spec_signature(spec("sft", {"model": "base", "data": "tool_sft"}, learning_rate=5e-4), SIGS)


def test_merging_a_model_with_itself_or_at_an_end_point_is_a_noop():
    twins = {**SIGS, "a2": SIGS["a"]}  # another run id of the same pipeline
    same = spec_canonical(spec("linear", {"models": ["a", "a2"]}, weight=0.3), twins)
    assert same.is_noop() and same.signature() == SIGS["a"]
    assert is_noop(spec("slerp", {"models": ["a", "a2"]}, t=0.5), twins)
    assert spec_signature(spec("linear", {"models": ["a", "b"]}, weight=1.0), SIGS) == SIGS["a"]
    assert spec_signature(spec("linear", {"models": ["a", "b"]}, weight=0.0), SIGS) == SIGS["b"]
    assert spec_signature(spec("slerp", {"models": ["a", "b"]}, t=1.0), SIGS) == SIGS["b"]
    assert not is_noop(spec("linear", {"models": ["a", "b"]}, weight=0.5), SIGS)


def test_task_vector_self_merges_are_noops_only_when_the_vector_comes_back_once():
    twins = {**SIGS, "a2": SIGS["a"]}
    once = spec("task_arithmetic", {"models": ["a", "a2"], "base": "base"}, weight_first=0.5, weight_second=0.5)
    assert is_noop(once, twins) and spec_signature(once, twins) == SIGS["a"]
    twice = spec("task_arithmetic", {"models": ["a", "a2"], "base": "base"})  # weights 1 + 1, no normalising
    assert not is_noop(twice, twins)
    trimmed = spec("ties", {"models": ["a", "a2"], "base": "base"}, density=0.5)  # the trim changes the model
    assert not is_noop(trimmed, twins)
    assert is_noop(spec("ties", {"models": ["a", "a2"], "base": "base"}, density=1.0), twins)  # normalised
    zero = spec("ties", {"models": ["a", "b"], "base": "base"}, weight_first=0, weight_second=0)
    assert spec_signature(zero, SIGS) == BASE


def test_signatures_nest_and_do_not_depend_on_run_ids():
    def pipeline(ids: dict[str, str]) -> str:
        first = spec("sft", {"model": ids["base"], "data": "tool_sft"}, learning_rate=1e-4)
        second = spec("dpo", {"model": ids["base"], "data": "pref"})
        sigs = {ids["base"]: BASE}
        sigs[ids["m1"]] = spec_signature(first, sigs)
        sigs[ids["m2"]] = spec_signature(second, sigs)
        return spec_signature(spec("linear", {"models": [ids["m1"], ids["m2"]]}, weight=0.3), sigs)

    one = pipeline({"base": "base", "m1": "m0001", "m2": "m0002"})
    other = pipeline({"base": "base1", "m1": "mffff", "m2": "meeee"})
    assert one == other
    assert one.startswith("linear(") and one.count("sft(") == 1 and one.count("dpo(") == 1
    assert "m0001" not in one and BASE in one


def test_canonicalise_takes_signatures_directly():
    c = canonicalise("linear", {"weight": 0.7}, {"models": ["Y", "X"]})
    assert c.inputs["models"] == ("X", "Y") and c.params == {"weight": 0.3}
    assert c.signature() == "linear(weight=0.3; models=[X,Y])"


def test_a_model_without_a_signature_is_an_error():
    with pytest.raises(LamdagentError, match="m9"):
        spec_signature(spec("sft", {"model": "m9", "data": "tool_sft"}), SIGS)


def _trial(tid: int, s: ActionSpec, state: str = "finished") -> TrialRecord:
    out = s.model_id() if state == "finished" else None
    return TrialRecord(id=tid, iteration=tid, spec_hash=s.spec_hash(), spec=s, state=state, output_model=out)


def test_signatures_of_a_run_and_the_index():
    t1 = _trial(1, spec("sft", {"model": "base", "data": "tool_sft"}))
    t2 = _trial(2, spec("sft", {"model": "base", "data": "if_sft"}))
    m1, m2 = t1.output_model, t2.output_model
    t3 = _trial(3, spec("linear", {"models": [m1, m2]}, weight=0.3))
    t4 = _trial(4, spec("linear", {"models": [m2, m1]}, weight=0.7), state="failed")
    models, by_trial = signatures_of_run([t4, t3, t2, t1], {"base": BASE})
    assert by_trial[3] == by_trial[4] and models[t3.output_model] == by_trial[3]
    assert set(models) == {"base", m1, m2, t3.output_model}

    index = SignatureIndex(models, [by_trial[1], by_trial[3]])
    assert index.seen(spec("linear", {"models": [m2, m1]}, weight=1 - 0.3))  # the other orientation
    assert not index.seen(spec("linear", {"models": [m1, m2]}, weight=0.5))
    assert index.noop(spec("linear", {"models": [m1, m2]}, weight=1.0))
    assert index.excluded(spec("linear", {"models": [m1, m2]}, weight=0.0))
    assert not index.seen(spec("sft", {"model": "m-unknown", "data": "tool_sft"}))  # unknown input: no claim


def test_the_choice_space_counts_seen_signatures_and_noops_only_when_the_view_has_them():
    import random
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent / "policies"))
    from policy_helpers import TRAIN, finished, make_pool, make_view

    from lamdagent.policies.space import random_unseen, signature_index, unseen_choices

    pool = make_pool(extra_models=2)  # m1 and m2: below, two run ids of one pipeline
    done = finished(
        pool, 1, pool.candidates().build_spec(TRAIN, {"model": "m1", "data": "tool_sft", "learning_rate": 1e-4}), 0.5
    )
    view = make_view(pool, history=[done])
    assert signature_index(view) is None  # no signatures: hashes alone decide, as before
    plain = unseen_choices(view.candidates, TRAIN, view.seen_hashes) or []
    twin = {"model": "m2", "data": "tool_sft", "learning_rate": 1e-4}
    assert twin in [c for c, _ in plain]

    sigs = {"base": "B", "m1": "X", "m2": "X", done.output_model: "Y"}
    view.model_signatures = sigs
    view.seen_signatures = frozenset({spec_signature(done.spec, sigs)})
    index = signature_index(view)
    signed = unseen_choices(view.candidates, TRAIN, view.seen_hashes, index=index) or []
    assert twin not in [c for c, _ in signed] and len(signed) == len(plain) - 1
    for seed in range(20):
        got = random_unseen(view.candidates, view.seen_hashes, random.Random(seed), index=index)
        assert got is not None and not index.excluded(got)


def test_the_index_of_a_run():
    from types import SimpleNamespace

    from lamdagent.signature import run_signatures

    t1 = _trial(1, spec("sft", {"model": "base", "data": "tool_sft"}))
    t2 = _trial(2, spec("linear", {"models": [t1.output_model, "base"]}, weight=0.4))
    t3 = _trial(3, spec("sft", {"model": "base", "data": "if_sft"}), state="interrupted")
    run = SimpleNamespace(trials=[t1, t2, t3], bases={"base": SimpleNamespace(name=BASE)})
    models = run_signatures(run)
    assert models["base"] == BASE and models[t2.output_model].startswith("linear(")
    assert run_signatures(run, {"base": "other"})["base"] == "other"
    running = spec("sft", {"model": t1.output_model, "data": "if_sft"})
    index = SignatureIndex.from_run(run, running=[running])
    assert index.seen(t1.spec) and index.seen(running)
    assert index.seen(spec("linear", {"models": ["base", t1.output_model]}, weight=0.6))
    assert not index.seen(t3.spec)  # interrupted trials may be proposed again


def test_signature_inputs_reads_back_the_top_level_inputs():
    from lamdagent.signature import canonicalise, signature_inputs

    inner = canonicalise("sft", {"learning_rate": 1e-4}, {"model": "base", "data": "tool_sft"}).signature()
    merged = canonicalise("ties", {"density": 0.5}, {"models": [inner, "other"], "base": "base"}).signature()
    assert signature_inputs(inner) == {"data": "tool_sft", "model": "base"}
    assert signature_inputs(merged) == {"base": "base", "models": sorted([inner, "other"])}
    assert signature_inputs("base") == {} and signature_inputs("not a (signature") == {}
