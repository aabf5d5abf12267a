"""The LLM policy with a scripted client: two-step parsing, re-asks with the error, fallbacks, memory."""

from __future__ import annotations

import json

import pytest
from policy_helpers import MERGE, PREF, TRAIN, ScriptedClient, failed, finished, last_user, make_pool, make_view

from lamdagent.errors import LamdagentError
from lamdagent.llm.base import LLMError, parse_client_config
from lamdagent.llm.openai_compat import OpenAIClient
from lamdagent.policies import make_policy
from lamdagent.policies.llm import LLMPolicy, LLMPolicyOptions, extract_json

STEP1 = json.dumps({"action": TRAIN, "rationale": "tools first"})
STEP2 = json.dumps({"model": "base", "data": "tool_sft", "learning_rate": 0.0001, "rationale": "the tool data"})


def policy(client: ScriptedClient, **options: object) -> LLMPolicy:
    return LLMPolicy(client, LLMPolicyOptions(**options), seed=0)


def test_two_step_selection_parses_both_answers_and_counts_tokens():
    client = ScriptedClient([STEP1, f"Here you go:\n```json\n{STEP2}\n```"])
    [prop] = policy(client).propose(make_view(make_pool()))
    assert prop.spec.action == TRAIN and prop.spec.inputs == {"model": "base", "data": "tool_sft"}
    assert prop.spec.params["learning_rate"] == 1e-4
    assert not prop.fallback and prop.llm_tokens == 30
    assert "tools first" in prop.rationale and "the tool data" in prop.rationale

    step1, step2 = (last_user(c) for c in client.calls)
    assert client.calls[0][0]["role"] == "system"
    assert f"- {TRAIN}: Supervised fine-tuning" in step1 and f"- {PREF}: Preference" in step1
    assert MERGE not in step1  # needs two models; the pool has one
    assert "base: initial model -> score 0.200 [tool_use 0.200]" in step1
    assert "SmolLM2" not in step1  # neutral ids: the initial model's descriptive name is never shown
    assert "exploration" in step1 and "maximise tool_use accuracy" in step1
    assert "tool_sft: 40 rows; tool calls" in step2 and "1e-05, 0.0001" in step2
    assert client.schemas[0]["properties"]["action"]["enum"] == [PREF, TRAIN]
    assert client.schemas[1]["properties"]["data"]["enum"] == ["tool_sft", "if_sft"]


@pytest.mark.parametrize(
    ("answers", "error"),
    [
        (['{"action": "fly"}', STEP1, STEP2], "'fly' is not an available action type"),
        ([STEP1, "model=base data=tool_sft", STEP2], "contains no JSON object"),
        ([STEP1, '{"model": "base", "data": "tool_sft"}', STEP2], "slot 'learning_rate' is missing"),
        ([STEP1, '{"model": "m9", "data": "tool_sft", "learning_rate": 1e-4}', STEP2], "'m9' is not one of"),
    ],
    ids=["unknown-type", "bad-json", "missing-slot", "out-of-list"],
)
def test_an_invalid_answer_is_asked_again_with_the_error(answers: list[str], error: str):
    client = ScriptedClient(answers)
    [prop] = policy(client).propose(make_view(make_pool()))
    assert not prop.fallback and prop.spec.inputs["data"] == "tool_sft" and prop.llm_tokens == 45
    bad_index = next(i for i, a in enumerate(answers) if a not in (STEP1, STEP2))
    retry = client.calls[bad_index + 1]
    assert error in last_user(retry)
    assert retry[-2] == {"role": "assistant", "content": answers[bad_index]}  # the conversation goes on


def test_no_valid_answer_falls_back_to_a_random_unseen_action():
    view = make_view(make_pool())
    client = ScriptedClient(["I think SFT is best"] * 3)
    [prop] = policy(client, max_retries=2).propose(view)
    assert prop.fallback and prop.rationale.startswith("fallback") and "no valid answer after 3 tries" in prop.rationale
    assert len(client.calls) == 3 and prop.llm_tokens == 45
    assert prop.spec.spec_hash() not in view.seen_hashes
    view.candidates.build_spec(prop.spec.action, {**prop.spec.inputs, **_grid_params(prop.spec)})  # valid

    # step 2 failing keeps the type the agent chose in step 1
    client = ScriptedClient([STEP1, '{"model": "zzz"}'])
    [prop] = policy(client, max_retries=0).propose(view)
    assert prop.fallback and prop.spec.action == TRAIN and len(client.calls) == 2


