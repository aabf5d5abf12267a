"""The built-in tool-use generator, its task, and the glaive converter."""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from pathlib import Path

import pytest

from lamdagent.checkers.function_call import canonical_calls, check_tool_calls
from lamdagent.data.builtin import BUILTIN_DATA
from lamdagent.data.builtin.tool_catalogue import CATALOGUE, CHITCHAT, CHITCHAT_HELDOUT, POOLS, REFUSALS
from lamdagent.data.builtin.tool_use import (
    CATEGORIES,
    HELDOUT_TOOLS,
    SPLITS,
    _draft,
    _rejected,
    generate,
    glaive_to_sft,
    request_key,
)
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import TASKS
from lamdagent.evaluation.tool_use import BuiltinToolUseTask
from lamdagent.toolcall import format_tool_calls, parse_tool_calls


def user_text(row: dict) -> str:
    return (row.get("prompt") or row["messages"])[-1]["content"]


def offered(row: dict) -> list[dict]:
    system = (row.get("prompt") or row["messages"])[0]["content"]
    return [json.loads(line) for line in system.split("Functions:\n", 1)[1].splitlines() if line.strip()]


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    sizes = {"sft": 600, "preference": 300, "validation": 200, "test": 200}
    return {split: generate(split, n, 0) for split, n in sizes.items()}


# --- catalogue ----------------------------------------------------------------------------------------------


def test_catalogue_size_domains_and_types() -> None:
    assert len(CATALOGUE) >= 40
    assert len({t.domain for t in CATALOGUE}) >= 8
    assert len({t.name for t in CATALOGUE}) == len(CATALOGUE)
    params = [p for t in CATALOGUE for p in t.params]
    assert {"string", "integer", "number", "boolean", "array"} <= {p.type for p in params}
    assert any(p.enum for p in params) and any(not p.required for p in params)
    assert HELDOUT_TOOLS and len(HELDOUT_TOOLS) < len(CATALOGUE) // 3


def test_every_template_names_only_its_parameters_and_covers_the_required_ones() -> None:
    for tool in CATALOGUE:
        names = {p.name for p in tool.params}
        assert len(tool.templates) >= 3, tool.name  # seen functions keep >= 2 templates after holding one out
        for template in tool.templates:
            slots = {n for _, n, _, _ in string.Formatter().parse(template.text) if n}
            assert slots | set(template.fixed) <= names, (tool.name, template.text)
            assert {p.name for p in tool.params if p.required} <= slots | set(template.fixed), template.text
        for p in tool.params:
            kind = p.pool.split(":")[0]
            assert kind in ("int", "intw", "num", "date", "time", "bool") or p.pool in POOLS, (tool.name, p.name)
        schema = tool.schema()
        assert schema["parameters"]["required"] == [p.name for p in tool.params if p.required]


# --- generator ----------------------------------------------------------------------------------------------


def test_generation_is_deterministic_and_seeded() -> None:
    for split in SPLITS:
        assert generate(split, 30, 7) == generate(split, 30, 7)
        assert generate(split, 30, 7) != generate(split, 30, 8)
        assert generate(split, 40, 7)[:20] == generate(split, 20, 7)  # a size is a prefix of a larger one


def test_registered_generator_and_bad_arguments() -> None:
    assert BUILTIN_DATA.get("tool_use") is generate
    with pytest.raises(LamdagentError, match="unknown split"):
        generate("train", 3, 0)  # type: ignore[arg-type]
    with pytest.raises(LamdagentError, match="non-negative"):
        generate("sft", -1, 0)
    assert generate("test", 0, 0) == []


def test_splits_are_disjoint_even_across_seeds(splits: dict[str, list[dict]]) -> None:
    keys = {split: [request_key(user_text(r)) for r in rows] for split, rows in splits.items()}
    for split, ks in keys.items():
        assert len(ks) == len(set(ks)), f"repeated request in {split}"
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not set(keys[a]) & set(keys[b]), (a, b)
    other_seed = {request_key(user_text(r)) for r in generate("test", 200, 1)}
    assert not other_seed & set(keys["sft"]) and not other_seed & set(keys["preference"])


def test_categories_are_balanced_in_every_split(splits: dict[str, list[dict]]) -> None:
    eval_counts = Counter(r["category"] for r in splits["validation"])
    assert eval_counts == {"simple": 60, "multiple": 60, "parallel": 40, "irrelevance": 40}
    sft_calls = Counter(len(parse_tool_calls(r["completion"][0]["content"]) or []) for r in splits["sft"])
    assert sft_calls == {1: 360, 2: 120, 0: 120}  # simple+multiple, parallel, irrelevance


