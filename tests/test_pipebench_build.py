"""The table builder builds only what the table lacks: from a new run directory, and when it resumes one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from pipetable_helpers import BASE_SIGNATURE, fake_model_dir, space_config

from lamdagent.benchmarks.space import enumerate_pipelines

BENCH = Path(__file__).resolve().parents[1] / "bench" / "pipebench_build.py"


def _builder():
    spec = importlib.util.spec_from_file_location("pipebench_build", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_new_run_builds_the_missing_pipelines_and_their_inputs_only(tmp_path):
    cfg = space_config(fake_model_dir(tmp_path / "base"))
    pipelines = enumerate_pipelines(
        [BASE_SIGNATURE], {d["name"]: d["kind"] for d in cfg["datasets"]}, cfg["actions"], cfg["grids"], cfg["params"]
    )
    deep = [p for p in pipelines if p.depth == 2]
    have = {p.signature for p in pipelines if p.depth < 2} | {p.signature for p in deep[: len(deep) // 2]}
    plan = _builder().needed(pipelines, have)
    missing = {p.signature for p in pipelines if p.signature not in have}
    assert missing <= {p.signature for p in plan}
    by_sig = {p.signature: p for p in pipelines}
    for k, p in enumerate(plan):
        assert p.index == k
        for value in p.inputs.values():  # inputs point into the plan, at the same pipelines as before
            if isinstance(value, str):
                continue
            for i in value if isinstance(value, tuple) else (value,):
                assert i < k and plan[i].signature in by_sig[p.signature].parents
    assert {p.signature for p in plan} - missing <= {p.signature for p in pipelines if p.depth < 2}
    assert _builder().needed(pipelines, {p.signature for p in pipelines}) == [pipelines[0]]  # nothing to do


@pytest.mark.slow
def test_a_resumed_build_does_not_rebuild_rows_the_table_has(tmp_path, tiny_model_dir):
    """A build that started beside a table with rows (a lost run dir) and stopped, then resumed, runs the
    missing pipelines and their inputs: never a row the table had before it started."""
    from lamdagent.benchmarks.table import read_table
    from lamdagent.models.tiny import tiny_run_config
    from lamdagent.runinfo import load_run
    from lamdagent.signature import base_signature, signatures_of_run

    space = tiny_run_config(
        tiny_model_dir,
        datasets=[{"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": 8}],
        grids={"sft": {"learning_rate": [1e-3]}, "linear": {"weight": [0.5]}},
        policy={"name": "fixed", "pipeline": [{"action": "sft", "inputs": {"model": "base", "data": "tool_sft"}}]},
    )
    space_path = tmp_path / "space.yaml"
    space_path.write_text(yaml.safe_dump(space))
    table = tmp_path / "table.jsonl.gz"
    build = _builder().main
    # base, sft(base), then sft(sft(base)) and linear(sft(base), base): the first run dir builds three rows
    common = ["--space", str(space_path), "--table", str(table)]
    assert build([*common, "--run-dir", str(tmp_path / "a"), "--limit", "2"]) == 0
    before = set(read_table(table).rows)
    assert len(before) == 3
    # a new run dir: its first trial (the input sft(base) again), then stopped; then resumed to the end
    assert build([*common, "--run-dir", str(tmp_path / "b"), "--limit", "1"]) == 0
    assert build([*common, "--run-dir", str(tmp_path / "b")]) == 0
    assert len(read_table(table).rows) == 4
    run = load_run(tmp_path / "b")
    _, by_trial = signatures_of_run(run.trials, {m: base_signature(b.name) for m, b in run.bases.items()})
    built = [by_trial[t.id] for t in run.trials if t.state == "finished"]
    assert len(built) == 2 and built[1] not in before and built[1].startswith("linear(")
    assert [s for s in built if s in before] == [built[0]] and built[0].startswith("sft(")
    assert build([*common, "--run-dir", str(tmp_path / "c")]) == 0  # a complete table: nothing to run