def test_an_unreachable_llm_falls_back_at_once():
    client = ScriptedClient([LLMError("127.0.0.1:9: APIConnectionError: Connection error.")])
    [prop] = policy(client, max_retries=5).propose(make_view(make_pool()))
    assert prop.fallback and "Connection error" in prop.rationale and len(client.calls) == 1


def test_a_seen_spec_is_never_proposed():
    pool = make_pool()
    tried = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    view = make_view(pool, history=[failed(1, tried)])
    other = json.dumps({"model": "base", "data": "if_sft", "learning_rate": 1e-5, "rationale": "new data"})
    client = ScriptedClient([STEP1, STEP2, other])
    [prop] = policy(client).propose(view)
    assert prop.spec.spec_hash() != tried.spec_hash() and prop.spec.inputs["data"] == "if_sft"
    assert "already tried, is in flight" in last_user(client.calls[2])
    assert '{"model": "base", "data": "tool_sft", "learning_rate": 0.0001}' in last_user(client.calls[1])
    assert f"#1 {TRAIN}(model=base, data=tool_sft; learning_rate=0.0001) -> failed: CUDA out of memory" in last_user(
        client.calls[0]
    )


def test_exhausted_types_are_not_offered():
    pool = make_pool()
    pref = pool.candidates().build_spec(PREF, {"model": "base", "data": "prefs"})
    client = ScriptedClient([STEP2])
    [prop] = policy(client).propose(make_view(pool, history=[failed(1, pref)]))
    # only one type is left: no step-1 question, straight to its slots
    assert len(client.calls) == 1 and "Step 2 of 2" in last_user(client.calls[0]) and prop.spec.action == TRAIN

    cands = pool.candidates()
    everything = [
        cands.build_spec(TRAIN, {"model": "base", "data": d, "learning_rate": lr})
        for d in ("tool_sft", "if_sft")
        for lr in (1e-5, 1e-4)
    ]
    view = make_view(pool, history=[failed(i, s) for i, s in enumerate([pref, *everything], 1)])
    client = ScriptedClient([])
    assert policy(client).propose(view, 3) == [] and client.calls == []


def test_n_proposals_are_distinct_and_later_ones_see_earlier_ones_in_flight():
    a = STEP2
    b = json.dumps({"model": "base", "data": "if_sft", "learning_rate": 1e-5})
    pref = json.dumps({"model": "base", "data": "prefs", "rationale": "align"})
    client = ScriptedClient([STEP1, a, STEP1, a, b, json.dumps({"action": PREF}), pref])
    props = policy(client).propose(make_view(make_pool()), 3)
    assert len({p.spec.spec_hash() for p in props}) == 3 and not any(p.fallback for p in props)
    assert [p.spec.action for p in props] == [TRAIN, TRAIN, PREF]
    assert "already tried, is in flight" in last_user(client.calls[4])
    assert (
        f"{TRAIN}(model=base, data=tool_sft; learning_rate=0.0001)"
        in last_user(client.calls[2]).split("Trials in flight")[1]
    )


def test_constrained_backend_chooses_slot_by_slot_and_skips_seen_combinations():
    pool = make_pool()
    client = ScriptedClient(constrained=True, pick=lambda options: len(options) - 1)
    [prop] = policy(client).propose(make_view(pool))
    assert prop.spec.inputs == {"model": "base", "data": "if_sft"} and prop.spec.params["learning_rate"] == 1e-4
    # the single-option model slot is not asked; each later slot sees the earlier answers
    assert client.choices == [[PREF, TRAIN], ["tool_sft", "if_sft"], ["1e-05", "0.0001"]]
    assert 'Chosen so far: {"model": "base", "data": "if_sft"}' in last_user(client.calls[2])
    assert prop.llm_tokens == 21 and not prop.fallback
    assert (
        prop.rationale
        == f"likeliest of 2 types: {TRAIN}; likeliest values: data=if_sft (of 2), learning_rate=0.0001 (of 2)"
    )

    client = ScriptedClient(constrained=True, pick=lambda options: len(options) - 1)
    [again] = policy(client).propose(make_view(pool, history=[failed(1, prop.spec)]))
    assert again.spec.inputs["data"] == "if_sft" and again.spec.params["learning_rate"] == 1e-5
    assert client.choices[-1] == ["tool_sft", "if_sft"]  # only 1e-05 is left: not asked

    client = ScriptedClient(constrained=True, pick=LLMError("model crashed"))
    [fb] = policy(client).propose(make_view(pool))
    assert fb.fallback and "model crashed" in fb.rationale


