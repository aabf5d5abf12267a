"""The table builder's plan when its run directory is new but the table has rows: only what is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
