"""Run queries shared by report, export, status and replay, on a ledger written like the loop writes it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from sample_run import BASE_NAME, CONFIG, build_sample_run, model_ids

from lamdagent.config import RunConfig
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import primary_metric_name, primary_value
from lamdagent.ledger import Ledger
from lamdagent.policies import make_policy
from lamdagent.policies.base import PolicyView
from lamdagent.pool import Pool
from lamdagent.runinfo import load_run
from lamdagent.spec import ActionSpec, DatasetRef, ModelRef


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return build_sample_run(tmp_path / "run")


def test_best_trial_is_highest_finished_score(run_dir: Path) -> None:
    run = load_run(run_dir)
    best = run.best_trial()
    assert best is not None
    finished = [t for t in run.trials if t.state == "finished"]
    assert best.score == max(t.score for t in finished)
    assert best.output_model == model_ids()["best"]


def test_nodes_have_one_entry_per_model_and_generation_depths(run_dir: Path) -> None:
    run = load_run(run_dir)
    ids = model_ids()
    nodes = run.nodes()
    # the cached repeat of the first SFT adds no model; the failed DPO adds none either
    assert set(nodes) == {"base", *ids.values()}
    first = nodes[ids["sft1"]].trial  # the first producer, not the later cache hit
    assert first is not None and first.id == 1
    assert [nodes[ids[k]].depth for k in ("sft1", "sft2", "ties", "best", "linear")] == [1, 1, 2, 3, 4]
    assert nodes[ids["ties"]].parents == (ids["sft1"], ids["sft2"], "base")


def test_lineage_is_a_build_order(run_dir: Path) -> None:
    run = load_run(run_dir)
    ids = model_ids()
    order = run.lineage(ids["best"])
    assert order[-1] == ids["best"] and order[0] == "base"
    assert set(order) == {"base", ids["sft1"], ids["sft2"], ids["ties"], ids["best"]}
    for m in order:
        assert all(order.index(p) < order.index(m) for p in run.nodes()[m].parents)
    assert [s.action for s in run.pipeline(ids["best"])] == ["sft", "sft", "ties", "sft"]


def test_pipeline_steps_use_step_refs_and_pool_ids(run_dir: Path) -> None:
    run = load_run(run_dir)
    specs = run.pipeline(model_ids()["best"])
    steps = run.pipeline_steps(model_ids()["best"])
    assert steps[0] == {"action": "sft", "inputs": {"model": "base", "data": "tool_use_sft"}, "params": specs[0].params}
    assert steps[2]["inputs"] == {"models": ["$1", "$2"], "base": "base"}
    assert steps[2]["params"]["density"] == 0.7
    assert steps[3]["inputs"] == {"model": "$3", "data": "tool_use_sft"}


def test_pipeline_yaml_replays_through_the_fixed_policy(run_dir: Path) -> None:
    """The YAML is a config fragment: the fixed policy accepts it and proposes the very specs of the run."""
    run = load_run(run_dir)
    best = model_ids()["best"]
    doc = yaml.safe_load(run.pipeline_yaml(best))
    assert doc["base_models"] == [BASE_NAME]
    RunConfig.model_validate({**CONFIG, **doc})  # a valid run config once merged
    policy = make_policy("fixed", {k: v for k, v in doc["policy"].items() if k != "name"}, seed=0)
    specs = run.pipeline(best)
    pool = Pool(actions=list(CONFIG["actions"]), fixed_params=CONFIG["params"])
    pool.add_model(ModelRef(id="base", path="unused", fingerprint="", name=BASE_NAME))
    for name, kind in (("tool_use_sft", "sft"), ("instruction_sft", "sft")):
        pool.datasets[name] = DatasetRef(id=name, kind=kind, path="unused", fingerprint="", rows=1)
    history = []
    for k, original in enumerate(specs, 1):  # run each step "instantly" and feed the result back
        proposed = [p.spec for p in policy.propose(PolicyView(pool, pool.candidates(), history), n=5)]
        assert (proposed[0].action, proposed[0].inputs, proposed[0].params) == (
            original.action,
            original.inputs,
            original.params,
        ), f"step {k}"
        done = run.producers()[original.model_id()]
        history.append(dataclasses.replace(done, spec=proposed[0], spec_hash=proposed[0].spec_hash()))
        pool.add_model(ModelRef(id=str(done.output_model), path="unused", fingerprint=""))
        # step 2 does not wait for step 1, so both come at once; skip the second ask
        if k == 1:
            assert [p.inputs for p in proposed[1:2]] == [specs[1].inputs]


def test_missing_ledger_and_unknown_trial_are_one_line_errors(tmp_path: Path, run_dir: Path) -> None:
    with pytest.raises(LamdagentError, match="holds no run"):
        load_run(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()  # reading never creates a run directory
    with pytest.raises(LamdagentError, match="trial 99"):
        load_run(run_dir).trial(99)


def test_run_with_only_failures_has_no_best(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "r")
    ledger.set_meta("base_models", [{"id": "base", "name": BASE_NAME, "path": "x"}])
    t = ledger.start_trial(ActionSpec(action="sft", inputs={"model": "base", "data": "d"}), 1)
    ledger.fail_trial(t, "boom")
    ledger.close()
    run = load_run(tmp_path / "r")
    assert run.best_trial() is None
    assert set(run.nodes()) == {"base"}


def test_primary_metric_prefers_declared_then_accuracy() -> None:
    assert primary_metric_name({"f1": 0.1, "accuracy": 0.2}) == "accuracy"
    assert primary_metric_name({"f1": 0.1, "accuracy": 0.2}, "f1") == "f1"
    assert primary_metric_name({"f1": 0.1, "accuracy": 0.2}, "missing") == "accuracy"
    assert primary_metric_name({"strict": 0.3, "loose": 0.4}) == "strict"
    assert primary_metric_name({"a": 0.1, "score": 0.2, "primary": 0.3}) == "primary"
    assert primary_metric_name({}) is None
    assert primary_value({"strict": 0.3, "loose": 0.4}, "loose") == 0.4
    assert primary_value(0.5) == 0.5 and primary_value({}) is None and primary_value(None) is None


def test_test_gains_pair_the_best_with_the_base_item_by_item(run_dir: Path) -> None:
    """The gain's interval is over paired items, and only where the verdicts give back both test numbers."""
    best = model_ids()["best"]
    # sample run: base test tool use 0.18, the best 0.45; instruction following is not a share of these items
    base_tool = [1] * 18 + [0] * 82
    best_tool = [1] * 18 + [1] * 27 + [0] * 55  # every item the base got, and 27 more
    with Ledger(run_dir) as ledger:
        for model, tool in (("base", base_tool), (best, best_tool)):
            test = {"tool_use": tool, "instruction_following": [1] * 4}
            ledger.log_event("test_verdicts", {"model": model, "test": test})
    run = load_run(run_dir)
    gains = run.test_gains(best)
    assert set(gains) == {"tool_use"}
    gain = gains["tool_use"]
    assert gain["mean"] == pytest.approx(0.27) and gain["n"] == 100
    # never worse on any item, so no resample can lose: the interval sits above zero, around the gain
    assert 0 < gain["low"] < 0.27 < gain["high"] <= 0.45
    assert run.test_gains(model_ids()["sft1"]) == {}  # no test verdicts kept for it
