"""Read-only views of a run directory: the best trial, model lineage and the pipeline that built a model.

The report, `export`, `status` and `replay` all need the same answers ("which model is best", "what did it
descend from", "which steps rebuild it"); they live here once, computed from the ledger and nothing else.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import bootstrap_interval, primary_value
from lamdagent.evaluation.objective import Objective, objective_from_config
from lamdagent.ledger import Ledger, TrialRecord
from lamdagent.spec import ActionSpec

STEP_REF = "$"  # `$k` in a replayable pipeline: the model produced by step k (1-based)


@dataclass(frozen=True)
class BaseModelInfo:
    """An initial model of the run, with its evaluation before any action."""

    id: str
    name: str
    path: str = ""
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    test_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    score: float | None = None


@dataclass(frozen=True)
class ModelNode:
    """A model in the lineage graph: a base, or the output of the first finished trial that produced it."""

    id: str
    parents: tuple[str, ...]
    depth: int
    score: float | None
    trial: TrialRecord | None = None  # None for a base
    base: BaseModelInfo | None = None

    @property
    def label(self) -> str:
        return self.base.name if self.base else self.id


def finite(value: float | None) -> TypeGuard[float]:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def feasible(score: float | None) -> TypeGuard[float]:
    """Whether a score meets the run's constraints: the objective scores a model that breaks one below -1."""
    return finite(score) and float(score) >= -1.0


def _as_list(value: str | list[str] | tuple[str, ...]) -> list[str]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _base_entries(meta: Any) -> dict[str, dict[str, Any]]:
    """`base` meta as {model_id: entry}; it may be one entry, a list of entries or a mapping by id."""
    if not meta:
        return {}
    if isinstance(meta, dict) and "model_id" in meta:
        return {str(meta["model_id"]): meta}
    if isinstance(meta, dict):
        return {str(k): {**v, "model_id": k} for k, v in meta.items() if isinstance(v, dict)}
    return {str(e["model_id"]): e for e in meta if isinstance(e, dict) and "model_id" in e}


