"""What plain SFT does to the embedded model: the base, SFT on tool use only, and SFT on all three built-in sets.

    python bench/sft_effect.py --run-dir runs/sft-effect [--data-dir ../shared/benchmarks]
                               [--sft-size 120] [--epochs 2] [--steps -1] [--learning-rate 1e-4] [--max-length 640]
                               [--eval-size 24] [--val-size 8] [--bfcl-categories simple_python,multiple,...]
                               [--json FILE] [--resume] [--report-only] [--write-config FILE]

One `lamdagent run` with the `fixed` policy and two steps, both from the base model: (1) `sft` on `tool_sft`
(built-in tool-use rows only), (2) `sft` on `mixed_sft` (tool use, instruction following and math interleaved,
the same number of rows in all, so both steps cost the same). Every model is scored on the three built-in
tasks and on small subsets of BFCL, IFEval and GSM8K, on both splits. The script then reads the ledger and
prints each task's primary metric on the TEST split for the three models, as JSON (stdout, or FILE) and as a
markdown table (stderr). This is the experiment behind the table in docs/evaluation.md: the paper's
tension is that tool-use SFT raises tool use and lowers instruction following; does the suite show it?

On a shared machine set LAMDAGENT_THREADS=1 (with more threads than free cores torch's pool thrashes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

BUILTIN_TASKS = ("tool_use", "instruction_following", "math")
REAL_TASKS = ("bfcl", "ifeval", "gsm8k")
DEFAULT_BFCL = ("simple_python", "multiple", "parallel", "irrelevance")
# Generation lengths per task: enough for the expected answers (a call line, a short text, a worked solution),
# short enough that three models x six tasks x two splits fit in about twenty minutes on two cores.
MAX_NEW_TOKENS = {
    "tool_use": 128,
    "instruction_following": 160,
    "math": 160,
    "bfcl": 160,
    "ifeval": 192,
    "gsm8k": 192,
}
COLUMNS = {"base": "base", "tool_sft": "SFT tool use only", "mixed_sft": "SFT mixed"}


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    """The run config as a plain dict (validated by `RunConfig` before use)."""
    part = max(1, args.sft_size // 3)
    datasets = [
        {"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": args.sft_size},
        # The mix holds a third of each set, so it has as many rows (and training steps) as tool_sft.
        {"name": "tool_part", "kind": "sft", "source": "builtin:tool_use", "size": part},
        {"name": "if_part", "kind": "sft", "source": "builtin:instruction_following", "size": part},
        {"name": "math_part", "kind": "sft", "source": "builtin:math", "size": part},
        {
            "name": "mixed_sft",
            "kind": "sft",
            "mix": ["tool_part", "if_part", "math_part"],
            "description": "tool use, instruction following and math, interleaved",
        },
    ]
    sizes = {"val_size": args.val_size, "test_size": args.eval_size}
    categories = list(args.bfcl_categories)
    per_category = max(1, -(-args.eval_size // len(categories)))  # ceil: at least eval_size test items
    tasks = [{"name": name, "source": f"builtin:{name}", "weight": 1.0, "options": {**sizes}} for name in BUILTIN_TASKS]
    tasks += [
        {
            "name": "bfcl",
            "source": "bfcl",
            "weight": 1.0,
            "options": {"categories": categories, "limit_per_category": per_category},
        },
        {"name": "ifeval", "source": "ifeval", "weight": 1.0, "options": {**sizes}},
        {"name": "gsm8k", "source": "gsm8k", "weight": 1.0, "options": {**sizes}},
    ]
    for task in tasks:
        task["options"]["max_new_tokens"] = MAX_NEW_TOKENS[task["name"]]
    sft = {
        "lora_r": 0,
        "batch_size": 8,
        "max_length": args.max_length,
        "max_steps": args.steps,
        "num_epochs": args.epochs,
        "learning_rate": args.learning_rate,
    }
    return {
        "base_models": ["smollm2-135m-instruct"],
        "data_dir": args.data_dir,
        "datasets": datasets,
        "tasks": tasks,
        "constraints": [{"task": "instruction_following", "min_delta": -0.01}],
        "actions": ["sft"],
        "params": {"sft": sft},
        "policy": {
            "name": "fixed",
            "pipeline": [
                {"action": "sft", "inputs": {"model": "base", "data": "tool_sft"}},
                {"action": "sft", "inputs": {"model": "base", "data": "mixed_sft"}},
            ],
        },
        "budget": {"iterations": 2},
        "executor": {"kind": "local", "parallel": 1, "timeout_s": 3600},
        "eval": {"batch_size": 16},
        "seed": 0,
    }


def collect(run_dir: Path) -> dict[str, Any]:
    """The three models' metrics from the ledger: validation and test, every metric, plus timings."""
    from lamdagent.runinfo import load_run

    run = load_run(run_dir)
    base = next(iter(run.bases.values()), None)
    if base is None or not base.test_metrics:
        raise SystemExit(f"{run_dir}: the base model has no scores; the run did not get past its first evaluation")
    models: dict[str, dict[str, Any]] = {
        "base": {"model": base.id, "validation": base.metrics, "test": base.test_metrics, "score": base.score}
    }
    for trial in run.finished():
        data = trial.spec.inputs.get("data")
        if data in COLUMNS and data not in models:
            models[str(data)] = {
                "model": trial.output_model,
                "trial": trial.id,
                "validation": trial.metrics,
                "test": trial.test_metrics,
                "score": trial.score,
                "test_score": run.test_score(trial.test_metrics),
                "timings": trial.timings,
            }
    failed = [{"trial": t.id, "data": t.spec.inputs.get("data"), "error": t.error} for t in run.trials if t.error]
    rows = {}
    for task in run.task_names():
        metric = run.primary_metrics.get(task) or "accuracy"
        rows[task] = {
            "metric": metric,
            **{col: run.task_value(m["test"], task) for col, m in models.items()},
        }
    return {
        "run_dir": str(run_dir),
        "primary": rows,
        "models": models,
        "failed": failed,
        "config": run.config,
    }


