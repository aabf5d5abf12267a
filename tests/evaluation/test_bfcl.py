"""BFCL v4: loading, the seeded split, schema conversion, and scoring of the ground truth itself."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lamdagent.checkers.function_call import canonical_calls
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import TASKS, EvalItem
from lamdagent.evaluation.tool_use import BFCL_CATEGORIES, BFCLTask, bfcl_to_json_schema
from lamdagent.io import read_jsonl
from lamdagent.toolcall import format_tool_calls

ROWS = {"simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "irrelevance": 240}


@pytest.fixture(scope="module")
def task(benchmarks_dir: Path) -> BFCLTask:
    return BFCLTask(data_dir=str(benchmarks_dir))


def ground_truth(items: list[EvalItem], with_optional: bool = False) -> list[str]:
    return [
        format_tool_calls(canonical_calls(it.reference, it.extra["functions"], with_optional))
        if it.reference
        else "I cannot help with that."
        for it in items
    ]


def test_loads_every_category_split_in_two_disjoint_halves(task: BFCLTask) -> None:
    assert TASKS.get("bfcl") is BFCLTask and task.categories == list(BFCL_CATEGORIES)
    val, test = task.items("validation"), task.items("test")
    assert not {it.id for it in val} & {it.id for it in test}
    counts = Counter(it.category for it in val + test)
    assert counts == ROWS
    assert all(abs(2 * Counter(it.category for it in val)[c] - n) <= 1 for c, n in ROWS.items())
    assert len({it.category for it in val[:5]}) == 5  # categories interleaved: a short prefix sees them all


def test_items_are_prompts_with_json_schema_tools(task: BFCLTask) -> None:
    for item in task.items("validation"):
        system, *turns = item.messages
        assert system["role"] == "system" and "Functions:" in system["content"]
        assert turns and all(t["role"] == "user" for t in turns)
        assert item.tools is None and item.extra["functions"]
        assert not _bfcl_type_names(item.extra["functions"])
        listed = [json.loads(line) for line in system["content"].split("Functions:\n", 1)[1].splitlines()]
        assert listed == item.extra["functions"]
        assert (item.reference == []) == (item.category == "irrelevance")


def _bfcl_type_names(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_bfcl_type_names(n) for n in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["type"]} & {"dict", "float", "tuple", "any"} if isinstance(node.get("type"), str) else set()
    return found.union(*(_bfcl_type_names(v) for v in node.values()))


def test_ground_truth_scores_one_on_every_category(task: BFCLTask) -> None:
    for split in ("validation", "test"):
        items = task.items(split)
        for with_optional in (False, True):
            metrics = task.score(items, ground_truth(items, with_optional))
            assert set(metrics) == {"accuracy", *(f"accuracy_{c}" for c in BFCL_CATEGORIES)}
            assert all(v == 1.0 for v in metrics.values()), (split, with_optional, metrics)


def test_corrupted_ground_truth_scores_lower(task: BFCLTask) -> None:
    items = task.items("test")
    right = ground_truth(items)
    renamed = [a.replace('{"name": "', '{"name": "x_', 1) if "<tool_call>" in a else a for a in right]
    metrics = task.score(items, renamed)
    assert metrics["accuracy_irrelevance"] == 1.0
    assert all(metrics[f"accuracy_{c}"] == 0.0 for c in BFCL_CATEGORIES if c != "irrelevance")
    # call where nothing fits; keep only the first of several calls; drop the last argument of single calls
    damaged = []
    for item, answer in zip(items, right, strict=True):
        calls = canonical_calls(item.reference, item.extra["functions"])
        if not calls:
            damaged.append(format_tool_calls([{"name": item.extra["functions"][0]["name"], "arguments": {}}]))
        elif len(calls) > 1:
            damaged.append(format_tool_calls(calls[:1]))
        elif item.id.endswith(("0", "2", "4")) and calls[0]["arguments"]:
            calls[0]["arguments"].popitem()
            damaged.append(format_tool_calls(calls))
        else:
            damaged.append(answer)
    partial = task.score(items, damaged)
    assert partial["accuracy_irrelevance"] == partial["accuracy_parallel"] == 0.0
    assert 0.0 < partial["accuracy_simple_python"] < 1.0
    assert 0.0 < partial["accuracy"] < 1.0


def test_config_builds_both_tasks_with_the_run_wide_data_dir(benchmarks_dir: Path) -> None:
    from lamdagent.evaluation.tasks import build_task

    options = {"data_dir": str(benchmarks_dir)}  # runs pass data_dir to every task
    bfcl = build_task("bfcl_small", "bfcl", {**options, "limit_per_category": 2, "max_new_tokens": 64})
    assert isinstance(bfcl, BFCLTask) and bfcl.name == "bfcl_small" and bfcl.max_new_tokens == 64
    assert len(bfcl.items("validation")) == 2 * len(BFCL_CATEGORIES)
    builtin = build_task("tool_use", "builtin:tool_use", {**options, "val_size": 10})
    assert len(builtin.items("validation")) == 10


def test_split_is_seeded_and_limits_apply(benchmarks_dir: Path) -> None:
    a = BFCLTask(data_dir=str(benchmarks_dir / "bfcl"), categories="multiple, irrelevance", limit_per_category=7)
    b = BFCLTask(data_dir=str(benchmarks_dir), categories=["multiple", "irrelevance"], limit_per_category=7)
    c = BFCLTask(data_dir=str(benchmarks_dir), categories=["multiple", "irrelevance"], limit_per_category=7, seed=1)
    ids = [it.id for it in a.items("validation")]
    assert ids == [it.id for it in b.items("validation")]
    assert ids != [it.id for it in c.items("validation")]
    assert Counter(it.category for it in a.items("test")) == {"multiple": 7, "irrelevance": 7}
    assert len(a.items("test", limit=3)) == 3


def test_option_and_data_errors(benchmarks_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(LamdagentError, match="not found"):
        BFCLTask(data_dir=str(tmp_path))
    with pytest.raises(LamdagentError, match="known: .*simple_python"):
        BFCLTask(data_dir=str(benchmarks_dir), categories=["simple_java"])
    with pytest.raises(LamdagentError, match="limit_per_category"):
        BFCLTask(data_dir=str(benchmarks_dir), limit_per_category=0)
    with pytest.raises(LamdagentError, match="unknown split"):
        BFCLTask(data_dir=str(benchmarks_dir)).items("train")  # type: ignore[arg-type]
    folder = tmp_path / "bfcl"
    folder.mkdir()
    row = {"id": "multiple_0", "question": [[{"role": "user", "content": "hi"}]], "function": []}
    (folder / "BFCL_v4_multiple.json").write_text(json.dumps(row) + "\n{oops\n")
    with pytest.raises(LamdagentError, match=r"BFCL_v4_multiple.json:2: not valid JSON"):
        read_jsonl(folder / "BFCL_v4_multiple.json")
    (folder / "BFCL_v4_multiple.json").write_text(json.dumps(row) + "\n")
    with pytest.raises(LamdagentError, match="possible answers"):
        BFCLTask(data_dir=str(tmp_path), categories=["multiple"]).items("test")


def test_bfcl_to_json_schema_converts_types_recursively() -> None:
    doc = {
        "name": "f",
        "parameters": {
            "type": "dict",
            "properties": {
                "rate": {"type": "float", "description": "r"},
                "pair": {"type": "tuple", "items": {"type": "float"}},
                "rows": {"type": "array", "items": {"type": "dict", "properties": {"x": {"type": "any"}}}},
            },
            "required": ["rate"],
        },
    }
    out = bfcl_to_json_schema(doc)
    params = out["parameters"]
    assert params["type"] == "object" and params["required"] == ["rate"]
    assert params["properties"]["rate"] == {"type": "number", "description": "r"}
    assert params["properties"]["pair"] == {"type": "array", "items": {"type": "number"}}
    assert params["properties"]["rows"]["items"] == {"type": "object", "properties": {"x": {}}}
    assert doc["parameters"]["type"] == "dict"  # the input is left as it was
