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
    offered = step1.split("Action types you can choose now:")[1]
    assert f"- {TRAIN}: Supervised fine-tuning" in offered and f"- {PREF}: Preference" in offered
    assert MERGE not in offered  # needs two models; the pool has one
    assert "- M0 = initial model\n    tool_use 0.200 | objective 0.200" in step1
    assert "SmolLM2" not in step1 and "base" not in step1  # neutral short ids only
    assert "exploration" in step1 and "maximise tool_use accuracy" in step1
    assert "tool_sft (sft, 40 rows)" in step1 and "Budget left:" in step1
    assert "tool_sft: 40 rows; tool calls" in step2 and "M0 = initial model" in step2
    assert set(step2.split("pick one of: ")[-1].split("\n")[0].split(", ")) == {"1e-05", "0.0001"}
    for schema in client.schemas:  # the reason comes first, then the choice
        assert schema is not None and next(iter(schema["properties"])) == "rationale"
    assert sorted(client.schemas[0]["properties"]["action"]["enum"]) == sorted([PREF, TRAIN])
    assert sorted(client.schemas[1]["properties"]["data"]["enum"]) == ["if_sft", "tool_sft"]
    assert client.schemas[1]["properties"]["model"]["enum"] == ["M0"]
    # the decision record: both calls with their prompts and answers, and what was chosen
    steps = prop.decision["steps"]
    assert [s["step"] for s in steps] == ["action", "slots"] and steps[1]["prompt"] == step2
    assert steps[0]["answer"] == STEP1 and prop.decision["chosen"]["inputs"] == {"model": "base", "data": "tool_sft"}
    assert prop.decision["tokens"] == 30 and prop.decision["fallback"] is None


def test_models_are_named_by_short_aliases_and_answers_may_use_them():
    pool = make_pool()
    spec = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    trial = finished(pool, 1, spec, 0.5)
    view = make_view(pool, history=[trial])
    view.items = {"tool_use": 24}
    merge = json.dumps({"rationale": "blend", "models": ["M1", "m0"], "weight": 0.3})
    client = ScriptedClient([json.dumps({"action": MERGE}), merge])
    [prop] = policy(client).propose(view)
    assert prop.spec.inputs == {"models": (spec.model_id(), "base")} and prop.spec.params["weight"] == 0.3
    step1 = last_user(client.calls[0])
    assert spec.model_id() not in step1  # the hash never reaches the agent
    assert "- M1 = pt_train(model=M0, data=tool_sft; learning_rate=0.0001)" in step1
    assert "tool_use 0.500 [0.31-0.69, n=24] (+0.300 vs M0)" in step1
    assert "- pt_train: 1 tried, best change over its best input +0.300" in step1
    assert "Failed trials:\n(none)" in step1  # finished trials are the models above: not listed twice


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
    assert '{"model": "M0", "data": "tool_sft", "learning_rate": "0.0001"}' in last_user(client.calls[1])
    assert f"#1 {TRAIN}(model=M0, data=tool_sft; learning_rate=0.0001) -> failed: CUDA out of memory" in last_user(
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
        f"{TRAIN}(model=M0, data=tool_sft; learning_rate=0.0001)"
        in last_user(client.calls[2]).split("Trials in flight")[1]
    )


def _prefer(*wanted: str):
    """A `choose` that picks the first wanted option offered (whatever the shuffled order), else the first."""
    return lambda options: next((options.index(w) for w in wanted if w in options), 0)