@dataclass
class RunInfo:
    """Everything the ledger knows about a run, loaded once; every query below is pure Python."""

    run_dir: Path
    config: dict[str, Any]
    trials: list[TrialRecord]
    bases: dict[str, BaseModelInfo]
    memory_versions: list[dict[str, Any]]
    primary_metrics: dict[str, str] = field(default_factory=dict)
    llm_tokens: int = 0
    decisions: dict[int, dict[str, Any]] = field(default_factory=dict)  # trial id -> how the agent chose it
    # model id -> split -> task -> figures that are not metrics (an LLM judge's alpha, calls, tokens, seconds)
    task_info: dict[str, dict[str, dict[str, dict[str, float]]]] = field(default_factory=dict)
    # model id -> task -> 0/1 per test item, in item order (the bases and the models scored on test)
    test_verdicts: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    # -- tasks and scores ---------------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.run_dir / "models"

    def task_names(self) -> list[str]:
        """Tasks in config order; tasks seen only in metrics follow (a run with no config still reports)."""
        names = [t["name"] for t in self.config.get("tasks") or [] if isinstance(t, dict) and "name" in t]
        for metrics in [t.metrics for t in self.trials] + [b.metrics for b in self.bases.values()]:
            names += [n for n in metrics if n not in names]
        return names

    def task_weights(self) -> dict[str, float]:
        tasks = [t for t in self.config.get("tasks") or [] if isinstance(t, dict) and "name" in t]
        return {t["name"]: float(t.get("weight", 1.0)) for t in tasks}

    @cached_property
    def objective(self) -> Objective | None:
        """The run's objective rebuilt from its config, as the loop built it; None if the config lacks one."""
        try:
            return objective_from_config(self.config, self.primary_metrics)
        except (LamdagentError, ValueError, TypeError):
            return None

    def objective_text(self) -> str:
        """The goal in the words the agent saw."""
        return self.objective.describe() if self.objective else "maximise the objective score"

    def test_score(self, test_metrics: dict[str, dict[str, float]]) -> float | None:
        """The objective on test metrics, relative bounds measured against the first base model's test metrics
        (as the loop does on validation); None when the metrics cannot be scored."""
        if self.objective is None or not test_metrics:
            return None
        reference = next(iter(self.bases.values())).test_metrics if self.bases else None
        try:
            return self.objective.score(test_metrics, reference=reference).score
        except LamdagentError:
            return None

    def task_value(self, metrics: dict[str, dict[str, float]], task: str) -> float | None:
        """A task's primary metric in a metrics mapping (None when the task was not scored)."""
        return primary_value(metrics.get(task), self.primary_metrics.get(task))

    def test_gains(self, model_id: str) -> dict[str, dict[str, float | None]]:
        """Per task, what the model gained over the first base on test, with a paired 95% bootstrap interval
        over the same items (`mean`, `low`, `high`, `n`). Only for tasks whose test numbers the verdicts give
        back for both models (a share of items right), so the interval is about the number shown."""
        base = next(iter(self.bases.values()), None)
        trial = self._producers.get(model_id)
        if base is None or trial is None:
            return {}
        theirs = self.test_verdicts.get(base.id, {})
        out: dict[str, dict[str, float | None]] = {}
        for task, mine in self.test_verdicts.get(model_id, {}).items():
            other = theirs.get(task) or []
            a, b = self.task_value(trial.test_metrics, task), self.task_value(base.test_metrics, task)
            if not mine or len(mine) != len(other) or a is None or b is None:
                continue
            if abs(sum(mine) / len(mine) - a) > 1e-9 or abs(sum(other) / len(other) - b) > 1e-9:
                continue
            out[task] = bootstrap_interval([x - y for x, y in zip(mine, other, strict=True)], resamples=5000)
        return out

    # -- trials and models --------------------------------------------------------------------------
    def finished(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state == "finished" and t.output_model]

    def trial(self, trial_id: int) -> TrialRecord:
        for t in self.trials:
            if t.id == trial_id:
                return t
        raise LamdagentError(f"trial {trial_id} is not in {self.run_dir}; `lamdagent status` lists the trials")

    def best_trial(self) -> TrialRecord | None:
        """The finished trial with the highest validation score; the earliest wins a tie."""
        scored = [t for t in self.finished() if finite(t.score)]
        return max(scored, key=lambda t: (t.score, -t.id)) if scored else None

    def producers(self) -> dict[str, TrialRecord]:
        """Model id -> the first finished trial that produced it (later ones were cache hits)."""
        return dict(self._producers)

    @cached_property
    def _producers(self) -> dict[str, TrialRecord]:
        out: dict[str, TrialRecord] = {}
        for t in self.finished():
            out.setdefault(str(t.output_model), t)
        return out

    @cached_property
    def _model_ids(self) -> frozenset[str]:
        return frozenset(self.bases) | frozenset(self._producers)

    def parents(self, spec: ActionSpec) -> list[str]:
        """Model ids among a spec's inputs, in slot order, each once (datasets are not parents)."""
        known = self._model_ids
        out: list[str] = []
        for value in spec.inputs.values():
            out += [i for i in _as_list(value) if i in known and i not in out]
        return out

    def nodes(self) -> dict[str, ModelNode]:
        """Every model of the run with its parents and generation depth (bases are depth 0)."""
        return dict(self._nodes)

    @cached_property
    def _nodes(self) -> dict[str, ModelNode]:
        nodes: dict[str, ModelNode] = {
            b.id: ModelNode(id=b.id, parents=(), depth=0, score=b.score, base=b) for b in self.bases.values()
        }
        pending = dict(self._producers)
        while pending:  # producers finish after their parents, but resolve by readiness, not by id
            ready = {m: t for m, t in pending.items() if all(p in nodes for p in self.parents(t.spec))}
            if not ready:  # a parent missing from the ledger: attach what is left at depth 1
                ready = pending
            for model_id, t in sorted(ready.items(), key=lambda kv: kv[1].id):
                parents = tuple(self.parents(t.spec))
                depth = 1 + max((nodes[p].depth for p in parents if p in nodes), default=0)
                nodes[model_id] = ModelNode(id=model_id, parents=parents, depth=depth, score=t.score, trial=t)
                del pending[model_id]
        return nodes

    def lineage(self, model_id: str) -> list[str]:
        """The model and all its ancestors, parents before children (a valid build order)."""
        nodes = self._nodes
        if model_id not in nodes:
            raise LamdagentError(f"model {model_id!r} is not a finished model of {self.run_dir}")
        order: list[str] = []

        def visit(m: str) -> None:
            if m in order or m not in nodes:
                return
            for p in nodes[m].parents:
                visit(p)
            order.append(m)

        visit(model_id)
        return order

    def pipeline(self, model_id: str) -> list[ActionSpec]:
        """The specs that build `model_id` from the base models, in build order."""
        producers = self._producers
        return [producers[m].spec for m in self.lineage(model_id) if m in producers]

    def pipeline_steps(self, model_id: str) -> list[dict[str, Any]]:
        """The pipeline as `fixed`-policy steps: `$k` for step k's output; bases and datasets keep their pool ids
        (a config with the same `base_models` gives the bases the same ids)."""
        return self.build_steps([model_id])[0]

    def build_steps(self, model_ids: list[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Steps that build every given model, shared ancestors once; also model id -> its step number."""
        producers = self._producers
        refs: dict[str, str] = {}
        numbers: dict[str, int] = {}
        steps: list[dict[str, Any]] = []
        for m in [m for mid in model_ids for m in self.lineage(mid)]:
            if m not in producers or m in numbers:
                continue
            spec = producers[m].spec
            inputs: dict[str, Any] = {}
            for slot, value in spec.inputs.items():
                mapped = [refs.get(i, i) for i in _as_list(value)]
                inputs[slot] = mapped if isinstance(value, list | tuple) else mapped[0]
            steps.append({"action": spec.action, "inputs": inputs, "params": dict(spec.params)})
            numbers[m] = len(steps)
            refs[m] = f"{STEP_REF}{len(steps)}"
        return steps, numbers

    def root_bases(self, model_id: str) -> list[BaseModelInfo]:
        return [self.bases[m] for m in self.lineage(model_id) if m in self.bases]

    def pipeline_yaml(self, model_id: str) -> str:
        """Config YAML that replays the pipeline: the run's `base_models` (which fix the bases' ids) and a
        `fixed` policy with the steps."""
        doc = {
            "base_models": [b.name for b in self.bases.values()],
            "policy": {"name": "fixed", "pipeline": self.pipeline_steps(model_id)},
        }
        return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)


def answer_samples(run_dir: Path, job: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The answers a job's evaluation kept (split -> task -> samples: prompt, output, reference, correct), read
    from its `result.json`; empty when the job kept none (runs made before samples were kept)."""
    path = run_dir / "jobs" / job / "result.json"
    try:
        stats = json.loads(path.read_text()).get("stats") or {}
    except (OSError, ValueError):
        return {}
    samples = stats.get("samples")
    return samples if isinstance(samples, dict) else {}


def load_run(run_dir: str | Path) -> RunInfo:
    """Load a run directory; an error names the directory when it holds no ledger."""
    from lamdagent.rundir import open_existing

    run_dir = open_existing(run_dir)  # names the directory when it holds no run, or a ledger SQLite cannot read
    with Ledger(run_dir) as ledger:
        return run_info(ledger)


def run_info(ledger: Ledger) -> RunInfo:
    """The view of a run through a ledger that is already open (the loop's own: no second connection)."""
    run_dir = ledger.run_dir
    config = ledger.get_meta("config") or {}
    scored = _base_entries(ledger.get_meta("base"))
    bases: dict[str, BaseModelInfo] = {}
    for entry in ledger.get_meta("base_models") or []:
        s = scored.get(str(entry["id"]), {})
        bases[str(entry["id"])] = BaseModelInfo(
            id=str(entry["id"]),
            name=str(entry.get("name") or entry["id"]),
            path=str(entry.get("path") or ""),
            metrics=s.get("metrics") or {},
            test_metrics=s.get("test_metrics") or {},
            score=s.get("score"),
        )
    for model_id, s in scored.items():  # scored but not listed: still a base
        if model_id not in bases:
            bases[model_id] = BaseModelInfo(
                id=model_id,
                name=model_id,
                metrics=s.get("metrics") or {},
                test_metrics=s.get("test_metrics") or {},
                score=s.get("score"),
            )
    return RunInfo(
        run_dir=run_dir,
        config=config if isinstance(config, dict) else {},
        trials=ledger.trials(),
        bases=bases,
        memory_versions=ledger.memory_versions(),
        primary_metrics=ledger.get_meta("primary_metrics") or {},
        llm_tokens=ledger.total_llm_tokens(),
        decisions={e["trial_id"]: e["payload"] for e in ledger.events("decision") if e["trial_id"] is not None},
        task_info=_task_info(ledger.events("task_info")),
        test_verdicts={e["payload"]["model"]: e["payload"]["test"] for e in ledger.events("test_verdicts")},
    )


def _task_info(events: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """Model -> split -> task -> figures, merged over the events (a model's test figures may come later)."""
    out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for e in events:
        payload = e["payload"]
        splits = out.setdefault(payload["model"], {})
        for split, tasks in payload.items():
            if split != "model":
                splits.setdefault(split, {}).update(tasks)
    return out