def test_eval_rows_format_and_tool_counts(splits: dict[str, list[dict]]) -> None:
    for row in splits["validation"] + splits["test"]:
        assert set(row) == {"id", "messages", "reference", "category", "heldout", "tools"}
        assert [m["role"] for m in row["messages"]] == ["system", "user"]
        assert offered(row) == row["tools"]
        names = [t["name"] for t in row["tools"]]
        expected = [next(iter(c)) for c in row["reference"]]
        assert set(expected) <= set(names)
        n = len(names)
        if row["category"] == "simple":
            assert n == 1 and len(expected) == 1
        elif row["category"] == "multiple":
            assert 2 <= n <= 4 and len(expected) == 1
        elif row["category"] == "parallel":
            assert len(expected) == 2 and n <= 3
        else:
            assert row["reference"] == [] and 1 <= n <= 3
    assert all(not r["heldout"] for r in splits["validation"])


def test_heldout_rows_use_functions_and_templates_no_other_split_shows(splits: dict[str, list[dict]]) -> None:
    test = splits["test"]
    heldout = [r for r in test if r["heldout"]]
    assert len(heldout) == len(test) // 4
    assert {r["category"] for r in heldout} == set(CATEGORIES)
    heldout_names = {t.name for t in HELDOUT_TOOLS}
    assert any(heldout_names & {next(iter(c)) for c in r["reference"]} for r in heldout)
    rest = splits["sft"] + splits["preference"] + splits["validation"] + [r for r in test if not r["heldout"]]
    for row in rest:
        assert not heldout_names & {t["name"] for t in offered(row)}
    # the held-out request templates (last of each function, the held-out chit-chat) never appear elsewhere
    patterns = [t.templates[-1].text for t in CATALOGUE if not t.heldout] + list(CHITCHAT[-CHITCHAT_HELDOUT:])
    regexes = [re.compile(_template_regex(p)) for p in patterns]
    texts = [user_text(r) for r in rest]
    assert not [(t, rx.pattern) for t in texts for rx in regexes if rx.search(t)]
    assert sum(any(rx.search(user_text(r)) for rx in regexes) for r in heldout) > len(heldout) // 4


def _template_body(template: str) -> str:
    out = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        out += re.escape(literal) + ("(.+?)" if name else "")
    return out


def _template_regex(template: str) -> str:
    return "(?i)(^|\\. |, |: )" + _template_body(template)


def test_sft_and_eval_answers_are_right_by_the_checker(splits: dict[str, list[dict]]) -> None:
    for row in splits["sft"]:
        answer = row["completion"][0]["content"]
        calls = parse_tool_calls(answer)
        assert calls is not None
        if not calls:
            # a request for a function that is not offered is declined; chit-chat is answered in plain text
            chat = any(re.fullmatch(_template_body(t), user_text(row)) for t in CHITCHAT)
            assert (answer in REFUSALS) == (not chat), (user_text(row), answer)
        assert {c["name"] for c in calls} <= {t["name"] for t in offered(row)}
    task = BuiltinToolUseTask(val_size=200, test_size=200)
    for split in ("validation", "test"):
        items = task.items(split)
        right = [format_tool_calls(canonical_calls(it.reference)) or "No tool fits." for it in items]
        metrics = task.score(items, right)
        assert all(v == 1.0 for v in metrics.values()), metrics


def test_chit_chat_gets_a_plain_answer_that_fills_its_request_and_keeps_the_other_rows() -> None:
    from lamdagent.data.builtin.tool_catalogue import CHITCHAT_REPLIES, STORY_SUMMARIES
    from lamdagent.data.builtin.tool_use import chitchat_reply

    assert set(CHITCHAT_REPLIES) == set(CHITCHAT)
    assert set(STORY_SUMMARIES) == set(POOLS["story"])
    poem = (CHITCHAT[0], {"topic": "trains"}, "Write a short poem about trains.")
    assert "trains" in chitchat_reply(*poem) and chitchat_reply(*poem) == chitchat_reply(*poem)
    story = chitchat_reply(CHITCHAT[5], {"story": "Hamlet"}, "Summarize the story of Hamlet in one sentence.")
    assert story == STORY_SUMMARIES["Hamlet"]
    pet = chitchat_reply(CHITCHAT[3], {"pet": "kitten"}, "Suggest a name for my kitten.")
    assert not any(f"{{{k}}}" in pet for k in ("name", "name2", "name3")) and "{" not in pet
    # the answers come from the request's text, not the rows' random stream: the first rows of a larger draw
    # are the rows of a smaller one
    assert generate("sft", 30, 3) == generate("sft", 60, 3)[:30]
    answered = [r for r in generate("sft", 200, 0) if r["completion"][0]["content"] not in REFUSALS]
    assert any("<tool_call>" not in r["completion"][0]["content"] for r in answered)


def test_drafted_answers_pass_and_rejected_answers_fail_the_checker() -> None:
    """Rejected answers are realistic mistakes: always wrong, calls only to offered functions."""
    rng = random.Random(3)
    kinds: Counter[str] = Counter()
    for i in range(400):
        draft = _draft(CATEGORIES[i % 4], heldout=False, rng=rng)
        reference, functions = draft.reference(), draft.schemas()
        assert check_tool_calls(draft.answer(rng), reference, functions).correct
        rejected = _rejected(draft, rng)
        verdict = check_tool_calls(rejected, reference, functions)
        assert not verdict.correct
        calls = parse_tool_calls(rejected)
        assert calls is not None
        assert {c["name"] for c in calls} <= {t.name for t in draft.offered}
        kinds[_mistake_kind(verdict.reason, calls)] += 1
    assert {"refusal", "wrong function", "missing", "wrong type", "wrong value", "count", "spurious"} <= set(kinds)