def markdown(result: dict[str, Any]) -> str:
    """Rows = tasks (primary metric, test split), columns = the three models; deltas against the base."""
    cols = [c for c in COLUMNS if c in result["models"]]
    head = "| task (test, primary metric) | " + " | ".join(COLUMNS[c] for c in cols) + " |"
    lines = [head, "|---|" + "---:|" * len(cols)]
    for task, row in result["primary"].items():
        cells = []
        for c in cols:
            value = row.get(c)
            if value is None:
                cells.append("–")
                continue
            delta = "" if c == "base" or row.get("base") is None else f" ({value - row['base']:+.3f})"
            cells.append(f"{value:.3f}{delta}")
        lines.append(f"| {task} ({row['metric']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _secondary(task: str, metric: str, primary: str) -> bool:
    """Metrics worth a second look: categories and held-out parts, not per-template or per-family splits."""
    if metric == primary:
        return False
    for prefix in ("exact_match_flexible_", "inst_level_loose_acc_"):
        if metric.startswith(prefix) and not metric.endswith("_heldout"):
            return False
    return True


def details(result: dict[str, Any]) -> str:
    """Every other test metric of each task (categories, held-out part, strict variants), same columns."""
    cols = [c for c in COLUMNS if c in result["models"]]
    lines = ["| task: metric (test) | " + " | ".join(COLUMNS[c] for c in cols) + " |", "|---|" + "---:|" * len(cols)]
    for task, row in result["primary"].items():
        names = result["models"]["base"]["test"].get(task, {})
        for metric in [m for m in names if _secondary(task, m, row["metric"])]:
            cells = [result["models"][c]["test"].get(task, {}).get(metric) for c in cols]
            lines.append(f"| {task}: {metric} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/sft-effect", help="run directory (must not hold a run, or --resume)")
    p.add_argument("--data-dir", default="../shared/benchmarks", help="folder with bfcl/, ifeval/, gsm8k/")
    p.add_argument("--sft-size", type=int, default=120, help="rows of each SFT set (the mix: a third of each)")
    p.add_argument("--epochs", type=float, default=2.0, help="epochs of each SFT step (with --steps -1)")
    p.add_argument("--steps", type=int, default=-1, help="optimiser steps of each SFT step; -1: use --epochs")
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument(
        "--max-length",
        type=int,
        default=640,
        help="tokens per SFT example; below ~640 TRL drops tool-use rows whose prompt (the tool list) is longer",
    )
    p.add_argument("--eval-size", type=int, default=24, help="test items per task")
    p.add_argument("--val-size", type=int, default=8, help="validation items per task (BFCL: as many as test)")
    p.add_argument("--bfcl-categories", default=",".join(DEFAULT_BFCL), help="comma-separated BFCL categories")
    p.add_argument("--json", default=None, help="write the JSON here instead of stdout")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --run-dir")
    p.add_argument("--report-only", action="store_true", help="do not run; read --run-dir and print the table")
    p.add_argument("--write-config", default=None, help="write the run config as YAML to this file and stop")
    args = p.parse_args(argv)
    args.bfcl_categories = [c.strip() for c in args.bfcl_categories.split(",") if c.strip()]
    for name in ("sft_size", "eval_size", "val_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.bfcl_categories:
        p.error("--bfcl-categories is empty")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import yaml
    from rich.console import Console

    from lamdagent.config import RunConfig
    from lamdagent.errors import LamdagentError

    raw = build_config(args)
    if args.write_config:
        header = (
            "# Written by `python bench/sft_effect.py --write-config FILE` (its defaults); the same experiment as\n"
            "#   lamdagent run examples/sft-effect.yaml --run-dir runs/sft-effect\n"
            "# data_dir is the folder holding bfcl/, ifeval/ and gsm8k/, relative to where you run.\n"
        )
        Path(args.write_config).write_text(header + yaml.safe_dump(raw, sort_keys=False, width=110))
        return 0
    console = Console(stderr=True)
    run_dir = Path(args.run_dir)
    t0 = time.perf_counter()
    try:
        if not args.report_only:
            from lamdagent.loop import Loop

            cfg = RunConfig.model_validate(raw)
            Loop.open(cfg, run_dir, resume=args.resume, console=console).run()
        result = collect(run_dir)
    except LamdagentError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return 2
    result["wall_s"] = None if args.report_only else time.perf_counter() - t0
    result["machine"] = {
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "LAMDAGENT_THREADS": os.environ.get("LAMDAGENT_THREADS"),
    }
    text = json.dumps(result, indent=1, default=str)
    if args.json:
        Path(args.json).write_text(text + "\n")
    else:
        print(text)
    console.print(markdown(result), highlight=False, soft_wrap=True)
    console.print("\n" + details(result), highlight=False, soft_wrap=True)
    if result["failed"]:
        console.print(f"[red]failed trials:[/] {result['failed']}", highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
