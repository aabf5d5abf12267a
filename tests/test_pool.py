"""Enumeration lists options per slot, grows with the pool, and validates the agent's choices."""

from __future__ import annotations

import random

import pytest

from lamdagent.errors import LamdagentError
from lamdagent.pool import Pool
from lamdagent.spec import DatasetRef, ModelRef


def _pool(n_models: int = 1) -> Pool:
    pool = Pool(
        actions=["sft", "dpo", "linear", "ties"],
        datasets={
            "a": DatasetRef(id="a", kind="sft", path="a.jsonl", fingerprint="fa", rows=3),
            "p": DatasetRef(id="p", kind="preference", path="p.jsonl", fingerprint="fp", rows=3),
        },
        grids={"sft": {"learning_rate": [1e-5, 1e-4]}, "linear": {"weight": [0.3, 0.7]}},
        fixed_params={"sft": {"max_steps": 3}},
    )
    pool.add_model(ModelRef(id="base", path="b", fingerprint="fb", name="x"))
    for i in range(1, n_models):
        pool.add_model(ModelRef(id=f"m{i}", path=f"m{i}", fingerprint=f"f{i}", parents=("base",), action="sft"))
    return pool


def test_merges_appear_only_when_enough_models():
    assert set(_pool(1).candidates().actions) == {"sft", "dpo"}
    assert set(_pool(2).candidates().actions) == {"sft", "dpo", "linear"}
    cands = _pool(3).candidates()
    assert set(cands.actions) == {"sft", "dpo", "linear", "ties"}
    sft = cands.actions["sft"]
    assert sft.slot("data").options == ("a",) and sft.slot("learning_rate").options == (1e-5, 1e-4)
    assert cands.actions["dpo"].slot("data").options == ("p",)


def test_build_spec_validates_and_pins_fingerprints():
    cands = _pool(3).candidates()
    spec = cands.build_spec("sft", {"model": "m1", "data": "a", "learning_rate": "0.0001"})
    assert spec.params["learning_rate"] == 1e-4 and spec.params["max_steps"] == 3
    assert spec.fingerprints == {"m1": "f1", "a": "fa"}
    assert spec.model_id() == cands.build_spec("sft", {"model": "m1", "data": "a", "learning_rate": 1e-4}).model_id()
    with pytest.raises(ValueError, match="missing"):
        cands.build_spec("sft", {"model": "m1", "learning_rate": 1e-4})
    with pytest.raises(ValueError, match="not one of"):
        cands.build_spec("sft", {"model": "zzz", "data": "a", "learning_rate": 1e-4})
    with pytest.raises(ValueError, match="only one model slot"):
        cands.build_spec("ties", {"models": ["m1", "m2"], "base": "m1"})
    with pytest.raises(ValueError, match="not available"):
        cands.build_spec("slerp", {})
    with pytest.raises(ValueError, match="distinct"):
        cands.build_spec("linear", {"models": ["m1", "m1"], "weight": 0.3})


def test_random_choices_are_always_valid():
    cands = _pool(3).candidates()
    rng = random.Random(0)
    for _ in range(50):
        action, choice = cands.random_choice(rng)
        cands.build_spec(action, choice)


def test_unknown_action_and_grid_param_are_one_line_errors():
    with pytest.raises(LamdagentError, match="unknown action type 'sfft'; known: .*sft"):
        Pool(actions=["sfft"])
    with pytest.raises(LamdagentError, match=r"grids.sft.lr: no such parameter"):
        Pool(actions=["sft"], grids={"sft": {"lr": [1]}})


def test_models_at_the_maximum_depth_are_offered_to_no_action():
    pool = _pool(3)
    pool.add_model(ModelRef(id="d2", path="d2", fingerprint="f4", parents=("m1", "m2"), action="linear"))
    assert [pool.depth(m) for m in ("base", "m1", "d2")] == [0, 1, 2]
    assert "d2" in pool.candidates().actions["sft"].slot("model").options
    pool.max_depth = 2
    cands = pool.candidates()
    assert cands.actions["sft"].slot("model").options == ("base", "m1", "m2")
    assert "d2" not in cands.actions["linear"].slot("models").options
    with pytest.raises(ValueError, match="not one of"):
        cands.build_spec("sft", {"model": "d2", "data": "a", "learning_rate": 1e-4})
    pool.max_depth = 1
    assert set(pool.candidates().actions) == {"sft", "dpo"}  # the base alone: nothing to merge


def test_a_task_vector_base_must_be_a_common_ancestor_of_the_merged_models():
    pool = _pool(3)
    pool.add_model(ModelRef(id="m3", path="m3", fingerprint="f3", parents=("m1",), action="sft"))
    cands = pool.candidates()
    assert cands.build_spec("ties", {"models": ["m3", "m2"], "base": "base"}).inputs["base"] == "base"
    with pytest.raises(ValueError, match=r"slot 'base': m1 is not an ancestor .* common ancestors: base"):
        cands.build_spec("ties", {"models": ["m3", "m2"], "base": "m1"})
    with pytest.raises(ValueError, match="m3 is not an ancestor"):
        cands.build_spec("ties", {"models": ["m1", "m2"], "base": "m3"})  # a descendant, not an ancestor
    assert pool.common_ancestors(["m3", "base"]) == set()  # the base descends from nothing in the pool
    # two initial models: the pool does not know their lineage, so another initial model may be their base
    pool.add_model(ModelRef(id="ft1", path="ft1", fingerprint="g1", name="ft1"))
    pool.add_model(ModelRef(id="ft2", path="ft2", fingerprint="g2", name="ft2"))
    assert pool.candidates().build_spec("ties", {"models": ["ft1", "ft2"], "base": "base"}).action == "ties"
    rng = random.Random(0)
    drawn = set()
    for _ in range(200):
        action, choice = pool.candidates().random_choice(rng)
        if action == "ties":
            drawn.add(choice["base"])
            pool.candidates().build_spec(action, choice)  # the base is drawn among the valid ancestors
    assert "base" in drawn and drawn <= {"base", "m1", "ft1", "ft2"}
