"""Conformance of every plug-in registry: each plug-in declares typed options with descriptions and bounds,
every policy proposes a valid unseen action on a small view, every executor runs the same tiny job.

New plug-ins are picked up by name from `lamdagent.plugins.registries()`, so they are checked without
writing a test of their own (the way Optuna runs one suite over every sampler and storage).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from lamdagent.execution import EXECUTORS
from lamdagent.execution.job import Job
from lamdagent.plugins import describe_plugins, registries
from lamdagent.policies import POLICIES
from lamdagent.policies.base import PolicyView

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policies"))
from policy_helpers import TRAIN, ScriptedClient, finished, make_pool, make_view  # noqa: E402

NUMERIC = ("integer", "number")
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
PLUGINS = [(kind, name) for kind, registry in registries().items() for name in registry.names()]


def _numeric(prop: dict) -> bool:
    types = [prop.get("type")] + [p.get("type") for p in prop.get("anyOf", [])]
    return any(t in NUMERIC for t in types)


@pytest.mark.parametrize(("kind", "name"), PLUGINS, ids=[f"{k}:{n}" for k, n in PLUGINS])
def test_every_plugin_declares_described_and_bounded_options(kind, name):
    model = registries()[kind].options_model(name)
    assert issubclass(model, BaseModel)
    assert model.model_config.get("extra") == "forbid", f"{kind} {name}: unknown options must be errors"
    schema = model.model_json_schema()
    for option, prop in schema.get("properties", {}).items():
        if option == "backend":  # the LLM backend's own name, not an option
            continue
        assert prop.get("description"), f"{kind} {name}: option {option!r} has no description"
        flat = [prop, *prop.get("anyOf", [])]
        if _numeric(prop) and option != "seed":
            assert any(b in p for p in flat for b in BOUNDS), f"{kind} {name}: numeric option {option!r} has no bound"


def test_the_listing_shows_every_kind():
    described = describe_plugins()
    assert set(described) == {"action", "policy", "executor", "llm backend", "task source"}
    assert {"llm", "random", "greedy", "fixed"} <= set(described["policy"])
    assert {"local", "ray"} <= set(described["executor"])


def _policy(name: str, monkeypatch: pytest.MonkeyPatch):
    """Each registered policy built from its own options; LLM-driven ones get a client that always picks the
    first option (a unit test of the policy's handling, not evidence that an LLM chooses well)."""
    import lamdagent.policies.llm as llm_module

    monkeypatch.setattr(llm_module, "make_client", lambda cfg: ScriptedClient(constrained=True))
    cls = POLICIES.get(name)
    raw = {"pipeline": [{"action": TRAIN, "inputs": {"model": "base", "data": "tool_sft"}}]} if name == "fixed" else {}
    return cls.create(cls.Options.model_validate(raw), 0)


@pytest.mark.parametrize("name", POLICIES.names())
def test_every_policy_proposes_a_valid_unseen_action(name, monkeypatch):
    pool = make_pool()
    done = finished(
        pool, 1, pool.candidates().build_spec(TRAIN, {"model": "base", "data": "if_sft", "learning_rate": 1e-4}), 0.4
    )
    view: PolicyView = make_view(pool, history=[done])
    proposals = _policy(name, monkeypatch).propose(view, 1)
    assert len(proposals) == 1, f"{name} proposed nothing on a fresh view"
    spec = proposals[0].spec
    rebuilt = view.candidates.build_spec(
        spec.action, {**spec.inputs, **{k: spec.params[k] for k in pool.grids.get(spec.action, {})}}
    )
    assert rebuilt.spec_hash() == spec.spec_hash()  # a valid choice of the candidates
    assert spec.spec_hash() not in view.seen_hashes  # never one already tried


@pytest.mark.parametrize("name", [n for n in EXECUTORS.names() if n != "ray"])
def test_every_executor_runs_the_same_tiny_job(name, tmp_path):
    """An evaluation-only job with no task: the worker starts, writes its result, and the executor returns it."""
    cls = EXECUTORS.get(name)
    executor = cls.create(cls.Options(parallel=1, timeout_s=120))
    job = Job(
        trial_id=None,
        job_dir=str(tmp_path / "job"),
        store_root=str(tmp_path / "models"),
        spec=None,
        model_id="base",
        model_path=str(tmp_path),
    )
    try:
        result = executor.run(job)
    finally:
        executor.shutdown()
    assert result.ok, result.error
    assert result.output_model == "base" and result.metrics == {} and result.timings["wall_s"] > 0
