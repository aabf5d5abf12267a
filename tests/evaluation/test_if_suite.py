"""The built-in instruction-following data and the two instruction-following tasks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from lamdagent.checkers.ifeval import INSTRUCTIONS, follows_strict
from lamdagent.data.builtin import BUILTIN_DATA
from lamdagent.data.builtin.instruction_following import (
    HELDOUT_PAIRS,
    HELDOUT_PHRASINGS,
    HELDOUT_TOPICS,
    alpaca_to_sft,
    compatible,
    examples,
    generate,
)
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.instruction_following import BuiltinIFTask, IFEvalTask
from lamdagent.evaluation.tasks import build_task

SPLITS = ("sft", "preference", "validation", "test")


@pytest.fixture(scope="module")
def drawn() -> dict[str, list]:
    return {split: examples(split, 240, 3) for split in SPLITS}


def test_registered_and_deterministic() -> None:
    assert BUILTIN_DATA.get("instruction_following") is generate
    assert generate("preference", 20, 7) == generate("preference", 20, 7)
    assert generate("sft", 20, 7) != generate("sft", 20, 8)
    assert generate("test", 10, 7) == generate("test", 30, 7)[:10]  # a smaller size is a prefix


def test_row_formats() -> None:
    sft, pref, test = generate("sft", 3, 0), generate("preference", 3, 0), generate("test", 3, 0)
    assert set(sft[0]) == {"prompt", "completion"}
    assert sft[0]["prompt"][0]["role"] == "user" and sft[0]["completion"][0]["role"] == "assistant"
    assert set(pref[0]) == {"prompt", "chosen", "rejected"}
    assert set(test[0]) == {"id", "messages", "reference", "category", "heldout"}
    ref = test[0]["reference"]
    assert len(ref["instruction_id_list"]) == len(ref["kwargs"]) >= 1
    json.dumps(test)  # rows are plain JSON


def test_many_kinds_in_compatible_combinations(drawn: dict[str, list]) -> None:
    kinds = Counter(k for ex in drawn["sft"] for k in ex.instruction_ids)
    assert len(kinds) >= 15
    assert set(kinds) <= set(INSTRUCTIONS.names())
    sizes = Counter(len(ex.instruction_ids) for ex in drawn["sft"])
    assert set(sizes) == {1, 2, 3}
    for ex in drawn["sft"]:
        ids = ex.instruction_ids
        assert all(compatible(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]), ids


def test_every_completion_and_chosen_follows_and_every_rejected_slips(drawn: dict[str, list]) -> None:
    for split in SPLITS:
        for ex in drawn[split]:
            assert all(follows_strict(ex.chosen, ex.instruction_ids, ex.kwargs)), (ex.prompt, ex.chosen)
    slipped = Counter()
    for ex in drawn["preference"]:
        results = follows_strict(ex.rejected, ex.instruction_ids, ex.kwargs)
        assert not results[ex.instruction_ids.index(ex.violated)], (ex.violated, ex.rejected)
        slipped[ex.violated] += 1
    assert len(slipped) >= 12  # slips of many kinds, not one trick


def test_generated_rows_carry_the_checked_texts(drawn: dict[str, list]) -> None:
    rows = generate("preference", 240, 3)
    for row, ex in zip(rows, drawn["preference"], strict=True):
        assert row["prompt"][0]["content"] == ex.prompt
        assert row["chosen"][0]["content"] == ex.chosen and row["rejected"][0]["content"] == ex.rejected


def test_splits_are_disjoint(drawn: dict[str, list]) -> None:
    prompts = {split: {ex.prompt for ex in drawn[split]} for split in SPLITS}
    for i, a in enumerate(SPLITS):
        assert len(prompts[a]) == len(drawn[a])
        for b in SPLITS[i + 1 :]:
            assert not prompts[a] & prompts[b], (a, b)
    # the same holds across seeds: the split is decided by the content, not by the draw
    other = {ex.prompt for ex in examples("sft", 240, 99)}
    assert not other & (prompts["validation"] | prompts["test"])


def test_heldout_rows_are_new(drawn: dict[str, list]) -> None:
    seen = [ex for split in ("sft", "preference", "validation") for ex in drawn[split]]
    seen_topics = {ex.topic for ex in seen}
    seen_requests = {ex.base_prompt.replace(ex.topic, "{t}") for ex in seen}
    seen_pairs = {frozenset((a, b)) for ex in seen for a in ex.instruction_ids for b in ex.instruction_ids if a != b}
    heldout = [ex for ex in drawn["test"] if ex.heldout]
    assert 0.25 <= len(heldout) / len(drawn["test"]) <= 0.4
    assert not any(ex.heldout for split in ("sft", "preference", "validation") for ex in drawn[split])
    assert not seen_topics & set(HELDOUT_TOPICS)
    assert not seen_pairs & set(HELDOUT_PAIRS)
    new_request = {r for r, _ in HELDOUT_PHRASINGS}
    assert not seen_requests & new_request
    for ex in heldout:
        pairs = {frozenset((a, b)) for a in ex.instruction_ids for b in ex.instruction_ids if a != b}
        new_base = ex.topic in HELDOUT_TOPICS or ex.base_prompt.replace(ex.topic, "{t}") in new_request
        assert new_base or pairs & set(HELDOUT_PAIRS), ex.prompt


def test_bad_arguments() -> None:
    with pytest.raises(LamdagentError, match="split 'train'"):
        generate("train", 3, 0)  # type: ignore[arg-type]
    with pytest.raises(LamdagentError, match="n=-1"):
        generate("sft", -1, 0)


def test_builtin_task_scores_right_and_wrong_answers() -> None:
    task = build_task("instruction_following", "builtin:instruction_following", {"val_size": 12, "test_size": 24})
    assert isinstance(task, BuiltinIFTask) and task.max_new_tokens == 200
    items = task.items("test")
    assert len(items) == 24 and len(task.items("validation")) == 12 and len(task.items("test", limit=5)) == 5
    assert {i.id for i in items}.isdisjoint(i.id for i in task.items("validation"))
    right = {ex.id: ex.chosen for ex in examples("test", 24, 0)}
    metrics = task.score(items, [right[i.id] for i in items])
    assert metrics["prompt_level_strict_acc"] == 1.0 and metrics["inst_level_loose_acc_heldout"] == 1.0
    assert all(task.score_one(i, right[i.id]) for i in items)
    wrong = task.score(items, ["Sure, here you go, my friend!"] * len(items))
    assert 0.0 <= wrong["prompt_level_strict_acc"] < 0.5 and wrong[task.primary_metric] < 0.5
    assert all(0.0 <= v <= 1.0 for v in metrics.values())


def test_ifeval_task_splits_the_real_prompts(benchmarks_dir: Path) -> None:
    task = IFEvalTask(data_dir=benchmarks_dir, seed=0)
    val, test = task.items("validation"), task.items("test")
    assert len(val) + len(test) == 541 and abs(len(val) - len(test)) <= 1
    assert not {i.id for i in val} & {i.id for i in test}
    assert [i.id for i in IFEvalTask(data_dir=benchmarks_dir, seed=0).items("test", limit=4)] == [
        i.id for i in test[:4]
    ]
    assert [i.id for i in IFEvalTask(data_dir=benchmarks_dir, seed=1).items("test", limit=4)] != [
        i.id for i in test[:4]
    ]
    small = IFEvalTask(data_dir=benchmarks_dir, val_size=10, test_size=20)
    assert len(small.items("validation")) == 10 and len(small.items("test")) == 20
    metrics = task.score(test[:30], ["hello"] * 30)
    assert set(metrics) >= {"prompt_level_strict_acc", "inst_level_loose_acc"}
    assert 0.0 <= metrics[task.primary_metric] < 0.5


def test_ifeval_task_file_errors(tmp_path: Path) -> None:
    with pytest.raises(LamdagentError, match="not found"):
        IFEvalTask(data_dir=tmp_path).items("test")
    (tmp_path / "ifeval").mkdir()
    bad = tmp_path / "ifeval" / "input_data.jsonl"
    bad.write_text('{"key": 1, "prompt": "p", "instruction_id_list": ["x:y"], "kwargs": [{}]}\n')
    with pytest.raises(LamdagentError, match=r"input_data.jsonl:1: instruction 'x:y' is not supported"):
        IFEvalTask(data_dir=tmp_path).items("test")
    bad.write_text("{not json\n")
    with pytest.raises(LamdagentError, match=r"input_data.jsonl:1: not valid JSON"):
        IFEvalTask(data_dir=tmp_path).items("test")
    with pytest.raises(LamdagentError, match="val_size=0"):
        IFEvalTask(data_dir=tmp_path, val_size=0)


def test_alpaca_to_sft(benchmarks_dir: Path) -> None:
    rows = json.loads((benchmarks_dir / "alpaca" / "alpaca_en_demo.json").read_text())
    with_input = next(r for r in rows if r["input"])
    out = alpaca_to_sft(with_input)
    assert out["prompt"][0]["content"] == with_input["instruction"].strip() + "\n\n" + with_input["input"].strip()
    assert out["completion"] == [{"role": "assistant", "content": with_input["output"].strip()}]
    without = next(r for r in rows if not r["input"])
    assert alpaca_to_sft(without)["prompt"][0]["content"] == without["instruction"].strip()
    with pytest.raises(LamdagentError, match="'output'"):
        alpaca_to_sft({"instruction": "x", "input": ""})
