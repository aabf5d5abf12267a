"""The worker: runs one job in its own process (`python -m lamdagent.execution.worker JOB_DIR`).

A process per action means no GPU memory, threads or library state leak from one action to the next, and a
crash or a timeout kills only this job. Whatever happens, the worker leaves `result.json` unless it is killed.
Under `accelerate launch` (several GPUs for one action) every process trains, but only the main one commits,
evaluates and writes `result.json` (see `launch.py`).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from lamdagent.execution.job import Job, JobResult
from lamdagent.execution.launch import Role, die_with_parent, process_role

MAIN = Role()

log = logging.getLogger("lamdagent.worker")


def trains_together(job: Job) -> bool:
    """Whether every process of a distributed launch takes part in this job: training actions only.

    Merges and evaluation-only jobs run in the main process alone; the others have nothing to do.
    """
    from lamdagent.actions.base import ACTIONS
    from lamdagent.models.store import ModelStore

    if job.spec is None or ModelStore(Path(job.store_root)).is_complete(job.model_id):
        return False
    return ACTIONS.get(job.spec.action).relation == "finetune"


def make_model(job: Job, timings: dict[str, float], stats: dict[str, Any], role: Role = MAIN) -> tuple[Path, bool]:
    """Run the action unless the store already holds its complete output; returns (path, reused).

    A process other than the main one trains into a scratch directory that it removes; it never commits.
    """
    from lamdagent.actions.base import ACTIONS, ActionContext
    from lamdagent.hardware import pick_device
    from lamdagent.models.store import ModelStore

    store = ModelStore(Path(job.store_root))
    if store.is_complete(job.model_id):
        return store.path(job.model_id), True
    spec = job.spec
    if spec is None:
        raise ValueError("an evaluation-only job makes no model")
    action_type = ACTIONS.get(spec.action)
    inputs = {slot: list(v) if isinstance(v, tuple) else v for slot, v in job.inputs.items()}
    if role.is_main:
        staging = store.staging_dir(job.model_id)
    else:
        staging = Path(tempfile.mkdtemp(prefix=f"lamdagent-rank{role.rank}-"))
    ctx = ActionContext(
        inputs=inputs,
        params=action_type.parse_params(spec.params),
        output_dir=staging,
        device=pick_device(),
        log=log,
    )
    try:
        action_type().run(ctx)
    finally:
        if not role.is_main:
            shutil.rmtree(staging, ignore_errors=True)
    if not role.is_main:
        return staging, False
    t0 = time.perf_counter()
    path = store.commit(job.model_id, staging, spec, job.parents(), action_type.relation)
    timings.update(ctx.timings)
    timings["commit_s"] = time.perf_counter() - t0
    stats.update(ctx.stats)
    return path, False


def evaluate_model(
    job: Job, path: Path, timings: dict[str, float], stats: dict[str, Any]
) -> dict[str, dict[str, dict[str, float]]]:
    """The job's splits in one process, with the model loaded once. `stats` gets each task's item count per
    split (scores on a few dozen items move by whole items: the count gives their interval), each item's
    0/1 verdict where the task judges single items (a table of outcomes resamples them), and a few answers per
    task, so a reader can see what the model actually wrote."""
    from lamdagent.evaluation.evaluator import evaluate_detailed, load_model
    from lamdagent.evaluation.tasks import build_task

    t0 = time.perf_counter()
    options_base = {"data_dir": job.data_dir} if job.data_dir else {}
    tasks = [build_task(t.name, t.source, {**options_base, **t.options}) for t in job.tasks]
    stats["primary_metrics"] = {t.name: t.primary_metric for t in tasks}
    model, tokenizer = load_model(path)
    timings["eval_load_s"] = time.perf_counter() - t0
    out: dict[str, dict[str, dict[str, float]]] = {}
    items: dict[str, dict[str, int]] = {}
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {}
    verdicts: dict[str, dict[str, list[int]]] = {}
    info: dict[str, dict[str, dict[str, float]]] = {}
    for split in job.splits:
        t1 = time.perf_counter()
        report = evaluate_detailed(
            model,
            tasks,
            split,
            limit=job.eval.limit,
            batch_size=job.eval.batch_size,
            tokenizer=tokenizer,
            progress=True,
        )
        out[split] = report.metrics()
        items[split] = {name: r.items for name, r in report.tasks.items()}
        samples[split] = {name: r["samples"] for name, r in report.to_dict()["tasks"].items()}
        verdicts[split] = {name: [int(v) for v in r.verdicts] for name, r in report.tasks.items() if r.verdicts}
        info[split] = {name: dict(r.info) for name, r in report.tasks.items() if r.info}
        timings[f"eval_{split}_s"] = time.perf_counter() - t1
    stats["items"], stats["samples"], stats["verdicts"] = items, samples, verdicts
    if any(info.values()):
        stats["task_info"] = info
    return out


def _release(stats: dict[str, Any]) -> None:
    """Free the action's memory before evaluation loads the model again; record what that bought."""
    from lamdagent.hardware import release_memory, rss_mb

    before = rss_mb()
    release_memory()
    stats["peak_rss_mb"] = round(before["peak"])
    if "now" in before:
        stats["rss_after_action_mb"] = round(before["now"])
        stats["rss_after_release_mb"] = round(rss_mb()["now"])


def _worker_stats(started: float) -> dict[str, Any]:
    """Where and when this job ran (wall-clock times), so overlapping trials can be checked afterwards."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started_at": started, "finished_at": time.time()}


def run_job(job: Job) -> JobResult:
    timings: dict[str, float] = {}
    stats: dict[str, Any] = {}
    started = time.time()
    t0 = time.perf_counter()
    try:
        if job.spec is None:
            path, reused = Path(job.model_path or ""), True
        else:
            path, reused = make_model(job, timings, stats)
            if not reused:
                _release(stats)
        scores = evaluate_model(job, path, timings, stats) if job.tasks else {}
    except Exception as exc:  # noqa: BLE001 - any failure becomes a failed trial, never a crash of the caller
        traceback.print_exc()
        first = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        timings["wall_s"] = time.perf_counter() - t0
        stats["worker"] = _worker_stats(started)
        return JobResult(ok=False, error=first[:1000], timings=timings, stats=stats)
    timings["wall_s"] = time.perf_counter() - t0
    stats["worker"] = _worker_stats(started)
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


def run_helper(job: Job, role: Role) -> int:
    """A non-main process of a distributed launch: train alongside the main one if the action trains, then exit.

    It writes no result; an exception propagates, so the launcher sees the failure and stops the others.
    """
    if trains_together(job):
        make_model(job, {}, {}, role)
        log.info("trained alongside the main process; it commits and evaluates")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    role = process_role()
    if role.distributed:
        die_with_parent()  # the launcher is our parent: if it is killed, so are we
    where = f"[rank {role.rank}]" if role.distributed else ""
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s %(name)s{where}: %(message)s",
    )
    job_dir = Path(argv[0])
    from lamdagent.hardware import set_threads

    set_threads()
    job = Job.read(job_dir)
    if not role.is_main:
        return run_helper(job, role)
    result = run_job(job)
    result.write(job_dir)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
