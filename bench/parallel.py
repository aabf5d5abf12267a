"""Wall time of the same search with 1 and 2 workers, as local processes and as Ray tasks, and the speed-up.

    python bench/parallel.py [--trials 4] [--workers 1,2] [--executors local,ray] [--model embedded|DIR]
                             [--steps 1] [--repeat 1] [--json FILE]

Every setting runs the same work: a fixed pipeline of independent SFT trials on the base model (one learning
rate each), so only the number of workers changes. The base is, by default, a 2-layer random Llama with the
embedded tokenizer (seconds per trial: the figures then measure the executor, process start-up and
evaluation); `--model embedded` uses SmolLM2-135M-Instruct. `trials_s` runs from the first trial's start to
the last one's end (the ledger's clock), `total_s` also holds the base model's evaluation and Ray's start;
with `--repeat` the settings run interleaved and each figure is the median.
A table goes to stderr and the JSON to stdout (or FILE). On a machine with few cores the workers share
them, so the speed-up stays well below the number of workers: read it with `cpu_cores` and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LEARNING_RATES = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3]


def run_config(base: str, trials: int, steps: int, executor: str, workers: int) -> dict[str, Any]:
    """The benchmark's search: `trials` independent SFT steps on the base, then stop."""
    if trials > len(LEARNING_RATES):
        raise SystemExit(f"--trials: at most {len(LEARNING_RATES)}")
    sft = {"max_steps": steps, "batch_size": 4, "max_length": 256}
    inputs = {"model": "base", "data": "tool_sft"}
    return {
        "base_models": [base],
        "datasets": [{"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": 16}],
        "tasks": [
            {
                "name": "tool_use",
                "source": "builtin:tool_use",
                "options": {"val_size": 8, "test_size": 8, "max_new_tokens": 16},
            }
        ],
        "actions": ["sft"],
        "policy": {
            "name": "fixed",
            "pipeline": [
                {"action": "sft", "inputs": inputs, "params": {**sft, "learning_rate": lr}}
                for lr in LEARNING_RATES[:trials]
            ],
        },
        "budget": {"iterations": trials},
        "executor": {"kind": executor, "parallel": workers, "cpus_per_trial": 1},
        "eval": {"batch_size": 8},
    }


def measure(base: str, args: argparse.Namespace, executor: str, workers: int, work: Path) -> dict[str, Any]:
    from rich.console import Console

    from lamdagent.config import RunConfig
    from lamdagent.loop import Loop

    cfg = RunConfig.model_validate(run_config(base, args.trials, args.steps, executor, workers))
    run_dir = Path(tempfile.mkdtemp(prefix=f"{executor}-{workers}-", dir=work))
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    ex = None
    if executor == "ray":
        from lamdagent.execution.ray import RayExecutor

        ex = RayExecutor.create(cfg.executor_options())
    start_s = time.perf_counter() - t0
    loop = Loop.open(cfg, run_dir, executor=ex, console=Console(quiet=True))
    summary = loop.run()
    total_s = time.perf_counter() - t0
    trials = loop.ledger.trials()
    finished = [t for t in trials if t.state == "finished"]
    span = max(t.finished_at or t.started_at for t in trials) - min(t.started_at for t in trials)
    walls = [t.timings.get("wall_s", 0.0) for t in finished]
    return {
        "executor": executor,
        "workers": workers,
        "trials": len(trials),
        "finished": len(finished),
        "stopped_by": summary.stopped_by,
        "total_s": round(total_s, 2),
        "trials_s": round(span, 2),
        "executor_start_s": round(start_s, 2),
        "mean_trial_wall_s": round(sum(walls) / len(walls), 2) if walls else None,
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "errors": sorted({t.error or "" for t in trials if t.state != "finished"}),
    }


