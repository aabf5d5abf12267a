"""User tasks from YAML (checkers, splits, errors), `build_task`, and the evaluator end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from pydantic import Field

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import TASKS, EvalItem, Task, TaskOptions
from lamdagent.evaluation.evaluator import evaluate, evaluate_detailed
from lamdagent.evaluation.generation import generate
from lamdagent.evaluation.lm_eval import LmEvalTask
from lamdagent.evaluation.tasks import build_task
from lamdagent.evaluation.user_task import (
    UserTask,
    check_contains,
    check_exact,
    check_function_call,
    check_ifeval,
    check_json,
    check_numeric,
    check_regex,
    load_user_task,
)

# ---------------------------------------------------------------- checkers on hand-written answers


def test_exact_normalises_case_space_quotes_and_final_punctuation() -> None:
    assert check_exact("  Paris. ", "paris", {})
    assert check_exact('"New   York"', "new york", {})
    assert check_exact("Lyon", ["Paris", "Lyon"], {})
    assert not check_exact("Paris, France", "Paris", {})
    assert not check_exact("paris", "Paris", {"case_sensitive": True})


def test_contains() -> None:
    assert check_contains("The capital is PARIS, of course.", "Paris", {})
    assert not check_contains("The capital is Lyon.", "Paris", {})
    assert check_contains("red and blue", ["green", "blue"], {})
    assert not check_contains("red and blue", ["green", "blue"], {"all": True})


def test_regex_from_reference_or_option() -> None:
    assert check_regex("Order #A-123 shipped", r"#[A-Z]-\d{3}", {})
    assert not check_regex("Order 123 shipped", r"#[A-Z]-\d{3}", {})
    assert check_regex("yes", None, {"pattern": "yes|no", "fullmatch": True})
    assert not check_regex("yes, I think", None, {"pattern": "yes|no", "fullmatch": True})
    assert check_regex("YES", None, {"pattern": "yes", "ignore_case": True})
    with pytest.raises(LamdagentError, match="not a valid regular expression"):
        check_regex("x", "(", {})


def test_numeric() -> None:
    assert check_numeric("She pays 3 * 4 = 12 dollars.\n#### 12", "12", {})
    assert check_numeric("The total is $1,200.", 1200, {})
    assert not check_numeric("The total is 1199.", "1200", {})
    assert not check_numeric("The total is 1200.", "1200", {"strict": True})  # strict wants '#### 1200'


def test_json() -> None:
    assert check_json('{"a": 1, "b": [2]}', {"b": [2], "a": 1}, {})
    assert check_json('```json\n{"a": 1}\n```', '{"a": 1}', {})
    assert not check_json('{"a": 2}', {"a": 1}, {})
    assert check_json('{"a": 2}', {"a": 1}, {"compare": False})
    assert check_json("[1, 2]", None, {})
    assert not check_json("{a: 1}", None, {})


def test_function_call() -> None:
    reference = [{"get_weather": {"city": ["Paris", "paris, france"], "unit": ["", "celsius"]}}]
    right = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    wrong_arg = '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>'
    assert check_function_call(right, reference, {})
    assert not check_function_call(wrong_arg, reference, {})
    assert not check_function_call("It is sunny.", reference, {})
    assert check_function_call("No tool fits.", [], {})


def test_ifeval() -> None:
    ref = {"instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"], "kwargs": [{}, {}]}
    assert check_ifeval("all lower case and no commas here", ref, {})
    assert not check_ifeval("all lower case, but a comma", ref, {})
    assert not check_ifeval("No commas but a capital", ref, {})
    # loose forgives a first line that breaks the rule
    assert not check_ifeval("Sure, here it is:\nall lower case", ref, {})
    assert check_ifeval("Sure, here it is:\nall lower case", ref, {"loose": True})


# ---------------------------------------------------------------- YAML tasks


def write_task(tmp_path: Path, rows: list[dict[str, Any]], **config: Any) -> Path:
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump({"data": "rows.jsonl", **config}, sort_keys=False), encoding="utf-8")
    return path


ROWS = [{"id": f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(10)]


def test_yaml_task_items_splits_and_scoring(tmp_path: Path) -> None:
    path = write_task(
        tmp_path,
        ROWS,
        prompt_field="question",
        reference_field="answer",
        id_field="id",
        system="Answer with a number.",
        checker="numeric",
        max_new_tokens=16,
        splits={"validation": 0.3, "seed": 1},
    )
    task = build_task("sums", str(path), {})
    assert isinstance(task, UserTask) and task.name == "sums" and task.max_new_tokens == 16
    val, test = task.items("validation"), task.items("test")
    assert len(val) == 3 and len(test) == 7
    assert {i.id for i in val} | {i.id for i in test} == {r["id"] for r in ROWS}
    assert not {i.id for i in val} & {i.id for i in test}
    assert [i.id for i in build_task("again", str(path), {}).items("validation")] == [i.id for i in val]
    assert task.items("test", limit=2) == test[:2]
    assert val[0].messages == [
        {"role": "system", "content": "Answer with a number."},
        {"role": "user", "content": ROWS[int(val[0].id[1:])]["question"]},
    ]
    answers = [f"#### {it.reference}" for it in val[:2]] + ["#### -1"]
    assert task.score(val, answers) == {"accuracy": pytest.approx(2 / 3)}
    assert task.score_one(val[0], answers[0]) is True

    by_ids = build_task(
        "ids", str(path), {"splits": {"validation": ["q2", "q5"]}, "max_new_tokens": 4, "data_dir": "elsewhere"}
    )
    assert [i.id for i in by_ids.items("validation")] == ["q2", "q5"]
    assert by_ids.max_new_tokens == 4  # the task entry's options override the file


def test_function_call_task_shows_the_tools(tmp_path: Path) -> None:
    tools = [
        {
            "name": "get_time",
            "description": "Current time in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    rows = [
        {"q": "Time in Oslo?", "calls": [{"get_time": {"city": ["Oslo"]}}], "tools": tools},
        {"q": "Tell me a joke.", "calls": [], "tools": json.dumps(tools)},
    ]
    path = write_task(
        tmp_path, rows, prompt_field="q", reference_field="calls", tools_field="tools", checker="function_call"
    )
    task = load_user_task(path)
    items = task.items("validation") + task.items("test")
    assert task.name == "task"  # from the file name when neither the entry nor the file names it
    assert all(it.messages[0]["role"] == "system" and "get_time" in it.messages[0]["content"] for it in items)
    oslo = next(it for it in items if it.reference)
    assert task.score_one(oslo, '<tool_call>{"name": "get_time", "arguments": {"city": "Oslo"}}</tool_call>')
    assert not task.score_one(oslo, '<tool_call>{"name": "get_time", "arguments": {"town": "Oslo"}}</tool_call>')


def test_ifeval_task_reads_the_row_fields(tmp_path: Path) -> None:
    rows = [
        {"prompt": "Write in lower case.", "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]},
        {"prompt": "No commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    ]
    task = load_user_task(write_task(tmp_path, rows, checker="ifeval", splits={"validation": ["0"]}))
    (item,) = task.items("validation")
    assert task.score_one(item, "all lower") and not task.score_one(item, "Not Lower")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"prompt_field": "question"}, r"task\.yaml: key 'checker': Field required"),
        ({"checker": "fuzzy"}, r"task\.yaml line 2: key 'checker': Input should be 'exact'"),
        (
            {"checker": "exact", "reference_field": "answer", "checker_options": {"tolerance": 1}},
            r"line 4: key 'checker_options': 'tolerance' is not an option of the exact checker",
        ),
        (
            {"checker": "exact", "reference_field": "answer", "splits": {"validation": 1.5}},
            r"task\.yaml line 5: key 'splits\.validation': a fraction must be between 0 and 1",
        ),
        ({"checker": "exact", "prompt_field": "question"}, r"'reference_field' is required by the exact checker"),
        (
            {"checker": "exact", "reference_field": "answer", "prompt_field": "text"},
            r"rows\.jsonl line 1: no field 'text' \(named by prompt_field in .*task\.yaml\)",
        ),
        (
            {
                "checker": "exact",
                "prompt_field": "question",
                "reference_field": "answer",
                "id_field": "id",
                "splits": {"validation": ["q1", "zz"]},
            },
            r"'splits\.validation' names ids not in the data: \['zz'\]",
        ),
    ],
)
def test_bad_task_files_name_the_file_and_key(tmp_path: Path, config: dict[str, Any], message: str) -> None:
    path = write_task(tmp_path, ROWS, **config)
    with pytest.raises(LamdagentError, match=message):
        load_user_task(path)


def test_bad_option_from_the_entry_and_missing_file(tmp_path: Path) -> None:
    path = write_task(tmp_path, ROWS, prompt_field="question", reference_field="answer", checker="exact")
    with pytest.raises(LamdagentError, match="from the task entry's options.*'max_new_tokens'"):
        build_task("t", str(path), {"max_new_tokens": 0})
    with pytest.raises(LamdagentError, match="does not exist"):
        build_task("t", str(tmp_path / "nope.yaml"), {})


# ---------------------------------------------------------------- build_task


class _EchoTask(Task):
    """A registered task used to check how build_task passes options."""

    class Options(TaskOptions):
        size: int = Field(default=2, ge=1, description="Items per split")

    def __init__(self, size: int = 2, seed: int = 0) -> None:
        self.name = "echo"
        self.size = size

    def items(self, split: str, limit: int | None = None) -> list[EvalItem]:
        return [
            EvalItem(id=str(i), messages=[{"role": "user", "content": str(i)}], reference=str(i))
            for i in range(self.size)
        ][:limit]

    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        return {"accuracy": sum(o == i.reference for i, o in zip(items, outputs, strict=True)) / len(items)}


if "test:echo" not in TASKS:
    TASKS.register("test:echo", _EchoTask)


def test_build_task_from_the_registry_and_errors() -> None:
    task = build_task("my_echo", "test:echo", {"size": 3, "max_new_tokens": 5})
    assert isinstance(task, _EchoTask) and task.name == "my_echo" and task.size == 3 and task.max_new_tokens == 5
    # runs pass the benchmarks folder to every task; tasks that need no files simply ignore it
    assert build_task("my_echo", "test:echo", {"data_dir": "benchmarks"}).size == 2
    assert isinstance(build_task("arc", "lm_eval:arc_easy", {"data_dir": "benchmarks"}), LmEvalTask)
    with pytest.raises(LamdagentError, match=r"my_echo.*colour: Extra inputs.*accepted: max_new_tokens, seed, size"):
        build_task("my_echo", "test:echo", {"colour": "red"})
    with pytest.raises(LamdagentError, match=r"unknown source 'nope'; known: .*test:echo.*lm_eval:<task>"):
        build_task("x", "nope", {})
    lm = build_task("arc", "lm_eval:arc_easy", {"metric": "acc_norm"})
    assert isinstance(lm, LmEvalTask) and lm.name == "arc" and lm.lm_task == "arc_easy"
    with pytest.raises(LamdagentError, match="option.num_fewshot"):
        build_task("arc", "lm_eval:arc_easy", {"num_fewshot": -1})


# ---------------------------------------------------------------- the evaluator, end to end


@pytest.fixture(scope="module")
def sharp_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama with large random weights, saved: its answers differ from prompt to prompt."""
    from lamdagent.models.loading import load_causal_lm, load_tokenizer

    torch.set_num_threads(2)
    model = load_causal_lm(tiny_model_dir, dtype=torch.float32)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    out = tmp_path_factory.mktemp("sharp")
    model.save_pretrained(out)
    load_tokenizer(tiny_model_dir).save_pretrained(out)
    return out


