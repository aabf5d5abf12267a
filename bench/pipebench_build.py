"""Build the PipeBench table: every pipeline of a declared space, trained and scored once.

    python bench/pipebench_build.py                       # benchmarks/pipebench-space.yaml -> the table
    python bench/pipebench_build.py --limit 1             # a smoke test: the base and one pipeline
    python bench/pipebench_build.py --dry-run             # list the pipelines, run nothing

The pipelines (`lamdagent.benchmarks.space.enumerate_pipelines`: to depth 2, one per signature) run through the
real `Loop` as one `fixed`-policy pipeline in `--run-dir`, so the build is resumable from its ledger: run the
same command again after a crash and it continues (`$k` steps whose input failed are skipped). Each finished
trial is appended to the table at once (an atomic rewrite: the file is a valid table at every moment), and a
restart first appends any finished trial the table lacks.

Per-item correctness: the worker writes each item's 0/1 verdict into its `result.json` (`stats.verdicts`), and
each row keeps them so the arena can resample evaluation noise.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EVAL_KEYS = ("eval_load_s", "eval_validation_s", "eval_test_s")
VERSIONED = ("lamdagent", "torch", "transformers", "trl", "peft", "mergekit", "accelerate")


# -- rows ------------------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import torch

        out["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    except ImportError:
        pass
    return out


def read_items(job_dir: Path) -> dict[str, dict[str, list[float]]]:
    """Each task's per-item verdicts per split, as the worker wrote them into the job's `result.json`."""
    from lamdagent.execution.job import JobResult

    try:
        result = JobResult.read(job_dir)
    except (OSError, ValueError):  # unreadable, or not a result (pydantic's errors are ValueErrors)
        return {}
    verdicts = result.stats.get("verdicts", {}) if result else {}
    return {
        split: {task: [float(v) for v in values] for task, values in tasks.items()} for split, tasks in verdicts.items()
    }


def seconds(timings: dict[str, float]) -> dict[str, float]:
    """Action and evaluation seconds of a trial from the worker's timings."""
    eval_s = sum(float(timings.get(k, 0.0)) for k in EVAL_KEYS)
    wall = float(timings.get("wall_s", eval_s))
    return {"action": round(max(0.0, wall - eval_s), 3), "eval": round(eval_s, 3)}


def peak_mb(timings: dict[str, float]) -> float | None:
    if "peak_rss_gb" in timings:
        return round(float(timings["peak_rss_gb"]) * 1000, 1)
    return float(timings["peak_rss_mb"]) if "peak_rss_mb" in timings else None


def make_row(pipeline: Any, validation: Any, test: Any, timings: dict[str, float], job_dir: Path) -> Any:
    from lamdagent.benchmarks.table import TableRow

    return TableRow(
        signature=pipeline.signature,
        parents=list(pipeline.parents),
        depth=pipeline.depth,
        action=pipeline.action,
        params=pipeline.params,
        scores={"validation": validation, "test": test},
        items=read_items(job_dir),
        seconds=seconds(timings) if pipeline.depth else {"action": 0.0, "eval": seconds(timings)["eval"]},
        peak_rss_mb=peak_mb(timings),
        versions=versions(),
    )


