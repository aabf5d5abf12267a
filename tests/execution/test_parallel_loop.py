"""The loop with several trials at once: no spec launched twice, and two local workers really run together."""

from __future__ import annotations

from typing import Any

import pytest
from parallel_helpers import check_parallel_run, tiny_config

from lamdagent.config import RunConfig
from lamdagent.execution.executor import Executor, Handle
from lamdagent.execution.job import Job, JobResult
from lamdagent.llm.base import Choice, ClientConfig, LLMClient, LLMError
from lamdagent.loop import Loop
from lamdagent.policies.base import Policy, PolicyView, Proposal
from lamdagent.policies.greedy import GreedyPolicy
from lamdagent.policies.llm import LLMPolicy
from lamdagent.policies.random import RandomPolicy


class EveryOtherWait(Executor):
    """Ends the oldest job on every second `wait`, so the loop proposes again while a job is in flight.

    Trials fail (no model is made): the loop's launching is under test here, not the worker.
    """

    def __init__(self, parallel: int = 2) -> None:
        self.parallel = parallel
        self.submitted: list[Job] = []
        self._running: list[Handle] = []
        self._waits = 0

    def submit(self, job: Job) -> Handle:
        assert self.free_slots() > 0, "the loop submitted past its free slots"
        handle = Handle(job=job)
        self._running.append(handle)
        self.submitted.append(job)
        return handle

    def running(self) -> list[Handle]:
        return list(self._running)

    def wait(self, timeout: float | None = None) -> list[tuple[Handle, JobResult]]:
        self._waits += 1
        if not self._running or self._waits % 2:
            return []
        handle = self._running.pop(0)
        if handle.job.spec is None:  # the base model's evaluation
            metrics = {"tool_use": {"accuracy": 0.5}}
            result = JobResult(ok=True, metrics=metrics, stats={"primary_metrics": {"tool_use": "accuracy"}})
        else:
            result = JobResult(ok=False, error="no model made in this test")
        return [(handle, result)]


class Batches(Policy):
    """Returns the given batches of (action, choice) in turn, ignoring what runs: a misbehaving policy."""

    name = "batches"

    def __init__(self, batches: list[list[tuple[str, dict[str, Any]]]]) -> None:
        self.batches = list(batches)

    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        batch = self.batches.pop(0) if self.batches else []
        return [Proposal(spec=view.candidates.build_spec(a, c), llm_tokens=3) for a, c in batch[:n]]


def test_the_loop_never_launches_the_same_spec_twice(tiny_model_dir, tmp_path):
    a = ("sft", {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    b = ("sft", {"model": "base", "data": "tool_sft", "learning_rate": 1e-3})
    # round 1: the same spec twice in one batch; round 2: the spec still in flight; round 3: a new one
    policy = Batches([[a, a], [a], [b]])
    executor = EveryOtherWait(parallel=2)
    cfg = RunConfig.model_validate(tiny_config(tiny_model_dir, budget={"iterations": 6}))
    loop = Loop.open(cfg, tmp_path / "run", executor=executor, policy=policy)
    summary = loop.run()
    launched = [j.spec for j in executor.submitted if j.spec is not None]
    hashes = [t.spec_hash for t in loop.ledger.trials()]
    assert len(launched) == 2 and len(hashes) == 2 and len(set(hashes)) == 2
    assert [t.spec.params["learning_rate"] for t in loop.ledger.trials()] == [1e-4, 1e-3]
    skipped = loop.ledger.events("duplicate_proposal")
    assert [e["payload"]["spec_hash"] for e in skipped] == [hashes[0], hashes[0]]
    assert summary.stopped_by == "policy" and not executor.running()


class FirstOption(LLMClient):
    """An agent that always picks the first option offered: it only varies if the policy hides what is taken."""

    name = "first"
    constrained_choice = True
    Config = ClientConfig

    def __init__(self) -> None:
        self.config = ClientConfig(backend="first")

    def complete(self, messages: Any, max_tokens: Any = None, temperature: Any = None, schema: Any = None) -> Any:
        raise LLMError("this test's agent only chooses among options")

    def choose(self, messages: Any, options: list[str]) -> Choice:
        return Choice(index=0, tokens=1)


@pytest.mark.parametrize(
    "make", [RandomPolicy, GreedyPolicy, lambda: LLMPolicy(FirstOption())], ids=["random", "greedy", "llm"]
)
def test_policies_fill_every_slot_with_distinct_specs_around_the_running_one(make, tiny_model_dir, tmp_path):
    rates = [1e-4, 3e-4, 1e-3, 2e-3]
    raw = tiny_config(tiny_model_dir, actions=["sft"], grids={"sft": {"learning_rate": rates}})
    loop = Loop.open(RunConfig.model_validate(raw), tmp_path / "run", executor=EveryOtherWait())
    candidates = loop.pool.candidates()
    running = candidates.build_spec("sft", {"model": "base", "data": "tool_sft", "learning_rate": 3e-4})
    view = PolicyView(
        pool=loop.pool,
        candidates=candidates,
        history=[],
        running=[running],
        model_scores={"base": 0.5},
        seen_hashes=frozenset({running.spec_hash()}),
    )
    policy = make(0) if isinstance(make, type) else make()
    proposals = policy.propose(view, 3)
    # four choices, one in flight: the other three, each once (the constant liar), whatever the policy
    assert sorted(p.spec.params["learning_rate"] for p in proposals) == [1e-4, 1e-3, 2e-3]
    assert not any(p.fallback for p in proposals), [p.rationale for p in proposals]  # the agent itself chose
    assert len(policy.propose(view, 5)) == 3  # never more than what is left


@pytest.mark.slow
def test_local_executor_runs_two_trials_at_once(tiny_model_dir, tmp_path):
    cfg = RunConfig.model_validate(tiny_config(tiny_model_dir, executor={"kind": "local", "parallel": 2}))
    loop = Loop.open(cfg, tmp_path / "run")
    check_parallel_run(loop, loop.run(), budget=4)