def test_evaluate_scores_exactly_the_answers_it_generates(sharp_model_dir: Path, tmp_path: Path) -> None:
    """References are the model's own answers for half of the validation rows: accuracy must be exactly 1/2."""
    from lamdagent.models.loading import load_causal_lm, load_tokenizer

    questions = [f"Question number {i}: what comes after {i}?" for i in range(8)]
    model = load_causal_lm(sharp_model_dir, dtype=torch.float32).eval()
    own = generate(
        model,
        load_tokenizer(sharp_model_dir),
        [[{"role": "user", "content": q}] for q in questions],
        max_new_tokens=5,
        progress=False,
    )
    assert len(set(own)) > 4
    rows = [{"id": f"r{i}", "q": q, "a": own[i] if i % 2 == 0 else "not the answer"} for i, q in enumerate(questions)]
    path = write_task(
        tmp_path,
        rows,
        prompt_field="q",
        reference_field="a",
        id_field="id",
        checker="exact",
        max_new_tokens=5,
        splits={"validation": [f"r{i}" for i in range(6)]},
    )
    tasks = [build_task("own", str(path), {}), build_task("echo", "test:echo", {"max_new_tokens": 3})]

    report = evaluate_detailed(sharp_model_dir, tasks, "validation", batch_size=4, progress=False, samples=2)
    own_result = report.tasks["own"]
    assert own_result.metrics == {"accuracy": 0.5} and own_result.items == 6
    assert own_result.new_tokens == 6 * 5 and own_result.seconds > 0
    assert [(s.id, s.output, s.correct) for s in own_result.samples] == [("r0", own[0], True), ("r1", own[1], False)]
    assert report.tasks["echo"].items == 2 and report.device == "cpu" and report.load_seconds > 0
    assert json.loads(json.dumps(report.to_dict()))["tasks"]["own"]["tokens_per_second"] > 0

    assert evaluate(sharp_model_dir, tasks[:1], "test", progress=False) == {"own": {"accuracy": 0.5}}  # r6, r7
    assert evaluate(sharp_model_dir, tasks[:1], "validation", limit=1, progress=False) == {"own": {"accuracy": 1.0}}


def test_evaluate_refuses_bad_metrics_and_names() -> None:
    class Broken(_EchoTask):
        def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
            return {"accuracy": 2.0}

    class Model(torch.nn.Module):
        name_or_path = ""

    with pytest.raises(LamdagentError, match="unique"):
        evaluate(Model(), [_EchoTask(), _EchoTask()], "validation", tokenizer=object())
    with pytest.raises(LamdagentError, match="split must be"):
        evaluate(Model(), [_EchoTask()], "train", tokenizer=object())  # type: ignore[arg-type]
    with pytest.raises(LamdagentError, match="pass tokenizer"):
        evaluate(Model(), [_EchoTask()], "validation")
    from lamdagent.evaluation.evaluator import check_metrics

    with pytest.raises(LamdagentError, match=r"accuracy=2\.0, outside \[0, 1\]"):
        check_metrics("broken", Broken().score([], []), "accuracy")
    with pytest.raises(LamdagentError, match="primary metric 'f1'"):
        check_metrics("broken", {"accuracy": 0.5}, "f1")
