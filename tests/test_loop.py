"""The loop on a tiny random Llama: budgets, cache hits, fallbacks, resume, and a SIGKILL mid-trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import tiny_config
from rich.console import Console

from lamdagent.cli import main as cli_main
from lamdagent.cli import status_dict
from lamdagent.config import RunConfig, load_config
from lamdagent.console import print_summary
from lamdagent.errors import LamdagentError
from lamdagent.io import pid_alive
from lamdagent.ledger import Ledger
from lamdagent.loop import Loop
from lamdagent.policies import make_policy
from lamdagent.policies.base import Policy, PolicyView, Proposal
from lamdagent.pool import Candidates
from lamdagent.spec import ActionSpec


class Scripted(Policy):
    """Proposes the given (action, choice) pairs in order, then stops; records the memory calls."""

    name = "scripted"

    def __init__(self, script: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
        self.script = list(script)
        self.memory_calls = 0
        self.views: list[PolicyView] = []

    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        self.views.append(view)
        out = []
        while self.script and len(out) < n:
            action, choice, extra = self.script.pop(0)
            out.append(Proposal(spec=view.candidates.build_spec(action, choice), **extra))
        return out

    def update_memory(self, view: PolicyView, trial: Any) -> tuple[str, int]:
        self.memory_calls += 1
        return f"after trial {trial.id}: {trial.state}", 5


def test_random_run_fills_ledger_store_and_status(tiny_model_dir, tmp_path):
    cfg = RunConfig.model_validate(tiny_config(tiny_model_dir, budget={"iterations": 2}))
    loop = Loop.open(cfg, tmp_path / "run")
    summary = loop.run()
    assert summary.trials == 2 and summary.stopped_by == "iterations"
    trials = loop.ledger.trials()
    assert [t.state for t in trials] == ["finished", "finished"], [t.error for t in trials]
    for t in trials:
        assert loop.store.is_complete(t.output_model)
        assert 0.0 <= t.metrics["tool_use"]["accuracy"] <= 1.0 and "tool_use" in t.test_metrics
        assert t.timings["wall_s"] > 0
        # the worker frees the action's memory before it evaluates, and records what that bought
        after, released = t.timings["rss_after_action_mb"], t.timings["rss_after_release_mb"]
        assert 0 < released <= after + 1 and after <= t.timings["peak_rss_mb"]
        # every item's verdict is kept, and they make the score
        result = json.loads((tmp_path / "run" / "jobs" / f"trial-{t.id:04d}" / "result.json").read_text())
        verdicts = result["stats"]["verdicts"]["validation"]["tool_use"]
        assert len(verdicts) == 4 and set(verdicts) <= {0, 1}
        assert sum(verdicts) / 4 == t.metrics["tool_use"]["accuracy"]
    # the ledger keeps each model's validation verdicts for a predictor (the base's too), never the test ones
    kept = {e["payload"]["model"]: e["payload"] for e in loop.ledger.events("verdicts")}
    assert set(kept) == {"base", *(t.output_model for t in trials)}
    assert all(set(p) == {"model", "validation"} and len(p["validation"]["tool_use"]) == 4 for p in kept.values())
    # test verdicts are kept apart, where no policy reads them; the summary pairs the best's with the base's
    tested = {e["payload"]["model"]: e["payload"]["test"] for e in loop.ledger.events("test_verdicts")}
    assert set(tested) == {"base", *(t.output_model for t in trials)}
    assert summary.best is not None
    gain = summary.test_gains["tool_use"]
    best_test = summary.best.test_metrics["tool_use"]["accuracy"]
    base_test = summary.base["base"]["test_metrics"]["tool_use"]["accuracy"]
    assert gain["mean"] == pytest.approx(best_test - base_test) and gain["low"] <= gain["mean"] <= gain["high"]
    status = status_dict(tmp_path / "run")
    assert {"trials", "best", "budget"} <= set(status)
    assert [t["id"] for t in status["trials"]] == [t.id for t in trials]
    assert {"id", "state", "action", "score"} <= set(status["trials"][0])
    assert status["budget"]["spent"]["iterations"] == 2
    assert summary.best is not None and summary.pipeline[-1].model_id() == summary.best.output_model
    # the printed result says plainly when no trial beat the base
    console = Console(record=True, width=200)
    print_summary(summary, console)
    text = console.export_text()
    assert "best pipeline: " in text and str(loop.store.path(summary.best.output_model)) in text
    base_score = next(iter(summary.base.values()))["score"]
    assert ("no trial beat the base model" in text) == (summary.best.score <= base_score)


def test_cache_hit_fallback_flag_memory_and_token_budget(tiny_model_dir, tmp_path):
    decision = {"steps": [{"step": "action", "prompt": "which?", "answer": "sft"}], "tokens": 0}
    sft = (
        "sft",
        {"model": "base", "data": "tool_sft", "learning_rate": 1e-3},
        {"rationale": "first", "decision": decision},
    )
    again = ("sft", {"model": "base", "data": "tool_sft", "learning_rate": 1e-3}, {"fallback": True, "llm_tokens": 40})
    never = ("sft", {"model": "base", "data": "tool_sft", "learning_rate": 1e-4}, {})
    cfg = RunConfig.model_validate(tiny_config(tiny_model_dir, budget={"iterations": 5, "llm_tokens": 45}))
    policy = Scripted([sft, again, never])
    loop = Loop.open(cfg, tmp_path / "run", policy=policy)
    summary = loop.run()
    assert summary.stopped_by == "llm_tokens"  # 40 (proposal) + 2 × 5 (memory updates) ≥ 45
    first, second = loop.ledger.trials()
    assert second.cached and not first.cached and second.fallback and not first.fallback
    assert second.output_model == first.output_model and second.metrics == first.metrics
    assert second.timings["wall_s"] < 1.0
    assert first.rationale == "first"
    # the decision record is kept with its trial; the policy saw item counts and the budget left
    assert [(e["trial_id"], e["payload"]) for e in loop.ledger.events("decision")] == [(first.id, decision)]
    view = policy.views[-1]
    assert view.items == {"tool_use": 4} and view.budget.startswith("iterations 4") and view.violations == {}
    assert [m["text"] for m in loop.ledger.memory_versions()] == ["after trial 1: finished", "after trial 2: finished"]


def test_wall_clock_budget_and_resume(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    cfg = RunConfig.model_validate(tiny_config(tiny_model_dir, budget={"iterations": 1}))
    assert Loop.open(cfg, run).run().trials == 1
    with pytest.raises(LamdagentError, match="--resume"):
        Loop.open(cfg, run)
    before = Ledger(run).trials()
    # the time already spent counts: a 1 s wall clock is used up before any new trial starts
    clock = RunConfig.model_validate(tiny_config(tiny_model_dir, budget={"iterations": 10, "wall_clock_s": 1}))
    summary = Loop.open(clock, run, resume=True).run()
    assert summary.stopped_by == "wall_clock_s" and summary.trials == 1
    more = RunConfig.model_validate(tiny_config(tiny_model_dir, budget={"iterations": 2}))
    loop = Loop.open(more, run, resume=True)
    summary = loop.run()
    after = loop.ledger.trials()
    assert summary.trials == 2 and after[0] == before[0] and after[1].state == "finished"


def _wait_for(pred, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.slow
def test_sigkill_during_a_trial_then_resume(tiny_model_dir, tmp_path):
    cfg = tiny_config(tiny_model_dir, budget={"iterations": 1})
    # the kill lands a second after the trial starts, while its worker is still loading: 20 steps keep it
    # mid-trial with a wide margin (a resumed run keeps its stored parameters)
    cfg["params"] = {"sft": {"max_steps": 20, "batch_size": 4, "max_length": 256}}
    cfg["actions"] = ["sft"]
    cfg["grids"] = {"sft": cfg["grids"]["sft"]}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "lamdagent.cli", "run", str(path), "--run-dir", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(
            lambda: (run / "ledger.sqlite").exists() and any(t.state == "running" for t in Ledger(run).trials()), 240
        )
        time.sleep(1)
        # this run's worker only (its command line names the run directory)
        worker_pids = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-f", f"lamdagent.execution.worker {run}"], capture_output=True, text=True
            ).stdout.split()
        ]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    # the worker dies with its driver: no orphan keeps training
    assert worker_pids
    assert _wait_for(lambda: not any(pid_alive(p) for p in worker_pids), 20)
    led = Ledger(run)
    assert [t.state for t in led.trials()] == ["running"]
    assert not any(p.name.startswith("m") and (p / "lamdagent.json").exists() for p in (run / "models").glob("*"))
    assert cli_main(["run", str(path), "--run-dir", str(run), "--resume"]) == 0
    trials = Ledger(run).trials()
    # the interrupted trial does not count against the budget of 1 (else the resumed run would start
    # nothing), and is run again first
    assert len(trials) == 2
    assert trials[0].state == "interrupted" and "died" in trials[0].error
    assert trials[1].spec_hash == trials[0].spec_hash and "interrupted" in (trials[1].rationale or "")
    assert trials[1].state == "finished"
    events = [e["kind"] for e in Ledger(run).events()]
    assert "resume" in events


def test_status_and_config_errors_are_one_line(tmp_path, capsys):
    assert cli_main(["status", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds no run" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"datasets": [], "tasks": [{"name": "t", "source": "x"}], "budgte": {}}))
    assert cli_main(["run", str(bad), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "budgte" in err and len(err.strip().splitlines()) == 1
    assert cli_main(["run", str(tmp_path / "missing.yaml"), "--run-dir", str(tmp_path / "r")]) == 2
    assert "not found" in capsys.readouterr().err


def test_actions_json_lists_every_type(capsys):
    assert cli_main(["actions", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {d["name"] for d in data}
    assert {"sft", "dpo", "linear", "task_arithmetic", "ties", "dare_ties", "slerp"} <= names
    sft = next(d for d in data if d["name"] == "sft")
    assert {s["name"] for s in sft["slots"]} == {"model", "data"}
    assert all(p.get("description") for p in sft["params"].values())


def test_config_command_prints_a_yaml_that_loads_back_to_the_same_config(tmp_path, capsys):
    assert cli_main(["config", "--policy", "random", "--budget", "3", "--wall-clock", "60", "--seed", "7"]) == 0
    printed = tmp_path / "demo.yaml"
    printed.write_text(capsys.readouterr().out)
    cfg = load_config(printed)
    flags = {"policy.name": "random", "budget.iterations": 3, "budget.wall_clock_s": 60, "seed": 7}
    assert cfg == load_config(None, flags)
    assert (cfg.policy.name, cfg.budget.iterations, cfg.budget.wall_clock_s, cfg.seed) == ("random", 3, 60, 7)
    assert cli_main(["config", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_agent_model_flag_picks_the_backend_by_the_model_kind(tmp_path, capsys):
    gguf = tmp_path / "agent.gguf"
    gguf.write_bytes(b"GGUF")
    for value, llm in [
        (str(gguf), {"backend": "llamacpp", "model": str(gguf)}),
        ("llamacpp", {"backend": "llamacpp"}),
        (str(tmp_path), {"backend": "local", "model": str(tmp_path)}),
    ]:
        assert cli_main(["config", "--policy", "hybrid", "--agent-model", value]) == 0
        policy = yaml.safe_load(capsys.readouterr().out)["policy"]
        assert policy["name"] == "hybrid" and policy["llm"] == llm
    assert cli_main(["config", "--agent-model", str(tmp_path / "missing.gguf")]) == 2
    assert "--agent-model: " in capsys.readouterr().err


def test_every_example_config_loads():
    from pathlib import Path

    examples = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))
    assert len(examples) >= 4
    for path in examples:
        cfg = load_config(path)
        assert cfg.tasks and cfg.policy.name, path


def test_executor_flag_takes_a_table_path(capsys):
    assert cli_main(["config", "--executor", "table:bench/t.jsonl.gz", "--policy", "random"]) == 0
    executor = yaml.safe_load(capsys.readouterr().out)["executor"]
    assert (executor["kind"], executor["path"]) == ("table", "bench/t.jsonl.gz")


def test_demo_fixed_example_is_the_demo_with_four_valid_steps():
    cfg = load_config(Path(__file__).parent.parent / "examples" / "demo-fixed.yaml")
    demo = load_config(None)
    assert cfg.model_dump(exclude={"policy", "budget"}) == demo.model_dump(exclude={"policy", "budget"})
    policy = make_policy("fixed", cfg.policy.options(), 0)
    assert [s.action for s in policy.steps] == ["sft", "linear", "sft", "slerp"]


def test_test_split_is_scored_once_at_the_end_for_the_best(tiny_model_dir, tmp_path):
    """With `eval.test: final` trials are scored on validation alone; the best model gets test scores at the
    end, recorded beside the immutable trial rows and shown on every trial that made it."""
    cfg = RunConfig.model_validate(
        tiny_config(tiny_model_dir, budget={"iterations": 2}, eval={"batch_size": 8, "test": "final", "final_top_k": 1})
    )
    loop = Loop.open(cfg, tmp_path / "run")
    summary = loop.run()
    finished = loop.ledger.trials("finished")
    assert len(finished) == 2
    scored = loop.ledger.test_scores()
    assert list(scored) == [summary.best.output_model]
    assert summary.best.test_metrics == scored[summary.best.output_model] and "tool_use" in summary.best.test_metrics
    others = [t for t in finished if t.output_model != summary.best.output_model]
    assert all(t.test_metrics == {} for t in others)
    jobs = [json.loads(p.read_text()) for p in (tmp_path / "run" / "jobs").glob("trial-*/job.json")]
    assert jobs and all(j["splits"] == ["validation"] for j in jobs)


def test_the_wall_clock_keeps_time_for_the_final_test_scores_and_offers_what_fits(monkeypatch):
    """A launch that would leave too little time to score the models on test at the end is not made; an action
    type whose trials take longer than the time left is left out of the candidates while a merge still fits."""
    from types import SimpleNamespace

    from lamdagent.spec import EvalSettings

    sft = SimpleNamespace(
        state="finished",
        cached=False,
        action="sft",
        output_model="m1",
        timings={"wall_s": 200.0, "eval_validation_s": 50.0, "eval_load_s": 10.0},
    )

    class FakeLedger:
        tested: dict[str, Any] = {}

        def get_meta(self, key: str, default: Any = None) -> Any:
            return default

        def trials(self, state: str | None = None) -> list[Any]:
            return [sft]

        def test_scores(self) -> dict[str, Any]:
            return self.tested

        def total_llm_tokens(self) -> int:
            return 0

        def log_event(self, kind: str, payload: dict[str, Any]) -> None:
            events.append((kind, payload))

    events: list[tuple[str, dict[str, Any]]] = []
    pool = SimpleNamespace(candidates=lambda: Candidates({"sft": None, "linear": None}, None))  # type: ignore[dict-item]

    def loop_with(test: str, elapsed: float, top_k: int = 3) -> Loop:
        cfg = SimpleNamespace(
            budget=SimpleNamespace(iterations=None, wall_clock_s=1000.0, llm_tokens=None),
            eval=EvalSettings(test=test, final_top_k=top_k),  # type: ignore[arg-type]
        )
        bases = {"base": {"timings": {"eval_validation_s": 80.0, "eval_test_s": 50.0, "eval_load_s": 10.0}}}
        ctx = SimpleNamespace(cfg=cfg, ledger=FakeLedger(), bases=lambda: bases, executor=None, pool=pool)
        loop = Loop(ctx)  # type: ignore[arg-type]
        monkeypatch.setattr(loop, "elapsed", lambda: elapsed)
        return loop

    assert loop_with("every", 750.0).exhausted() is None  # 250 s left is room for a 200 s fine-tune
    assert set(loop_with("every", 750.0)._candidates_in_time()[0].actions) == {"sft", "linear"}
    final = loop_with("final", 750.0)
    # m1 and the next trial's model will need a test score: 2 x 60 s (the base's 50 s test + 10 s load)
    assert final.final_test_reserve(extra=1) == 120.0
    assert final.final_test_reserve() == 60.0
    assert loop_with("final", 750.0, top_k=1).final_test_reserve(extra=1) == 60.0  # never more than top k
    # 130 s left after the reserve: no second fine-tune (200 s), but a merge (its first: ~60 s of evaluation)
    assert final.too_long(["sft", "linear"]) == {"sft": 200.0} and final.exhausted() is None
    kept, budget = final._candidates_in_time()
    assert list(kept.actions) == ["linear"] and "too long for the time left: sft (~200 s)" in budget
    assert loop_with("final", 900.0).exhausted() == "wall_clock_s"  # 100 - 120 s leaves room for nothing
    # a policy that ignores the candidates (a hand-written pipeline) gets its too-long step dropped, on record
    steps = [Proposal(ActionSpec(action=a, inputs={})) for a in ("sft", "linear")]
    assert [p.spec.action for p in final._in_time(steps)] == ["linear"] and final._late
    assert [p.spec.action for p in final._in_time(steps)] == ["linear"]  # asked again: recorded once
    assert events == [("too_long", {"action": "sft", "estimate_s": 200.0})]
    FakeLedger.tested = {"m1": {}}  # m1 scored on test already: only the next model needs time
    assert loop_with("final", 750.0).final_test_reserve(extra=1) == 60.0