class Builder:
    """Appends the table rows of a build run's trials as they finish (and any the table lacks)."""

    def __init__(self, table_path: Path, header: Any, pipelines: list[Any], run_dir: Path) -> None:
        from lamdagent.benchmarks.table import read_table

        self.table_path = table_path
        self.header = header
        self.by_signature = {p.signature: p for p in pipelines}
        self.run_dir = run_dir
        self.done = set(read_table(table_path).rows) if table_path.is_file() else set()
        self.appended = 0

    def append(self, row: Any) -> None:
        from lamdagent.benchmarks.table import append_rows

        if row.signature in self.done:
            return
        append_rows(self.table_path, [row], self.header)
        self.done.add(row.signature)
        self.appended += 1

    def catch_up(self, primary: dict[str, str]) -> None:
        """Rows for the base and every finished trial of the ledger that the table lacks."""
        from lamdagent.runinfo import load_run
        from lamdagent.signature import base_signature, signatures_of_run

        self.header.primary_metrics = dict(primary)
        run = load_run(self.run_dir)
        bases = {mid: base_signature(b.name) for mid, b in run.bases.items()}
        for mid, b in run.bases.items():
            p = self.by_signature.get(bases[mid])
            if p is not None and b.metrics:
                timings = self._base_timings(mid)
                self.append(make_row(p, b.metrics, b.test_metrics, timings, self.run_dir / "jobs" / f"eval-{mid}"))
        _, by_trial = signatures_of_run(run.trials, bases)
        for t in run.trials:
            p = self.by_signature.get(by_trial.get(t.id) or "")
            if t.state == "finished" and not t.cached and p is not None:
                job_dir = self.run_dir / "jobs" / f"trial-{t.id:04d}"
                self.append(make_row(p, t.metrics, t.test_metrics, t.timings, job_dir))

    def _base_timings(self, model_id: str) -> dict[str, float]:
        from lamdagent.ledger import Ledger

        with Ledger(self.run_dir) as ledger:
            entry = (ledger.get_meta("base") or {}).get(model_id, {})
        return dict(entry.get("timings") or {})


def observer(builder: Builder) -> Any:
    """A run observer that appends rows as the loop reports, and prints one line per trial."""
    from lamdagent.observer import RunObserver

    class BuildObserver(RunObserver):
        def __init__(self) -> None:
            self.t0 = time.time()

        def bases(self, entries: dict[str, dict[str, Any]], primary: dict[str, str]) -> None:
            builder.catch_up(primary)
            print(f"initial model scored; table has {len(builder.done)} rows", flush=True)

        def launched(self, trial: Any, text: str) -> None:
            print(f"[{trial.iteration}] {text}", flush=True)

        def ended(self, trial: Any, best: Any, budget: str, primary: dict[str, str]) -> None:
            builder.catch_up(primary)
            took = trial.timings.get("wall_s", 0.0)
            what = f"score {trial.score:.3f}" if trial.state == "finished" else f"FAILED: {trial.error}"
            print(
                f"[{trial.iteration}] {what} in {took:.0f} s; table {len(builder.done)} rows; "
                f"{time.time() - self.t0:.0f} s so far",
                flush=True,
            )

    return BuildObserver()


# -- the build -------------------------------------------------------------------------------------------
def steps_of(pipelines: list[Any], base_ids: list[str]) -> list[dict[str, Any]]:
    """The pipelines (initial models left out) as `fixed`-policy steps; `$k` names step k's model."""
    ref: dict[int, str] = {i: base_ids[i] for i, p in enumerate(pipelines) if p.depth == 0}
    steps = []
    for p in pipelines:
        if p.depth == 0:
            continue
        inputs: dict[str, Any] = {}
        for slot, value in p.inputs.items():
            if isinstance(value, str):
                inputs[slot] = value
            elif isinstance(value, tuple):
                inputs[slot] = [ref[i] for i in value]
            else:
                inputs[slot] = ref[value]
        steps.append({"action": p.action, "inputs": inputs, "params": p.params})
        ref[p.index] = f"${len(steps)}"
    return steps