def test_memory_update_returns_capped_text_and_tokens():
    pool = make_pool()
    spec = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    trial = finished(pool, 1, spec, 0.5)
    view = make_view(pool, history=[trial], memory="Nothing learned yet.")
    client = ScriptedClient(["Tool data helps a lot. " * 60])
    text, tokens = policy(client, memory_max_chars=200).update_memory(view, trial)
    assert tokens == 15 and 0 < len(text) <= 200 and text.endswith(".")
    prompt = last_user(client.calls[0])
    assert f"#1 {TRAIN}(model=base, data=tool_sft; learning_rate=0.0001) -> {spec.model_id()}, score 0.500" in prompt
    assert "input model scores: base 0.200" in prompt and "Nothing learned yet." in prompt
    assert f"Best model so far: {spec.model_id()}" in prompt

    client = ScriptedClient([LLMError("timeout")])
    assert policy(client).update_memory(view, trial) is None

    # a small model that copies its prompt back leaves the memory as it was, but its tokens count
    client = ScriptedClient([prompt])
    assert policy(client).update_memory(view, trial) == ("Nothing learned yet.", 15)


def test_echo_is_a_mostly_copied_answer_not_a_quoted_spec():
    from lamdagent.policies.llm import echoes

    prompt = "Recent trials: - #1 sft(model=base, data=tool_sft; learning_rate=0.0001) -> m1, score 0.500"
    assert echoes(prompt + " and", prompt)
    assert not echoes("sft(model=base, data=tool_sft; learning_rate=0.0001) helped: try dpo on m1 next.", prompt)
    assert not echoes("too short", prompt)
    # any stretch of the template's instructions gives a copy away, even inside new words
    template = "Trials:\n$history\n\nRewrite your memory in a few sentences (at most $max_chars characters)."
    answer = "sft on tool data did not help; merges kept the score. Rewrite your memory in a few sentences (at"
    assert echoes(answer, prompt, template) and not echoes(answer, prompt)


def test_prompts_show_the_metric_the_objective_uses():
    pool = make_pool()
    view = make_view(pool)
    view.base_metrics = {"base": {"tool_use": {"first": 0.9, "accuracy": 0.2}}}
    view.primary_metrics = {"tool_use": "accuracy"}
    client = ScriptedClient([STEP1, STEP2])
    policy(client).propose(view)
    assert "tool_use 0.200" in last_user(client.calls[0]) and "tool_use 0.900" not in last_user(client.calls[0])


def test_factory_builds_the_client_from_the_run_config():
    from lamdagent.config import PolicyConfig

    cfg = PolicyConfig(name="llm", llm={"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"})
    made = make_policy("llm", cfg.options(), 3)
    assert isinstance(made, LLMPolicy) and isinstance(made.client, OpenAIClient) and not made.constrained
    shared = {"model": "smollm2-135m-instruct", "temperature": 0.0, "max_tokens": 64, "timeout_s": 30.0}
    for backend in ("local", "llamacpp", "openai"):  # the settings every backend shares fit each of them
        assert parse_client_config({"backend": backend, **shared}).max_tokens == 64
    for bad, where in [
        ({"max_retries": -1}, "policy.max_retries"),
        ({"retries": 1}, "policy.retries"),
        ({"llm": {"backend": "nope"}}, "unknown llm backend 'nope'"),
        ({"pipeline": []}, "policy.pipeline"),
    ]:
        with pytest.raises(LamdagentError, match=where):
            make_policy("llm", bad, 0)


def test_extract_json_tolerates_prose_and_fences():
    assert extract_json('Sure. {not json} then ```json\n{"a": [1, {"b": 2}]}\n``` done') == {"a": [1, {"b": 2}]}
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json('["a list", "is not an object"]')


def _grid_params(spec):  # the grid values chosen for a spec, as a choice dict
    return {"learning_rate": spec.params["learning_rate"]} if spec.action == TRAIN else {}


def test_task_scores_take_the_primary_metric_or_a_bare_number():
    from lamdagent.policies.llm import task_scores

    assert task_scores({"a": 0.5, "b": {"acc": 0.1, "primary": 0.3}, "c": {"f1": 0.7, "acc": 0.2}, "d": {}}) == {
        "a": 0.5,
        "b": 0.3,
        "c": 0.7,
    }
    # the objective's metric wins over the first one: prompts show what the loop prints
    assert task_scores({"c": {"f1": 0.7, "acc": 0.2}}, {"c": "acc"}) == {"c": 0.2}