def summarise(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (executor, workers): the median of its repeats, with every sample's trials time kept."""
    rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for s in samples:
        rows.setdefault((s["executor"], s["workers"]), []).append(s)
    out = []
    for group in rows.values():
        row = dict(group[0])
        for key in ("total_s", "trials_s", "executor_start_s", "mean_trial_wall_s"):
            values = [g[key] for g in group if g[key] is not None]
            row[key] = round(statistics.median(values), 2) if values else None
        row.update(
            repeats=len(group),
            trials_s_samples=[g["trials_s"] for g in group],
            finished=min(g["finished"] for g in group),
            load_avg_1min=[g["load_avg_1min"] for g in group],
            errors=sorted({e for g in group for e in g["errors"]}),
        )
        out.append(row)
    return out


def add_speedups(rows: list[dict[str, Any]]) -> None:
    """Speed-up of each row over the 1-worker row of the same executor (trials phase and whole run)."""
    one = {r["executor"]: r for r in rows if r["workers"] == 1}
    for r in rows:
        ref = one.get(r["executor"])
        ok = ref is not None and r["trials_s"] > 0 and r["total_s"] > 0
        r["speedup_trials"] = round(ref["trials_s"] / r["trials_s"], 2) if ok else None
        r["speedup_total"] = round(ref["total_s"] / r["total_s"], 2) if ok else None


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    m = report["machine"]
    table = Table(
        "executor",
        "workers",
        "finished",
        "trials phase s",
        "samples",
        "total s",
        "start s",
        "mean trial s",
        "speed-up (trials)",
        "speed-up (total)",
        title=f"{report['settings']['trials']} trials on {report['settings']['model']}, median of "
        f"{report['settings']['repeat']}; {m['cpu_cores']} cores, load {m['load_avg_1min'][0]}→{m['load_avg_1min'][1]}",
    )
    for r in report["results"]:
        table.add_row(
            r["executor"],
            str(r["workers"]),
            f"{r['finished']}/{r['trials']}",
            f"{r['trials_s']:.1f}",
            " ".join(f"{v:.0f}" for v in r["trials_s_samples"]),
            f"{r['total_s']:.1f}",
            f"{r['executor_start_s']:.1f}",
            "" if r["mean_trial_wall_s"] is None else f"{r['mean_trial_wall_s']:.1f}",
            "" if r["speedup_trials"] is None else f"{r['speedup_trials']:.2f}×",
            "" if r["speedup_total"] is None else f"{r['speedup_total']:.2f}×",
        )
    Console(stderr=True, width=None if sys.stderr.isatty() else 160).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="trials per setting (the same ones every time)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--executors", default="local,ray", help="local, ray or both")
    parser.add_argument("--model", default="tiny", help="tiny (random 2-layer Llama), embedded, or a model dir")
    parser.add_argument("--steps", type=int, default=1, help="SFT steps per trial")
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting, interleaved; the median is shown")
    parser.add_argument("--json", dest="json_file", help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    if not set(executors) <= {"local", "ray"} or not workers or min(workers) < 1:
        parser.error("--executors takes local and/or ray; --workers positive integers")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local instance: no token under ~/.ray
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still cleans up the temp dir and Ray
    from rich.console import Console

    from lamdagent.hardware import cpu_cores

    console = Console(stderr=True)
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="lamdagent-bench-par-") as tmp:
        work = Path(tmp)
        if args.model == "tiny":
            from lamdagent.models.tiny import make_tiny_llama

            base = str(make_tiny_llama(work / "tiny-llama"))
        else:
            from lamdagent.models.embedded import EMBEDDED_NAME

            base = EMBEDDED_NAME if args.model == "embedded" else args.model
        settings = [(e, n) for e in executors for n in workers]
        for r in range(args.repeat):
            # interleaved, every other round backwards: a change in the machine's load hits all settings alike
            for executor, n in settings if r % 2 == 0 else settings[::-1]:
                with console.status(f"round {r + 1}: {executor}, {n} worker(s), {args.trials} trials"):
                    row = measure(base, args, executor, n, work)
                console.log(f"{executor} x{n}: {row['finished']}/{row['trials']} finished, {row['trials_s']:.1f} s")
                rows.append(row)
    rows = summarise(rows)
    add_speedups(rows)
    report = {
        "machine": {
            "cpu_cores": cpu_cores(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "settings": {"trials": args.trials, "model": args.model, "steps": args.steps, "repeat": args.repeat},
        "results": rows,
    }
    print_table(report)
    text = json.dumps(report, indent=1)
    if args.json_file:
        Path(args.json_file).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
