"""The `judge` task: criteria prompts, sampled judgments averaged, alpha, pairwise order guard, caching, keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.judge import JudgeCache, JudgeTask, krippendorff_alpha
from lamdagent.evaluation.tasks import build_task
from lamdagent.llm.base import Completion, LLMError


class Judge:
    """A scripted judge: answers from `reply(prompt, seed)`; records every call."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.calls: list[tuple[str, int | None, float | None]] = []
        self.schemas: list[Any] = []

    def complete(self, messages, max_tokens=None, temperature=None, schema=None, seed=None) -> Completion:
        prompt = messages[-1]["content"]
        self.calls.append((prompt, seed, temperature))
        self.schemas.append(schema)
        answer = self.reply(prompt, seed)
        if isinstance(answer, Exception):
            raise answer
        return Completion(answer, prompt_tokens=50, completion_tokens=3)


def task(tmp_path: Path, judge: Judge, **options: Any) -> JudgeTask:
    made = build_task("chat", "judge", options)
    assert isinstance(made, JudgeTask)
    made._client, made._cache = judge, JudgeCache(tmp_path / "judge.sqlite")
    return made


def test_alpha_is_one_for_agreement_and_falls_with_disagreement():
    assert krippendorff_alpha([[3, 3], [7, 7], [5, 5]]) == pytest.approx(1.0)  # agree, and tell items apart
    assert krippendorff_alpha([[1, 9], [9, 1], [5, 5]]) < 0  # less agreement than chance
    assert 0 < krippendorff_alpha([[2, 3], [8, 7], [5, 5]]) < 1
    assert krippendorff_alpha([[4]]) is None
    assert krippendorff_alpha([[10, 10], [10, 10]]) is None  # one score for everything: no evidence of reliability


def test_single_mode_averages_samples_shows_criteria_and_reference(tmp_path):
    judge = Judge(lambda prompt, seed: f"Score: {[6, 8, 10][seed % 3]}")
    t = task(tmp_path, judge, samples=3, scale=10, criteria="Be correct.", val_size=2)
    items = t.items("validation")
    result = t.judge([(it, it.extra["turns"][:1], ["an answer"]) for it in items])
    # samples 6, 8, 10 on 1..10 are (5 + 7 + 9) / 3 / 9 = 7/9
    assert result["metrics"]["score"] == pytest.approx(7 / 9) and result["metrics"]["parse_failure_rate"] == 0
    assert result["info"]["judge_calls"] == 6 and result["info"]["judge_tokens"] == 6 * 53
    prompt = judge.calls[0][0]
    assert "[Criteria]\nBe correct." in prompt and "1 means the answer ignores the request" in prompt
    assert "[Reference answer]" in prompt and "10 means the answer fully does what was asked" in prompt
    assert [seed for _, seed, _ in judge.calls[:3]] == [0, 1, 2]  # each sample its own draw
    assert all(temperature == 0.7 for _, _, temperature in judge.calls)