def needed(pipelines: list[Any], have: set[str]) -> list[Any]:
    """The pipelines a table lacks, with every pipeline they take as an input (in the enumeration's order, which
    puts inputs first), re-indexed so that `inputs` point into the returned list."""
    from dataclasses import replace

    keep: set[int] = set()
    todo = [p.index for p in pipelines if p.signature not in have and p.depth > 0]
    while todo:
        i = todo.pop()
        if i in keep:
            continue
        keep.add(i)
        for value in pipelines[i].inputs.values():
            if not isinstance(value, str):
                todo += list(value) if isinstance(value, tuple) else [value]
    keep |= {p.index for p in pipelines if p.depth == 0}
    old_to_new = {old: new for new, old in enumerate(sorted(keep))}

    def moved(value: Any) -> Any:
        if isinstance(value, str):
            return value
        return tuple(old_to_new[v] for v in value) if isinstance(value, tuple) else old_to_new[value]

    return [
        replace(p, index=old_to_new[p.index], inputs={k: moved(v) for k, v in p.inputs.items()})
        for p in pipelines
        if p.index in keep
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default=str(REPO / "benchmarks" / "pipebench-space.yaml"))
    p.add_argument("--table", default=str(REPO / "benchmarks" / "pipebench-smollm2.jsonl.gz"))
    p.add_argument("--run-dir", default=str(REPO / "runs" / "pipebench-build"))
    p.add_argument("--max-depth", type=int, default=2)
    p.add_argument("--merge-base", choices=["initial", "any"], default="initial")
    p.add_argument("--limit", type=int, help="run at most this many more pipelines (a smoke test: 1)")
    p.add_argument("--parallel", type=int, default=1, help="trials at once")
    p.add_argument("--dry-run", action="store_true", help="list the pipelines and exit")
    args = p.parse_args(argv)

    from lamdagent.benchmarks.space import enumerate_pipelines
    from lamdagent.benchmarks.table import TableHeader
    from lamdagent.config import RunConfig, load_config
    from lamdagent.context import base_ids
    from lamdagent.ledger import Ledger
    from lamdagent.loop import Loop

    space = load_config(args.space)
    kinds = {d.name: d.kind for d in space.datasets}
    pipelines = enumerate_pipelines(
        space.base_models, kinds, space.actions, space.grids, space.params, args.max_depth, args.merge_base
    )
    steps = steps_of(pipelines, base_ids(space.base_models))
    if args.dry_run:
        for pl in pipelines:
            print(pl.depth, pl.signature)
        print(f"{len(pipelines)} pipelines ({len(steps)} trials and {len(space.base_models)} initial models)")
        return 0
    run_dir = Path(args.run_dir)
    resume = (run_dir / Ledger.FILENAME).is_file()
    all_pipelines = pipelines
    if Path(args.table).is_file():
        # build only the pipelines the table lacks, and the ones those need as inputs. On a resume too: the
        # `fixed` policy matches steps to finished trials by their spec, so an input this run dir has already
        # trained is not trained again, and a row that another run added meanwhile is not built twice.
        from lamdagent.benchmarks.table import read_table

        have = set(read_table(args.table).rows)
        pipelines = needed(pipelines, have)
        steps = steps_of(pipelines, base_ids(space.base_models))
        print(f"the table has {len(have)} rows: at most {len(steps)} trials to run, inputs included")
        if not steps:
            print(f"the table {args.table} holds every pipeline of the space")
            return 0
    used = 0
    if resume:
        with Ledger(run_dir) as ledger:
            used = len(ledger.counted_trials())
    # trials already in the ledger count against the budget; the policy stops by itself when every step is done
    budget = used + (len(steps) if args.limit is None else min(len(steps), args.limit))
    raw = space.model_dump(mode="json")
    raw.update(
        policy={"name": "fixed", "pipeline": steps},
        budget={"iterations": max(budget, 1)},
        executor={"kind": "local", "parallel": args.parallel},
        eval={**raw["eval"], "test": "every"},  # every row needs its test scores, not only the best few
    )
    cfg = RunConfig.model_validate(raw)
    header = TableHeader(
        name=Path(args.table).name.removesuffix(".gz").removesuffix(".jsonl"),
        space=space.model_dump(mode="json"),
        max_depth=args.max_depth,
        notes=f"built by bench/pipebench_build.py; merge base: {args.merge_base}; {len(all_pipelines)} pipelines",
    )
    builder = Builder(Path(args.table), header, all_pipelines, run_dir)
    print(f"{len(all_pipelines)} pipelines; table {args.table} has {len(builder.done)} rows; run dir {run_dir}")
    started = time.time()
    loop = Loop.open(cfg, run_dir, resume=resume, observer=observer(builder))
    summary = loop.run()
    print(
        f"stopped by {summary.stopped_by} after {time.time() - started:.0f} s; appended {builder.appended} rows; "
        f"table {args.table} has {len(builder.done)} of {len(all_pipelines)} pipelines"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
