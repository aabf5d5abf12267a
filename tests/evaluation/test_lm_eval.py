"""The lm-eval adapter on local custom tasks (fixtures/lm_eval): offline, on the model already in memory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.evaluator import evaluate_detailed
from lamdagent.evaluation.generation import generate
from lamdagent.evaluation.lm_eval import LmEvalTask, _bounded
from lamdagent.evaluation.tasks import build_task
from lamdagent.models.loading import load_causal_lm, load_tokenizer

pytest.importorskip("lm_eval")

TASKS_DIR = Path(__file__).parent / "fixtures" / "lm_eval"
ROWS = [json.loads(line) for line in (TASKS_DIR / "qa.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network, and the working directory elsewhere: relative data_files must resolve next to the YAML."""
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_dir: Path) -> tuple[Any, Any]:
    torch.set_num_threads(2)
    return load_causal_lm(tiny_model_dir, dtype=torch.float32).eval(), load_tokenizer(tiny_model_dir)


def _choice_logprob(model: Any, tok: Any, context: str, continuation: str) -> float:
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    assert whole[: len(ctx)] == ctx
    with torch.no_grad():
        logits = model(torch.tensor([whole])).logits[0].log_softmax(-1)
    return sum(float(logits[i - 1, whole[i]]) for i in range(len(ctx), len(whole)))


def _expected_accuracy(model: Any, tok: Any, rows: list[dict[str, Any]]) -> float:
    """Multiple choice scored by hand: the choice with the highest log-likelihood after the prompt."""
    right = 0
    for row in rows:
        context = f"Question: {row['question']}\nAnswer:"
        scores = [_choice_logprob(model, tok, context, " " + c) for c in row["choices"]]
        right += max(range(len(scores)), key=scores.__getitem__) == row["label"]
    return right / len(rows)


def test_multiple_choice_matches_a_hand_computed_likelihood(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tok = model_and_tokenizer
    task = build_task("qa", "lm_eval:lamdagent_qa_mc", {"include_path": str(TASKS_DIR), "apply_chat_template": False})
    assert isinstance(task, LmEvalTask)
    seen = {}
    for split in ("validation", "test"):
        result = task.run_model(model, tok, split, limit=None, batch_size=4, progress=False)
        ids = [int(s.id) for s in result.samples]
        assert result.items == 4 and len(ids) == 3
        seen[split] = ids
        # lm-eval's samples only show three documents; score all four of the split by hand
        docs = _split_rows(task, split)
        assert set(ids) <= {ROWS.index(r) for r in docs}
        expected = _expected_accuracy(model, tok, docs)
        assert result.metrics == {"accuracy": pytest.approx(expected), "acc": result.primary}
        assert result.primary_metric == "accuracy"
    assert not set(seen["validation"]) & set(seen["test"])


def _split_rows(task: LmEvalTask, split: str) -> list[dict[str, Any]]:
    """The documents of one of our splits: the same seeded partition the adapter uses."""

    class Docs:
        def __init__(self) -> None:
            self.eval_docs = ROWS
            self.config = type("C", (), {"task": "lamdagent_qa_mc"})()

        def has_validation_docs(self) -> bool:
            return False

        def has_test_docs(self) -> bool:
            return True

    return [ROWS[i] for i in task._select(Docs(), split, None)]  # type: ignore[arg-type]


def test_generate_until_with_chat_template_answers_like_generate(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tok = model_and_tokenizer
    task = build_task("gen", "lm_eval:lamdagent_qa_gen", {"include_path": str(TASKS_DIR / "qa_gen.yaml")})
    result = task.run_model(model, tok, "validation", limit=2, batch_size=2, progress=False)
    assert result.items == 2
    assert set(result.metrics) == {"accuracy", "exact_match"}
    assert 0.0 <= result.primary <= 1.0
    assert result.new_tokens > 0
    # lm-eval sent the chat-formatted question and got back what our own generation gives
    sample = result.samples[0]
    row = ROWS[int(sample.id)]
    assert sample.prompt.endswith(f"<|im_start|>user\n{row['question']}<|im_end|>\n<|im_start|>assistant\n")
    ours = generate(model, tok, [[{"role": "user", "content": row["question"]}]], max_new_tokens=6, progress=False)
    assert sample.output == ours[0]
    assert sample.reference == row["answer"]


def test_through_the_evaluator_with_a_path(tiny_model_dir: Path) -> None:
    tasks = [
        build_task("mc", "lm_eval:lamdagent_qa_mc", {"include_path": str(TASKS_DIR), "metric": "acc"}),
        build_task("gen", "lm_eval:lamdagent_qa_gen", {"include_path": str(TASKS_DIR), "max_new_tokens": 2}),
    ]
    report = evaluate_detailed(tiny_model_dir, tasks, "test", limit=1, batch_size=2, progress=False)
    assert {n: r.items for n, r in report.tasks.items()} == {"mc": 1, "gen": 1}
    assert all(0.0 <= v <= 1.0 for r in report.tasks.values() for v in r.metrics.values())
    assert report.tasks["gen"].new_tokens <= 2
    assert "HF_DATASETS_OFFLINE" in os.environ


def test_errors_are_one_line(model_and_tokenizer: tuple[Any, Any], tmp_path: Path) -> None:
    model, tok = model_and_tokenizer
    unknown = build_task("x", "lm_eval:no_such_task", {"include_path": str(TASKS_DIR)})
    with pytest.raises(LamdagentError, match=r"no lm-eval task 'no_such_task' in .*known: lamdagent_qa_gen"):
        unknown.run_model(model, tok, "validation", None, 2, False)
    missing = build_task("x", "lm_eval:lamdagent_qa_mc", {"include_path": str(tmp_path / "nowhere")})
    with pytest.raises(LamdagentError, match="include_path .* does not exist"):
        missing.run_model(model, tok, "validation", None, 2, False)
    bad_metric = build_task("x", "lm_eval:lamdagent_qa_mc", {"include_path": str(TASKS_DIR), "metric": "f1"})
    with pytest.raises(LamdagentError, match="option 'metric' is 'f1', not among acc"):
        bad_metric.run_model(model, tok, "validation", 1, 2, False)
    with pytest.raises(LamdagentError, match="option.shots: Extra inputs"):
        build_task("x", "lm_eval:lamdagent_qa_mc", {"shots": 3})
    with pytest.raises(LamdagentError, match="scored by lm-evaluation-harness"):
        unknown.items("validation")


def test_metric_mapping_keeps_bounded_higher_is_better_rates() -> None:
    row = {
        "alias": "t",
        "sample_len": 10,
        "acc,none": 0.5,
        "acc_stderr,none": 0.1,
        "exact_match,strict-match": 0.25,
        "bleu,none": 31.2,  # 0-100 scale: not a rate
        "perplexity,none": 0.9,  # lower is better
    }
    assert _bounded(row, {"acc": True, "exact_match": True, "bleu": True, "perplexity": False}) == {
        "acc": 0.5,
        "exact_match/strict-match": 0.25,
    }
