"""The LLM policy on the real embedded model in-process: option-by-option choice always gives a valid spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_helpers import finished, make_view

import lamdagent.actions  # noqa: F401 - registers the built-in action types
from lamdagent.policies import make_policy
from lamdagent.policies.llm import LLMPolicy
from lamdagent.pool import Pool
from lamdagent.spec import DatasetRef, ModelRef


def real_pool() -> Pool:
    pool = Pool(
        actions=["sft", "dpo", "linear", "ties"],
        datasets={
            "tool_use_sft": DatasetRef(
                id="tool_use_sft",
                kind="sft",
                path="t.jsonl",
                fingerprint="ft",
                rows=64,
                description="function calls in <tool_call> format",
            ),
            "if_sft": DatasetRef(
                id="if_sft",
                kind="sft",
                path="i.jsonl",
                fingerprint="fi",
                rows=64,
                description="answers that follow format instructions",
            ),
            "tool_pref": DatasetRef(id="tool_pref", kind="preference", path="p.jsonl", fingerprint="fp", rows=32),
        },
        grids={"sft": {"learning_rate": [5e-5, 2e-4]}, "linear": {"weight": [0.3, 0.7]}},
    )
    pool.add_model(ModelRef(id="base", path="b", fingerprint="fb", name="SmolLM2-135M-Instruct"))
    return pool


@pytest.mark.slow
def test_embedded_model_selects_a_valid_unseen_action_and_rewrites_memory(embedded_dir: Path):
    pool = real_pool()
    first = pool.candidates().build_spec("sft", {"model": "base", "data": "tool_use_sft", "learning_rate": 5e-5})
    trial = finished(pool, 1, first, 0.41)
    view = make_view(pool, history=[trial], memory="SFT on tool data raised tool_use from 0.20 to 0.41.")
    policy = make_policy("llm", {"llm": {"backend": "local", "device": "cpu"}, "memory_max_chars": 200}, 0)
    assert isinstance(policy, LLMPolicy) and policy.constrained

    props = policy.propose(view, 2)
    assert len(props) == 2 and not any(p.fallback for p in props)
    assert len({p.spec.spec_hash() for p in props} | view.seen_hashes) == 3  # new and distinct
    for p in props:
        assert p.llm_tokens > 0
        assert p.spec.action in view.candidates.actions
        models = [m for m in p.spec.input_ids() if m in pool.models]
        assert models and len(set(models)) == len(models)

    update = policy.update_memory(view, trial)
    assert update is not None
    text, tokens = update
    assert text.strip() and len(text) <= 200 and tokens > 0


@pytest.mark.slow
def test_embedded_model_drives_the_hybrid_and_every_choice_is_recorded(embedded_dir: Path):
    pool = real_pool()
    first = pool.candidates().build_spec("sft", {"model": "base", "data": "tool_use_sft", "learning_rate": 5e-5})
    view = make_view(pool, history=[finished(pool, 1, first, 0.41)])
    policy = make_policy("hybrid", {"llm": {"backend": "local", "device": "cpu"}}, 0)
    [prop] = policy.propose(view)
    assert not prop.fallback and prop.spec.spec_hash() not in view.seen_hashes
    assert prop.decision is not None
    for step in prop.decision["steps"]:
        # each call keeps its options and their mean-log-probability scores; the answer is the best scored
        scores = step["scores"]
        assert len(scores) == len(step["options"]) and all(s <= 0 for s in scores)
        assert step["answer"] == step["options"][scores.index(max(scores))]
        assert "learning_rate" not in step["step"]  # grid values are TPE's