def _mistake_kind(reason: str, calls: list[dict]) -> str:
    if "where no function fits" in reason:
        return "spurious"
    if not calls:
        return "refusal"
    for marker, kind in (("instead of", "wrong function"), ("missing", "missing"), ("should be", "wrong type")):
        if marker in reason:
            return kind
    if "expected 2" in reason:
        return "count"
    return "wrong value"


def test_preference_rows(splits: dict[str, list[dict]]) -> None:
    for row in splits["preference"]:
        assert set(row) == {"prompt", "chosen", "rejected"}
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        assert chosen != rejected
        assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        names = {t["name"] for t in offered(row)}
        for answer in (chosen, rejected):
            calls = parse_tool_calls(answer)
            assert calls is not None and {c["name"] for c in calls} <= names


# --- task ---------------------------------------------------------------------------------------------------


def test_task_metrics_per_category_and_heldout() -> None:
    task = BuiltinToolUseTask(seed=1, val_size=40, test_size=40)
    assert TASKS.get("builtin:tool_use") is BuiltinToolUseTask and task.name == "tool_use"
    items = task.items("test")
    assert len(items) == 40 and len(task.items("test", limit=10)) == 10
    refusals = ["I cannot help with that."] * len(items)
    metrics = task.score(items, refusals)
    assert metrics["accuracy_irrelevance"] == 1.0
    assert metrics["accuracy_simple"] == metrics["accuracy_multiple"] == metrics["accuracy_parallel"] == 0.0
    assert metrics["accuracy"] == pytest.approx(sum(it.category == "irrelevance" for it in items) / 40)
    assert 0.0 < metrics["accuracy_heldout"] < 1.0
    assert "accuracy_heldout" not in task.score(task.items("validation"), ["no"] * 40)
    assert task.score_one(items[0], format_tool_calls(canonical_calls(items[0].reference)) or "no")


def test_task_option_errors() -> None:
    with pytest.raises(LamdagentError, match="val_size"):
        BuiltinToolUseTask(val_size=0)
    with pytest.raises(LamdagentError, match="unknown split"):
        BuiltinToolUseTask().items("train")  # type: ignore[arg-type]


# --- glaive converter ---------------------------------------------------------------------------------------


def test_glaive_demo_converts_every_assistant_turn(benchmarks_dir: Path) -> None:
    source = json.loads((benchmarks_dir / "function_calling" / "glaive_toolcall_en_demo.json").read_text())
    rows = [r for row in source for r in glaive_to_sft(row)]
    assistant_turns = sum(t["from"] in ("gpt", "function_call") for row in source for t in row["conversations"])
    assert len(rows) == assistant_turns
    expected_calls = [
        json.loads(t["value"]) for row in source for t in row["conversations"] if t["from"] == "function_call"
    ]
    got_calls = [c for r in rows for c in parse_tool_calls(r["completion"][0]["content"]) or []]
    assert got_calls == [{"name": c["name"], "arguments": c["arguments"]} for c in expected_calls]
    assert len(got_calls) == 211
    for r in rows:
        assert r["prompt"][0]["role"] == "system" and "Functions:" in r["prompt"][0]["content"]
        assert r["prompt"][-1]["role"] in ("user", "tool")
        assert r["completion"][0]["role"] == "assistant"
    first = glaive_to_sft(source[0])
    assert offered(first[0]) == json.loads(source[0]["tools"])


def test_glaive_rows_with_observations_and_errors() -> None:
    row = {
        "conversations": [
            {"from": "human", "value": "Weather in Oslo?"},
            {"from": "function_call", "value": '{"name": "w", "arguments": "{\\"city\\": \\"Oslo\\"}"}'},
            {"from": "observation", "value": '{"temp": 3}'},
            {"from": "gpt", "value": "It is 3 degrees."},
        ],
        "tools": '[{"name": "w", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]',
        "system": "Be brief.",
    }
    call_row, answer_row = glaive_to_sft(row)
    assert parse_tool_calls(call_row["completion"][0]["content"]) == [{"name": "w", "arguments": {"city": "Oslo"}}]
    assert [m["role"] for m in answer_row["prompt"]] == ["system", "user", "assistant", "tool"]
    assert answer_row["prompt"][0]["content"].startswith("Be brief.\n\n")
    assert answer_row["completion"][0]["content"] == "It is 3 degrees."
    for bad, match in (
        ({**row, "tools": "[{"}, "'tools' is not valid JSON"),
        ({**row, "conversations": [{"from": "robot", "value": "x"}]}, "'from' 'robot'"),
        ({**row, "conversations": []}, "conversations"),
        (
            {**row, "conversations": [{"from": "human", "value": "x"}, {"from": "function_call", "value": "{"}]},
            "turn 1",
        ),
    ):
        with pytest.raises(LamdagentError, match=match):
            glaive_to_sft(bad)