def test_constrained_backend_chooses_slot_by_slot_and_skips_seen_combinations():
    pool = make_pool()
    client = ScriptedClient(constrained=True, pick=_prefer(TRAIN, "if_sft", "0.0001"))
    [prop] = policy(client).propose(make_view(pool))
    assert prop.spec.inputs == {"model": "base", "data": "if_sft"} and prop.spec.params["learning_rate"] == 1e-4
    # the single-option model slot is not asked; each later slot sees the earlier answers
    assert [sorted(c) for c in client.choices] == [sorted([PREF, TRAIN]), ["if_sft", "tool_sft"], ["0.0001", "1e-05"]]
    assert 'Chosen so far: {"model": "M0", "data": "if_sft"}' in last_user(client.calls[2])
    assert prop.llm_tokens == 21 and not prop.fallback
    assert (
        prop.rationale
        == f"likeliest of 2 types: {TRAIN}; likeliest values: data=if_sft (of 2), learning_rate=0.0001 (of 2)"
    )
    assert [s["step"] for s in prop.decision["steps"]] == ["action", "slot data", "slot learning_rate"]
    assert prop.decision["steps"][1]["answer"] == "if_sft"

    client = ScriptedClient(constrained=True, pick=_prefer(TRAIN, "if_sft", "0.0001"))
    [again] = policy(client).propose(make_view(pool, history=[failed(1, prop.spec)]))
    assert again.spec.inputs["data"] == "if_sft" and again.spec.params["learning_rate"] == 1e-5
    assert sorted(client.choices[-1]) == ["if_sft", "tool_sft"]  # only 1e-05 is left: not asked

    client = ScriptedClient(constrained=True, pick=LLMError("model crashed"))
    [fb] = policy(client).propose(make_view(pool))
    assert fb.fallback and "model crashed" in fb.rationale and fb.decision["fallback"].endswith("model crashed")


def test_option_order_is_shuffled_by_the_seed():
    """Each seed lists the options in its own order, so a policy that picks by position still varies."""
    pool = make_pool(extra_models=3)
    orders, picked = set(), set()
    for seed in range(8):
        client = ScriptedClient(constrained=True, pick=lambda options: 0)
        [prop] = LLMPolicy(client, LLMPolicyOptions(), seed=seed).propose(make_view(pool))
        orders.add(tuple(client.choices[0]))
        picked.add(prop.spec.spec_hash())
    assert len(orders) > 1 and len(picked) > 1
    again = ScriptedClient(constrained=True, pick=lambda options: 0)
    LLMPolicy(again, LLMPolicyOptions(), seed=7).propose(make_view(pool))
    assert tuple(again.choices[0]) in orders  # the same seed, the same order


def test_memory_update_returns_capped_text_and_tokens():
    pool = make_pool()
    spec = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    trial = finished(pool, 1, spec, 0.5)
    view = make_view(pool, history=[trial], memory="Nothing learned yet.")
    lessons = " ".join(f"Lesson {i}: tool data at rate {i} moved tool use by {i} items." for i in range(30))
    client = ScriptedClient([lessons])
    text, tokens = policy(client, memory_max_chars=200).update_memory(view, trial)
    assert tokens == 15 and 0 < len(text) <= 200 and text.endswith(".")
    prompt = last_user(client.calls[0])
    assert f"#1 {TRAIN}(model=M0, data=tool_sft; learning_rate=0.0001) -> M1, objective 0.500" in prompt
    assert "tool_use 0.500 (+0.300 vs M0)" in prompt and "Nothing learned yet." in prompt
    assert f"Best model so far: M1 = {TRAIN}(model=M0" in prompt

    client = ScriptedClient([LLMError("timeout")])
    assert policy(client).update_memory(view, trial) is None

    # a small model that copies its prompt back, or loops over one sentence, leaves the memory as it was,
    # but its tokens count
    client = ScriptedClient([prompt])
    assert policy(client).update_memory(view, trial) == ("Nothing learned yet.", 15)
    client = ScriptedClient(["Tool data helps a lot. " * 60])
    assert policy(client).update_memory(view, trial) == ("Nothing learned yet.", 15)


def test_repeats_finds_a_sentence_said_twice():
    from lamdagent.policies.llm import repeats

    assert repeats("SFT on tool data helped. Merges did not. SFT on tool data helped!")
    assert repeats("try the merge next\ntry the merge next")
    assert not repeats("SFT on tool data helped. SFT on instruction data helped too. Ok. Ok.")


