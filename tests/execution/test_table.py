"""The table executor answers jobs from a pipeline table by signature, with no model ever trained."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from pipetable_helpers import BASE_SIGNATURE, fake_model_dir, space_config, write_synthetic_table

import lamdagent.actions  # noqa: F401 - registers the built-in action types
from lamdagent.actions.base import ACTIONS
from lamdagent.benchmarks.table import TableRow, append_rows, read_table
from lamdagent.errors import LamdagentError
from lamdagent.execution import EXECUTORS
from lamdagent.execution.job import Job
from lamdagent.execution.table import TableExecutor
from lamdagent.models.store import ModelStore
from lamdagent.signature import spec_signature
from lamdagent.spec import ActionSpec, DatasetRef, ModelRef, TaskSpec


@pytest.fixture()
def setup(tmp_path: Path) -> dict[str, Any]:
    base_dir = fake_model_dir(tmp_path / "base-model")
    cfg = space_config(
        base_dir,
        datasets=[{"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": 8}],
        actions=["sft", "linear"],
        grids={"sft": {"learning_rate": [1e-4, 1e-3]}, "linear": {"weight": [0.3]}},
    )
    path = tmp_path / "table.jsonl.gz"
    pipelines = write_synthetic_table(path, cfg)
    tasks = tuple(TaskSpec(name=t["name"], source=t["source"], options=t["options"]) for t in cfg["tasks"])
    base = ModelRef(id="base", path=str(base_dir), fingerprint="fb", name=str(base_dir))
    data = DatasetRef(id="tool_sft", kind="sft", path="d.jsonl", fingerprint="fd", rows=8)
    return {"path": path, "cfg": cfg, "tasks": tasks, "base": base, "data": data, "n": len(pipelines), "tmp": tmp_path}


def sft_spec(model: str, lr: float, cfg: dict[str, Any]) -> ActionSpec:
    params = ACTIONS.get("sft").spec_params({**cfg["params"]["sft"], "learning_rate": lr})
    return ActionSpec(action="sft", inputs={"model": model, "data": "tool_sft"}, params=params)


def job(s: dict[str, Any], spec: ActionSpec | None, inputs: dict[str, Any], model_id: str | None = None) -> Job:
    mid = model_id or (spec.model_id() if spec else "base")
    return Job(
        trial_id=1,
        job_dir=str(s["tmp"] / "jobs" / mid),
        store_root=str(s["tmp"] / "models"),
        spec=spec,
        model_id=mid,
        inputs=inputs,
        tasks=s["tasks"],
        model_path=s["base"].path if spec is None else None,
    )


def test_the_table_has_about_ten_rows_and_one_base(setup):
    table = read_table(setup["path"])
    assert len(table.rows) == setup["n"] >= 10
    assert [r.signature for r in table.base_rows()] == [BASE_SIGNATURE]
    assert table.header.primary_metrics["tool_use"] == "accuracy"


def test_jobs_are_answered_from_the_rows_by_signature(setup):
    s, table = setup, read_table(setup["path"])
    ex = TableExecutor(s["path"])
    base = ex.run(job(s, None, {}))
    assert base.ok and base.output_model == "base"
    assert base.metrics == table.rows[BASE_SIGNATURE].scores["validation"]
    assert base.stats["primary_metrics"] == {"tool_use": "accuracy", "instruction_following": "inst_level_loose_acc"}
    assert ex.elapsed_s == 20.0  # the base's recorded evaluation seconds

    first = sft_spec("base", 1e-3, s["cfg"])
    r1 = ex.run(job(s, first, {"model": s["base"], "data": s["data"]}))
    sig1 = spec_signature(first, {"base": BASE_SIGNATURE})
    assert r1.ok and r1.output_model == first.model_id()
    assert r1.metrics == table.rows[sig1].scores["validation"] and r1.test_metrics == table.rows[sig1].scores["test"]
    assert r1.timings == {"action_s": 90.0, "eval_s": 20.0, "wall_s": 110.0}
    assert ex.elapsed_s == 130.0
    store = ModelStore(Path(s["tmp"] / "models"))
    assert store.is_complete(first.model_id())  # a marker the loop's cache and `set_scores` accept
    store.set_scores(first.model_id(), r1.metrics, r1.test_metrics, 0.5)
    assert store.read_meta(first.model_id())["signature"] == sig1

    m1 = ModelRef(id=first.model_id(), path="x", fingerprint=first.spec_hash(), parents=("base",), action="sft")
    second = sft_spec(m1.id, 1e-4, s["cfg"])
    r2 = TableExecutor(s["path"]).run(job(s, second, {"model": m1, "data": s["data"]}))  # a new executor: store
    assert r2.ok and r2.stats["table_signature"].startswith("sft(") and r2.stats["table_signature"].count("sft(") == 2

    params = ACTIONS.get("linear").spec_params({"weight": 0.7})
    merge = ActionSpec(action="linear", inputs={"models": ["base", m1.id]}, params=params)
    r3 = ex.run(job(s, merge, {"models": (s["base"], m1)}))
    assert r3.ok, r3.error  # linear([base, m1], 0.7) is the table's linear([m1, base], 0.3)


def test_a_pipeline_outside_the_table_is_a_one_line_failure(setup):
    s = setup
    ex = TableExecutor(s["path"])
    outside = sft_spec("base", 5e-4, s["cfg"])  # not a grid value
    result = ex.run(job(s, outside, {"model": s["base"], "data": s["data"]}))
    assert not result.ok and "\n" not in (result.error or "")
    assert "no row for the pipeline sft(" in result.error and "learning_rate=0.0005" in result.error
    assert not ModelStore(Path(s["tmp"] / "models")).is_complete(outside.model_id())
    unknown = ModelRef(id="m-elsewhere", path="x", fingerprint="f", action="sft")
    result = ex.run(job(s, sft_spec("m-elsewhere", 1e-4, s["cfg"]), {"model": unknown, "data": s["data"]}))
    assert not result.ok and "m-elsewhere" in result.error


def test_the_bootstrap_differs_by_seed_and_repeats_within_one(setup):
    s = setup
    first = sft_spec("base", 1e-4, s["cfg"])
    inputs = {"model": s["base"], "data": s["data"]}

    def tool(seed: int, bootstrap: bool = True) -> float:
        return (
            TableExecutor(s["path"], bootstrap=bootstrap, seed=seed)
            .run(job(s, first, inputs))
            .metrics["tool_use"]["accuracy"]
        )

    draws = {tool(seed) for seed in range(8)}
    assert len(draws) > 1 and all(0.0 <= d <= 1.0 for d in draws)
    assert tool(3) == tool(3)
    exact = TableExecutor(s["path"]).run(job(s, first, inputs)).metrics["tool_use"]["accuracy"]
    assert tool(5, bootstrap=False) == exact
    with_seed = TableExecutor(s["path"], bootstrap=True, seed=1).run(job(s, first, inputs)).metrics
    assert with_seed["tool_use"]["parse_rate"] == 1.0  # metrics other than the primary stay as recorded


def test_the_executor_interface_and_options(setup):
    s = setup
    cls = EXECUTORS.get("table")
    ex = cls.create(cls.Options(path=str(s["path"]), parallel=2, bootstrap=True, seed=4))
    assert ex.free_slots() == 2
    h = ex.submit(job(s, None, {}))
    assert ex.free_slots() == 1 and ex.running() == [h]
    done = ex.wait(timeout=0)
    assert [d[0] for d in done] == [h] and done[0][1].ok and ex.free_slots() == 2
    with pytest.raises(LamdagentError, match="not found"):
        cls.create(cls.Options(path=str(s["tmp"] / "missing.jsonl")))


def test_tables_append_atomically_and_name_the_bad_line(tmp_path):
    path = tmp_path / "t.jsonl"
    row = TableRow(signature="b", depth=0, scores={"validation": {"t": {"accuracy": 0.5}}})
    append_rows(path, [row])
    append_rows(path, [TableRow(**{**row.model_dump(), "signature": "c"})])
    assert set(read_table(path).rows) == {"b", "c"}
    with open(path, "a") as fh:
        fh.write(json.dumps({"signature": "d", "depth": 1, "scores": {}}) + "\n")  # depth 1 needs an action
    with pytest.raises(LamdagentError, match=r"t\.jsonl:4"):
        read_table(path)
    gz = tmp_path / "t.jsonl.gz"
    append_rows(gz, [row])
    append_rows(gz, [TableRow(**{**row.model_dump(), "signature": "c"})])
    with gzip.open(gz, "rt") as fh:
        assert len(fh.read().splitlines()) == 3  # header + two rows, across two gzip members


def test_the_digest_names_the_content_not_the_order_of_rows(tmp_path):
    rows = [TableRow(signature=s, depth=0, scores={"validation": {"t": {"accuracy": 0.5}}}) for s in "bc"]
    one, other, changed = tmp_path / "one.jsonl.gz", tmp_path / "other.jsonl", tmp_path / "changed.jsonl"
    append_rows(one, rows[:1])
    append_rows(one, rows[1:])  # two gzip members
    append_rows(other, rows[::-1])  # the same rows, the other way round, uncompressed
    append_rows(changed, [rows[0], TableRow(**{**rows[1].model_dump(), "scores": {}})])
    digest = read_table(one).digest
    assert len(digest) == 12 and read_table(other).digest == digest
    assert read_table(changed).digest != digest  # one score less: another table


def test_a_noop_merge_is_answered_by_the_input_it_returns(setup):
    s, table = setup, read_table(setup["path"])
    params = ACTIONS.get("linear").spec_params({"weight": 1.0})
    first = sft_spec("base", 1e-3, s["cfg"])
    m1 = ModelRef(id=first.model_id(), path="x", fingerprint=first.spec_hash(), parents=("base",), action="sft")
    ex = TableExecutor(s["path"])
    ex.run(job(s, first, {"model": s["base"], "data": s["data"]}))
    noop = ActionSpec(action="linear", inputs={"models": ["base", m1.id]}, params=params)  # all of the first
    result = ex.run(job(s, noop, {"models": (s["base"], m1)}))
    assert result.ok and result.stats["noop_of"] == BASE_SIGNATURE
    assert result.metrics == table.rows[BASE_SIGNATURE].scores["validation"] and result.timings["action_s"] == 0.0
