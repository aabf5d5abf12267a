"""The worker: runs one job in its own process (`python -m lamdagent.execution.worker JOB_DIR`).

A process per action means no GPU memory, threads or library state leak from one action to the next, and a
crash or a timeout kills only this job. Whatever happens, the worker leaves `result.json` unless it is killed.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from lamdagent.execution.job import Job, JobResult
from lamdagent.spec import ActionSpec, DatasetRef, ModelRef

log = logging.getLogger("lamdagent.worker")


def _ref(value: Any) -> ModelRef | DatasetRef | list[ModelRef]:
    if isinstance(value, list):
        return [ModelRef.model_validate(v) for v in value]
    return DatasetRef.model_validate(value) if "kind" in value else ModelRef.model_validate(value)


def _parents(inputs: dict[str, Any]) -> list[ModelRef]:
    out: list[ModelRef] = []
    for value in inputs.values():
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, ModelRef) and ref.id not in {p.id for p in out}:
                out.append(ref)
    return out


def make_model(job: Job, timings: dict[str, float], stats: dict[str, Any]) -> tuple[Path, bool]:
    """Run the action unless the store already holds its complete output; returns (path, reused)."""
    from lamdagent.actions.base import ACTIONS, ActionContext
    from lamdagent.hardware import pick_device
    from lamdagent.models.store import ModelStore

    store = ModelStore(Path(job.store_root))
    if store.is_complete(job.model_id):
        return store.path(job.model_id), True
    assert job.spec is not None
    spec = ActionSpec.model_validate(job.spec)
    action_type = ACTIONS.get(spec.action)
    inputs = {slot: _ref(v) for slot, v in job.inputs.items()}
    staging = store.staging_dir(job.model_id)
    ctx = ActionContext(
        inputs=inputs,
        params=action_type.parse_params(spec.params),
        output_dir=staging,
        device=pick_device(),
        log=log,
    )
    action_type().run(ctx)
    t0 = time.perf_counter()
    path = store.commit(job.model_id, staging, spec, _parents(inputs), action_type.relation)
    timings.update(ctx.timings)
    timings["commit_s"] = time.perf_counter() - t0
    stats.update(ctx.stats)
    return path, False


def evaluate_model(
    job: Job, path: Path, timings: dict[str, float], stats: dict[str, Any]
) -> dict[str, dict[str, dict[str, float]]]:
    """Both splits in one process, with the model loaded once."""
    from lamdagent.evaluation.evaluator import evaluate, load_model
    from lamdagent.evaluation.tasks import build_task

    t0 = time.perf_counter()
    options_base = {"data_dir": job.data_dir} if job.data_dir else {}
    tasks = [build_task(t["name"], t["source"], {**options_base, **t.get("options", {})}) for t in job.tasks]
    stats["primary_metrics"] = {t.name: t.primary_metric for t in tasks}
    model, tokenizer = load_model(path)
    timings["eval_load_s"] = time.perf_counter() - t0
    out: dict[str, dict[str, dict[str, float]]] = {}
    for split in job.splits:
        t1 = time.perf_counter()
        out[split] = evaluate(
            model,
            tasks,
            split,
            limit=job.eval.get("limit"),
            batch_size=job.eval.get("batch_size", 16),
            tokenizer=tokenizer,
            progress=True,
        )
        timings[f"eval_{split}_s"] = time.perf_counter() - t1
    return out


def run_job(job: Job) -> JobResult:
    timings: dict[str, float] = {}
    stats: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        if job.spec is None:
            path, reused = Path(job.model_path or ""), True
        else:
            path, reused = make_model(job, timings, stats)
        scores = evaluate_model(job, path, timings, stats) if job.tasks else {}
    except Exception as exc:  # noqa: BLE001 - any failure becomes a failed trial, never a crash of the caller
        traceback.print_exc()
        first = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        timings["wall_s"] = time.perf_counter() - t0
        return JobResult(ok=False, error=first[:1000], timings=timings, stats=stats)
    timings["wall_s"] = time.perf_counter() - t0
    return JobResult(
        ok=True,
        output_model=job.model_id,
        output_path=str(path),
        metrics=scores.get("validation", {}),
        test_metrics=scores.get("test", {}),
        timings=timings,
        stats=stats,
        reused_model=reused,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job_dir = Path(argv[0])
    from lamdagent.hardware import set_threads

    set_threads()
    result = run_job(Job.read(job_dir))
    result.write(job_dir)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