def test_the_verdict_schema_is_asked_for_and_json_verdicts_parse(tmp_path):
    """A backend that enforces the schema (llama.cpp's grammar) answers {"score": N}, even a 135M judge."""
    judge = Judge(lambda prompt, seed: '{ "score": 4}')
    t = task(tmp_path, judge, samples=1, scale=5, val_size=1)
    [item] = t.items("validation")
    assert t.judge([(item, item.extra["turns"][:1], ["x"])])["metrics"]["score"] == pytest.approx(0.75)
    assert judge.schemas[0]["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    pair = Judge(lambda prompt, seed: '{"winner": "tie"}')
    (tmp_path / "p").mkdir()
    t = task(tmp_path / "p", pair, samples=1, val_size=1, mode="pairwise")
    assert t.judge([(item, item.extra["turns"][:1], ["x"])])["metrics"]["score"] == 0.5
    assert pair.schemas[0]["properties"]["winner"]["enum"] == ["A", "B", "tie"]


def test_unparsable_or_failing_judgments_are_counted_not_fatal(tmp_path):
    answers = iter(["I think it is good", "Score: 11", LLMError("timeout"), "score = 4"])
    judge = Judge(lambda prompt, seed: next(answers))
    t = task(tmp_path, judge, samples=4, scale=10, val_size=1)
    [item] = t.items("validation")
    result = t.judge([(item, item.extra["turns"][:1], ["x"])])
    assert result["metrics"]["parse_failure_rate"] == 0.75  # prose, out of range, and a failed call
    assert result["metrics"]["score"] == pytest.approx(3 / 9)
    assert result["info"]["alpha"] != result["info"]["alpha"]  # nan: one valid sample cannot agree with itself


def test_judgments_are_cached_and_a_rerun_costs_nothing(tmp_path):
    judge = Judge(lambda prompt, seed: "Score: 7")
    t = task(tmp_path, judge, samples=2, val_size=2)
    answered = [(it, it.extra["turns"][:1], ["same answer"]) for it in t.items("validation")]
    first = t.judge(answered)
    again = task(tmp_path, Judge(lambda prompt, seed: pytest.fail("a cached judgment was asked again")), samples=2)
    second = again.judge(answered)
    assert second["metrics"] == first["metrics"] and second["info"]["judge_calls"] == 0
    other = task(tmp_path, judge, samples=2, temperature=0.2)  # another judge setting: not the same judgment
    other.judge(answered[:1])
    assert len(judge.calls) == 4 + 2


def test_pairwise_counts_a_win_only_when_both_orders_agree(tmp_path):
    def biased(prompt: str, seed: int | None) -> str:
        return "Winner: A"  # always the first position: each order contradicts the other

    t = task(tmp_path, Judge(biased), mode="pairwise", samples=2, val_size=1)
    [item] = t.items("validation")
    assert t.judge([(item, item.extra["turns"][:1], ["mine"])])["metrics"]["score"] == 0.5

    def fair(prompt: str, seed: int | None) -> str:
        first = prompt.split("[Answer A]\n")[1].split("\n")[0]
        return "Winner: A" if first == "mine" else "Winner: B"

    (tmp_path / "fair").mkdir()
    t = task(tmp_path / "fair", Judge(fair), mode="pairwise", samples=2, val_size=1)  # its own cache
    assert t.judge([(item, item.extra["turns"][:1], ["mine"])])["metrics"]["score"] == 1.0


def test_question_files_follow_the_mt_bench_format(tmp_path):
    path = tmp_path / "questions.jsonl"
    rows = [
        {"question_id": 81, "category": "writing", "turns": ["Write a haiku.", "Now another."]},
        {"question_id": 82, "category": "math", "turns": ["2+2?"], "reference": ["4"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    t = build_task("mt", "judge", {"prompts": str(path)})
    both = t.items("validation") + t.items("test")
    assert sorted(it.id for it in both) == ["81", "82"]
    assert {it.id: it.extra["turns"] for it in both}["81"] == ["Write a haiku.", "Now another."]
    with pytest.raises(LamdagentError, match="lacks a reference answer per turn"):
        build_task("mt", "judge", {"prompts": str(path), "mode": "pairwise"})
    path.write_text(json.dumps({"question_id": 1, "turns": []}) + "\n" + json.dumps(rows[1]))
    with pytest.raises(LamdagentError, match="question 1: `turns` must be a list of non-empty strings"):
        build_task("mt", "judge", {"prompts": str(path)})
    with pytest.raises(LamdagentError, match="not found"):
        build_task("mt", "judge", {"prompts": str(tmp_path / "nope.jsonl")})


def test_the_judges_key_reaches_the_worker_and_nothing_else(monkeypatch):
    from lamdagent.secrets import scrub_env

    env = {"JUDGE_KEY": "sk-judge-123", "AGENT_KEY": "sk-agent-456", "OPENAI_API_KEY": "sk-x", "PATH": "/bin"}
    kept = scrub_env(env, names=["AGENT_KEY"], keep=["JUDGE_KEY"])
    assert kept == {"JUDGE_KEY": "sk-judge-123", "PATH": "/bin"}


@pytest.mark.slow
def test_a_real_judge_over_loopback_scores_real_answers(llama_server: str, tiny_model_dir: Path, tmp_path, monkeypatch):
    """The embedded model as the judge (a weak judge, but real, through llama.cpp's OpenAI-compatible server), a
    tiny model as the candidate: parsing, averaging, alpha, cost, and a cached second pass."""
    from lamdagent.evaluation.evaluator import evaluate_detailed

    monkeypatch.setenv("LAMDAGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-never-written-anywhere")
    judge = {"backend": "openai", "model": "judge", "base_url": llama_server, "api_key_env": "JUDGE_TEST_KEY"}
    judge["structured_output"] = "json_object"  # llama.cpp's server turns the verdict's schema into a grammar
    options = {"judge": judge, "samples": 2, "val_size": 3, "max_new_tokens": 24, "judge_max_tokens": 8}
    t = build_task("chat", "judge", options)
    report = evaluate_detailed(tiny_model_dir, [t], "validation", progress=False)
    result = report.tasks["chat"]
    assert 0.0 <= result.metrics["score"] <= 1.0
    assert result.metrics["parse_failure_rate"] == 0.0  # the grammar makes even a 135M judge answer in form
    turns = sum(len(it.extra["turns"]) for it in t.items("validation"))
    assert result.info["judge_calls"] == turns * 2 and result.info["judge_tokens"] > 0
    assert result.info["judge_seconds"] > 0 and "alpha" in result.info
    again = evaluate_detailed(tiny_model_dir, [build_task("chat", "judge", options)], "validation", progress=False)
    assert again.tasks["chat"].info["judge_calls"] == 0  # every judgment came from the cache
    assert again.tasks["chat"].metrics == result.metrics
    cache = (tmp_path / "cache" / "judge.sqlite").read_bytes()
    assert b"sk-never-written-anywhere" not in cache
    # a judge that times out on every call: the evaluation still ends, every judgment counted as failed
    hurried = {**options, "judge": {**judge, "timeout_s": 0.001, "retries": 0}, "temperature": 0.3}
    late = evaluate_detailed(tiny_model_dir, [build_task("chat", "judge", hurried)], "validation", progress=False)
    assert late.tasks["chat"].metrics == {"score": 0.0, "parse_failure_rate": 1.0}
    assert late.tasks["chat"].info["unreliable"] == 1.0
