"""Copy a run's trials into an experiment tracker (MLflow, Trackio or Weights & Biases), one tracked run each.

Trackers are optional and heavy, so each is imported only when asked for. The ledger stays the source of
truth; this is a one-way copy for teams whose dashboards already live in a tracker. Each run carries the
trial's parameters, its validation and test metrics flattened as `val/<task>/<metric>`, and lineage tags
(parents, action, spec hash) so a model's ancestry can be followed inside the tracker too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.runinfo import RunInfo, finite, load_run

INSTALL = {
    "mlflow": "pip install 'lamdagent[trackers]' (or mlflow)",
    "trackio": "pip install trackio",
    "wandb": "pip install wandb",
}
OPTIONS = {
    "mlflow": ("tracking_uri", "experiment"),
    "trackio": ("project",),
    "wandb": ("project", "entity", "mode", "dir"),
}
MAX_TAG_CHARS = 500


@dataclass(frozen=True)
class TrackedTrial:
    """One trial as a tracker sees it: flat string params, float metrics and string tags."""

    key: str  # stable across exports: "<run dir name>/trial-<id>"
    name: str
    state: str
    step: int
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    started_at: float
    finished_at: float | None


def _flat(prefix: str, metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        f"{prefix}/{task}/{name}": float(value)
        for task, values in metrics.items()
        for name, value in values.items()
        if finite(value)
    }


def tracked_trials(run: RunInfo) -> list[TrackedTrial]:
    """Finished and failed trials (running ones are skipped until they end) in tracker form."""
    out: list[TrackedTrial] = []
    for t in run.trials:
        if t.state == "running":
            continue
        params = {"action": t.action, "iteration": str(t.iteration), "spec_hash": t.spec_hash}
        for slot, value in t.spec.inputs.items():
            params[f"input.{slot}"] = ",".join(value) if isinstance(value, list | tuple) else str(value)
        params.update({f"param.{k}": str(v) for k, v in t.spec.params.items()})
        metrics = {**_flat("val", t.metrics), **_flat("test", t.test_metrics)}
        if finite(t.score):
            metrics["val/score"] = float(t.score)
        if t.finished_at is not None:
            metrics["wall_s"] = max(0.0, t.finished_at - t.started_at)
        metrics["llm_tokens"] = float(t.llm_tokens)
        tags = {
            "lamdagent.run": run.run_dir.name,
            "lamdagent.trial_id": str(t.id),
            "lamdagent.action": t.action,
            "lamdagent.spec_hash": t.spec_hash,
            "lamdagent.parents": ",".join(run.parents(t.spec)),
            "lamdagent.state": t.state,
            "lamdagent.cached": str(t.cached).lower(),
            "lamdagent.fallback": str(t.fallback).lower(),
        }
        if t.output_model:
            tags["lamdagent.output_model"] = t.output_model
        if t.error:
            tags["lamdagent.error"] = t.error[:MAX_TAG_CHARS]
        key = f"{run.run_dir.name}/trial-{t.id}"
        tags["lamdagent.key"] = key
        out.append(
            TrackedTrial(
                key=key,
                name=f"trial-{t.id}-{t.action}",
                state=t.state,
                step=t.iteration,
                params=params,
                metrics=metrics,
                tags=tags,
                started_at=t.started_at,
                finished_at=t.finished_at,
            )
        )
    return out


def _import(tracker: str) -> ModuleType:
    try:
        return importlib.import_module(tracker)
    except ImportError:
        raise LamdagentError(f"tracker {tracker!r} is not installed; run `{INSTALL[tracker]}`") from None


def _mlflow(
    items: list[TrackedTrial], run_name: str, tracking_uri: str | None = None, experiment: str | None = None
) -> int:
    """Client API, not the fluent one, so no global tracking URI or active run is left behind."""
    _import("mlflow")
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    name = experiment or f"lamdagent-{run_name}"
    try:  # the store opens here: a bad or refused tracking URI fails now, in one line
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(name)
        exp_id = found.experiment_id if found else client.create_experiment(name)
    except MlflowException as exc:
        raise LamdagentError(f"mlflow tracking_uri {tracking_uri!r}: {' '.join(str(exc).split())}") from None
    done: set[str] = set()
    token = None
    while True:  # trials exported before are skipped, so exporting again only adds new ones
        page = client.search_runs([exp_id], max_results=1000, page_token=token)
        done |= {r.data.tags.get("lamdagent.key", "") for r in page}
        token = page.token
        if not token:
            break
    written = 0
    for item in items:
        if item.key in done:
            continue
        start = int(item.started_at * 1000)
        end = int((item.finished_at or item.started_at) * 1000)
        run = client.create_run(exp_id, start_time=start, tags=item.tags, run_name=item.name)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, end, item.step) for k, v in item.metrics.items()],
            params=[Param(k, v) for k, v in item.params.items()],
        )
        client.set_terminated(run.info.run_id, "FINISHED" if item.state == "finished" else "FAILED", end_time=end)
        written += 1
    return written


def _trackio(items: list[TrackedTrial], run_name: str, project: str | None = None) -> int:
    trackio = _import("trackio")
    for item in items:  # Trackio has no tags: lineage goes into the run config
        trackio.init(project=project or f"lamdagent-{run_name}", name=item.name, config={**item.params, **item.tags})
        trackio.log(item.metrics)
        trackio.finish()
    return len(items)


def _wandb(
    items: list[TrackedTrial],
    run_name: str,
    project: str | None = None,
    entity: str | None = None,
    mode: str | None = None,
    dir: str | None = None,
) -> int:
    wandb = _import("wandb")
    for item in items:
        tags = [
            f"{k.removeprefix('lamdagent.')}:{v}"[:64]
            for k, v in item.tags.items()
            if k in ("lamdagent.action", "lamdagent.state", "lamdagent.spec_hash")
        ]
        run = wandb.init(
            project=project or f"lamdagent-{run_name}",
            entity=entity,
            mode=mode,
            dir=dir,
            name=item.name,
            group=run_name,
            tags=tags,
            config={**item.params, **item.tags},
        )
        run.log(item.metrics)
        run.finish(exit_code=0 if item.state == "finished" else 1)
    return len(items)


_BACKENDS: dict[str, Callable[..., int]] = {"mlflow": _mlflow, "trackio": _trackio, "wandb": _wandb}


def export_trials(run_dir: str | Path, tracker: str, **opts: Any) -> int:
    """Write one tracked run per ended trial; returns how many runs were written."""
    if tracker not in _BACKENDS:
        raise LamdagentError(f"unknown tracker {tracker!r}; choose one of {', '.join(_BACKENDS)}")
    unknown = sorted(set(opts) - set(OPTIONS[tracker]))
    if unknown:
        raise LamdagentError(
            f"tracker {tracker!r}: unknown option {unknown[0]!r}; it takes {', '.join(OPTIONS[tracker])}"
        )
    run = load_run(run_dir)
    items = tracked_trials(run)
    return _BACKENDS[tracker](items, run.run_dir.name, **{k: v for k, v in opts.items() if v is not None})
