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