def test_a_long_pool_shows_the_initial_the_best_and_the_latest_models():
    pool = make_pool()
    history = []
    for i in range(1, 13):
        spec = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
        spec = spec.model_copy(update={"params": {**spec.params, "seed": i}})
        history.append(finished(pool, i, spec, 0.9 if i == 2 else i / 100))
    client = ScriptedClient([STEP1, STEP2])
    policy(client, history_limit=4).propose(make_view(pool, history=history))
    shown = last_user(client.calls[0]).split("Failed trials")[0]
    listed = [line.split(" = ")[0] for line in shown.splitlines() if line.startswith("- M")]
    assert listed == ["- M0", "- M2", "- M9", "- M10", "- M11", "- M12"]  # initial, best, latest
    assert "(7 older models with lower scores not shown)" in shown


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
    from lamdagent.policies.briefing import task_scores

    assert task_scores({"a": 0.5, "b": {"acc": 0.1, "primary": 0.3}, "c": {"f1": 0.7, "acc": 0.2}, "d": {}}) == {
        "a": 0.5,
        "b": 0.3,
        "c": 0.7,
    }
    # the objective's metric wins over the first one: prompts show what the loop prints
    assert task_scores({"c": {"f1": 0.7, "acc": 0.2}}, {"c": "acc"}) == {"c": 0.2}


def test_every_prompt_of_a_decision_starts_with_the_same_context_and_the_pool_only_grows_at_its_end():
    # a backend's prompt cache reuses a shared prefix: step 1, step 2 and the memory rewrite share the whole
    # context word for word, and the next trial's prompt differs only after the last model line
    pool = make_pool()
    spec = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    first = finished(pool, 1, spec, 0.5)
    view = make_view(pool, history=[first], memory="Tool data helped.")
    step2 = json.dumps({"model": "M1", "data": "if_sft", "learning_rate": 0.0001, "rationale": "IF back"})
    client = ScriptedClient([STEP1, step2, "Tool data helped; IF data next."])
    llm = policy(client)
    [prop] = llm.propose(view)
    second = finished(pool, 2, prop.spec, 0.6)
    llm.update_memory(make_view(pool, history=[first, second], memory="Tool data helped."), second)
    step1_text, step2_text, memory_text = (last_user(c) for c in client.calls)
    context = step1_text.split("\n\nTrials in flight")[0]
    assert context.endswith("Your memory (what you have learned so far):\nTool data helped.")
    assert step2_text.startswith(context) and "M1 = " in context
    listing = context.split("Models in the pool")[1].split("\n\nFailed trials")[0]
    assert memory_text.startswith(context.split(listing)[0] + listing)  # M2 joins after M1's line
    assert "\n- M2 = " in memory_text.split("Failed trials")[0]
    # step 2 names the model candidates with their verdict, not a second copy of their description
    slot = step2_text.split("- `model`")[1].split("\n- `")[0]
    assert "M1 (objective 0.500)" in slot and "M0 (objective 0.200)" in slot and " = " not in slot


def test_after_rejected_rewrites_in_a_row_the_memory_is_no_longer_asked_for():
    pool = make_pool()
    spec = pool.candidates().build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    trial = finished(pool, 1, spec, 0.5)
    view = make_view(pool, history=[trial], memory="Nothing learned yet.")
    lesson = "Tool data at the higher rate raised tool use; try a merge with M0 next."
    copy = "Rewrite your memory in a few sentences (at most 800 characters): what has been learned about"
    client = ScriptedClient([copy, lesson, copy, copy])
    llm = policy(client, memory_patience=2)
    assert llm.update_memory(view, trial) == ("Nothing learned yet.", 15)  # a copy: the old memory stays
    assert llm.update_memory(view, trial) == (lesson, 15)  # a real lesson resets the count
    assert llm.update_memory(view, trial)[0] == "Nothing learned yet."
    assert llm.update_memory(view, trial)[0] == "Nothing learned yet."
    assert llm.update_memory(view, trial) is None and len(client.calls) == 4  # two in a row: not asked again
    never = policy(ScriptedClient([copy] * 5), memory_patience=0)
    assert all(never.update_memory(view, trial) is not None for _ in range(5))
