"""Numeric answer checks, the built-in math data, the GSM8K converter and the two math tasks."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from lamdagent.checkers.numeric import (
    extract_flexible,
    extract_strict,
    match_flexible,
    match_strict,
    normalize_number,
)
from lamdagent.data.builtin import BUILTIN_DATA
from lamdagent.data.builtin.math import HELDOUT_TEMPLATES, MATH_INSTRUCTION, examples, generate, gsm8k_to_sft
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.math import BuiltinMathTask, GSM8KTask
from lamdagent.evaluation.tasks import build_task

SPLITS = ("sft", "preference", "validation", "test")


@pytest.mark.parametrize(
    ("text", "strict", "flexible"),
    [
        ("2 + 3 = 5\n#### 5", "5", "5"),
        ("She pays $1,200.00 in total.", None, "1200"),
        ("#### $1,000", "1000", "1000"),
        ("#### 18.0\nThat was for 2 days.", "18", "18"),  # the #### answer wins over a later number
        ("The answers are 3,4,5", None, "5"),  # not a thousands group: three numbers
        ("It falls to -7.", None, "-7"),
        ("It costs 7.50 dollars", None, "7.5"),
        ("I do not know.", None, None),
        ("#### twelve", None, None),
    ],
)
def test_extraction(text: str, strict: str | None, flexible: str | None) -> None:
    assert extract_strict(text) == strict
    assert extract_flexible(text) == flexible


def test_normalize_and_match() -> None:
    assert normalize_number("$1,234.") == "1234"
    assert normalize_number("0.50") == "0.5"
    assert normalize_number("abc") is None
    assert match_strict("#### 18", "18.00") and match_strict("#### 1,800", 1800)
    assert not match_strict("The answer is 18.", "18")
    assert match_flexible("The answer is 18.", "18")
    assert not match_flexible("#### 17", "18") and not match_flexible("", "18")


def test_registered_and_deterministic() -> None:
    assert BUILTIN_DATA.get("math") is generate
    assert generate("preference", 30, 4) == generate("preference", 30, 4)
    assert generate("sft", 30, 4) != generate("sft", 30, 5)
    assert generate("test", 10, 4) == generate("test", 40, 4)[:10]


def test_solutions_are_right_and_rejected_are_wrong() -> None:
    for split in SPLITS:
        for ex in examples(split, 300, 2):
            assert match_strict(ex.solution, ex.answer), ex.solution
            assert 2 <= ex.solution.count("\n") <= 4  # 2-4 steps, then the #### line
            assert 0 <= ex.answer <= 1000
    kinds = Counter()
    for ex in examples("preference", 300, 2):
        assert ex.rejected.endswith(f"#### {ex.rejected_answer}")
        assert not match_strict(ex.rejected, ex.answer) and not match_flexible(ex.rejected, ex.answer)
        kinds[_mistake_kind(ex.solution, ex.rejected)] += 1
    assert set(kinds) == {"slip", "operation", "skipped step"}


def _mistake_kind(right: str, wrong: str) -> str:
    """Which realistic error the wrong solution makes: a false equation, another operator, or a missing step."""
    equation = re.compile(r"(\d+) ([-+*/]) (\d+) = \$?(\d+)")
    ops = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__, "/": int.__floordiv__}
    steps = [equation.search(line) for line in wrong.splitlines()[:-1]]
    if any(ops[m[2]](int(m[1]), int(m[3])) != int(m[4]) for m in steps):
        return "slip"
    if len(steps) < len(right.splitlines()) - 1:
        return "skipped step"
    right_ops = [equation.search(line)[2] for line in right.splitlines()[:-1]]
    assert [m[2] for m in steps] != right_ops, wrong
    return "operation"


def test_rows_splits_and_heldout() -> None:
    rows = {split: generate(split, 200, 1) for split in SPLITS}
    assert set(rows["sft"][0]) == {"prompt", "completion"}
    assert rows["sft"][0]["prompt"][0]["content"].endswith(MATH_INSTRUCTION)
    assert set(rows["preference"][0]) == {"prompt", "chosen", "rejected"}
    assert set(rows["test"][0]) == {"id", "messages", "reference", "category", "heldout"}
    questions = {
        s: {r["prompt"][0]["content"] if "prompt" in r else r["messages"][0]["content"] for r in rows[s]}
        for s in SPLITS
    }
    for i, a in enumerate(SPLITS):
        assert len(questions[a]) == 200
        for b in SPLITS[i + 1 :]:
            assert not questions[a] & questions[b], (a, b)
    heldout_names = {t.name for t in HELDOUT_TEMPLATES}
    categories = {s: Counter(r["category"] for r in rows[s]) for s in ("validation", "test")}
    assert not set(categories["validation"]) & heldout_names
    held = [r for r in rows["test"] if r["heldout"]]
    assert 60 <= len(held) <= 70 and {r["category"] for r in held} == heldout_names
    assert len(categories["validation"]) >= 8  # several templates
    train = {ex.template for s in ("sft", "preference") for ex in examples(s, 200, 1)}
    assert not train & heldout_names


def test_gsm8k_to_sft(benchmarks_dir: Path) -> None:
    row = json.loads((benchmarks_dir / "gsm8k" / "train.jsonl").open().readline())
    out = gsm8k_to_sft(row)
    assert out["prompt"][0]["content"].startswith(row["question"].strip())
    completion = out["completion"][0]["content"]
    assert "<<" not in completion and ">>" not in completion
    assert completion.endswith(row["answer"].rsplit("####", 1)[1].strip())
    assert extract_strict(completion) == extract_strict(row["answer"])
    assert gsm8k_to_sft({"question": "1+1?", "answer": "1+1=<<1+1=2>>2\n#### 2"})["completion"][0]["content"] == (
        "1+1=2\n#### 2"
    )
    with pytest.raises(LamdagentError, match="'answer'"):
        gsm8k_to_sft({"question": "q", "answer": "no final line"})
    with pytest.raises(LamdagentError, match="'question'"):
        gsm8k_to_sft({"answer": "#### 2"})


def test_builtin_math_task() -> None:
    task = build_task("math", "builtin:math", {"val_size": 10, "test_size": 30, "seed": 2})
    assert isinstance(task, BuiltinMathTask) and task.primary_metric == "exact_match_flexible"
    assert task.max_new_tokens == 160
    items = task.items("test")
    solutions = {ex.id: ex.solution for ex in examples("test", 30, 2)}
    right = task.score(items, [solutions[i.id] for i in items])
    assert right["exact_match_strict"] == right["exact_match_flexible"] == right["exact_match_flexible_heldout"] == 1.0
    loose = [f"The answer is {i.reference}." for i in items]
    got = task.score(items, loose)
    assert got["exact_match_strict"] == 0.0 and got["exact_match_flexible"] == 1.0
    half = [f"#### {i.reference}" if k % 2 else "#### -1" for k, i in enumerate(items)]
    assert task.score(items, half)["exact_match_strict"] == 0.5
    assert task.score_one(items[0], loose[0]) and not task.score_one(items[0], "#### -1")


def test_gsm8k_task(benchmarks_dir: Path) -> None:
    task = GSM8KTask(data_dir=benchmarks_dir, seed=0)
    val, test = task.items("validation"), task.items("test")
    assert len(val) + len(test) == 1319 and not {i.id for i in val} & {i.id for i in test}
    assert MATH_INSTRUCTION in test[0].messages[0]["content"]
    rows = {
        f"gsm8k-{n}": json.loads(line) for n, line in enumerate((benchmarks_dir / "gsm8k" / "test.jsonl").open(), 1)
    }
    golds = [rows[i.id]["answer"] for i in test[:40]]
    assert task.score(test[:40], golds)["exact_match_strict"] == 1.0
    assert len(GSM8KTask(data_dir=benchmarks_dir, test_size=25).items("test")) == 25


def test_gsm8k_task_file_errors(tmp_path: Path) -> None:
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text('{"question": "q", "answer": "4"}\n')
    with pytest.raises(LamdagentError, match=r"test.jsonl:1: each row needs"):
        GSM8KTask(data_dir=tmp_path).items("validation")
