"""Benchmark evaluation on the embedded model: wall time and generation throughput per task.

    python bench/eval.py [--limit 8] [--batch-size 16] [--split validation] [--model DIR]
                         [--tasks builtin:tool_use,builtin:instruction_following,builtin:math] [--json FILE]

The model is loaded once; each task generates with its own `max_new_tokens`. Prints a table (stderr) of items,
prompt and generated tokens, wall time (generation and scoring), tokens per second and the primary metric, and
all figures and metrics as JSON (stdout, or FILE). On a shared machine set LAMDAGENT_THREADS=1: with more
threads than free cores, torch's thread pool thrashes (measured 10x slower). Pass `--data-dir` (or set
LAMDAGENT_BENCHMARKS) for the public benchmarks (`bfcl`, `ifeval`, `gsm8k`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from typing import Any

DEFAULT_TASKS = ["builtin:tool_use", "builtin:instruction_following", "builtin:math"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from lamdagent.evaluation.evaluator import evaluate_detailed
    from lamdagent.evaluation.tasks import build_task
    from lamdagent.hardware import set_threads
    from lamdagent.models.embedded import embedded_model_dir

    threads = set_threads()
    options = {"data_dir": args.data_dir} if args.data_dir else {}
    tasks = [build_task(source.split(":")[-1], source, dict(options)) for source in args.tasks]
    t0 = time.perf_counter()
    report = evaluate_detailed(
        args.model or embedded_model_dir(),
        tasks,
        args.split,
        limit=args.limit,
        batch_size=args.batch_size,
        progress=True,
    )
    wall = time.perf_counter() - t0
    out = report.to_dict()
    tokens = sum(r.new_tokens for r in report.tasks.values())
    task_seconds = sum(r.seconds for r in report.tasks.values())
    out.update(
        {
            "limit": args.limit,
            "batch_size": args.batch_size,
            "max_new_tokens": {t.name: t.max_new_tokens for t in tasks},
            "wall_s": wall,
            "new_tokens": tokens,
            "tokens_per_second": tokens / task_seconds if task_seconds else 0.0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "machine": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "threads": threads,
                "processor": platform.processor() or platform.machine(),
            },
        }
    )
    return out


def table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"evaluation of {result['model']} ({result['split']}, limit {result['limit']}, {result['device']})")
    for col in ("task", "items", "prompt tok", "max new", "new tok", "wall s", "tok/s", "primary metric"):
        t.add_column(col, justify="left" if col in ("task", "primary metric") else "right")
    for name, r in result["tasks"].items():
        t.add_row(
            name,
            str(r["items"]),
            str(r["prompt_tokens"]),
            str(result["max_new_tokens"][name]),
            str(r["new_tokens"]),
            f"{r['seconds']:.1f}",
            f"{r['tokens_per_second']:.1f}",
            f"{r['primary_metric']}={r['metrics'][r['primary_metric']]:.3f}",
        )
    t.add_row(
        "all",
        str(sum(r["items"] for r in result["tasks"].values())),
        str(sum(r["prompt_tokens"] for r in result["tasks"].values())),
        "",
        str(result["new_tokens"]),
        f"{result['wall_s']:.1f}",
        f"{result['tokens_per_second']:.1f}",
        f"(load {result['load_seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB)",
    )
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)  # no squeezing when piped
    console.print(t)
    for name, r in result["tasks"].items():
        for s in r["samples"][:2]:
            console.print(f"[dim]{name} #{s['id']} ({'right' if s['correct'] else 'wrong'}):[/] {s['output'][:160]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=8, help="items per task (default 8)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help="comma-separated task sources")
    parser.add_argument("--data-dir", default=None, help="benchmarks folder for bfcl, ifeval, gsm8k")
    parser.add_argument("--model", default=None, help="a model directory (default: the embedded model)")
    parser.add_argument("--json", default=None, help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    result = run(args)
    table(result)
    text = json.dumps(result, indent=1)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
