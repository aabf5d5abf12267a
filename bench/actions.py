"""Benchmark every action type on the embedded model, each in a fresh process (as the executor runs them).

    python bench/actions.py [--steps 4] [--examples 32] [--only sft_full,ties] [--json FILE]
    python bench/actions.py --only sft_full --sft-data RUN/data/tool_use_sft.jsonl --batch-size 2 --grad-acc 4
    python bench/actions.py --only sft_full --sft-data RUN/data/tool_use_sft.jsonl --batch-size 1 --train-layers 10

Prints a table (stderr) of wall time split into load / train-or-merge / save, training tokens per second and
peak resident memory, and the same figures as JSON (stdout, or FILE). Merges use the models the training
cases produced, so a run with `--only` that names a merge also runs the trainings it needs. `--sft-data` trains
on a real SFT file (the lengths of its rows decide the memory) in place of the generated arithmetic rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# case name -> (action, inputs by slot using case names or "base", params beyond the size options)
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "sft_full": ("sft", {"model": "base", "data": "sft"}, {"lora_r": 0}),
    "sft_lora": ("sft", {"model": "base", "data": "sft"}, {"lora_r": 16, "learning_rate": 2e-4}),
    "dpo_lora": ("dpo", {"model": "base", "data": "pref"}, {"lora_r": 16}),
    "dpo_full": ("dpo", {"model": "base", "data": "pref"}, {"lora_r": 0, "learning_rate": 5e-6}),
    "linear": ("linear", {"models": ["sft_full", "sft_lora"]}, {}),
    "task_arithmetic": ("task_arithmetic", {"models": ["sft_full", "dpo_lora"], "base": "base"}, {}),
    "ties": ("ties", {"models": ["sft_full", "dpo_lora"], "base": "base"}, {}),
    "dare_ties": ("dare_ties", {"models": ["sft_full", "dpo_lora"], "base": "base"}, {}),
    "slerp": ("slerp", {"models": ["sft_full", "sft_lora"]}, {}),
}
DEFAULT = [c for c in CASES if c != "dpo_full"]  # full DPO holds two copies; ask for it with --only


def make_data(root: Path, n: int, seed: int = 0) -> dict[str, Path]:
    """Short arithmetic chats: the size of the data, not its content, is what is measured."""
    rng = random.Random(seed)
    sft, pref = [], []
    for _ in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        prompt = [{"role": "user", "content": f"What is {a} times {b}? Answer with one sentence."}]
        good = {"role": "assistant", "content": f"{a} times {b} is {a * b}."}
        bad = {"role": "assistant", "content": f"I think {a} times {b} is {a * b + rng.randint(1, 9)}, roughly."}
        sft.append({"prompt": prompt, "completion": [good]})
        pref.append({"prompt": prompt, "chosen": [good], "rejected": [bad]})
    paths = {"sft": root / "sft.jsonl", "pref": root / "pref.jsonl"}
    for key, rows in (("sft", sft), ("pref", pref)):
        paths[key].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return paths


def child(job_file: Path) -> int:
    """Run one action in this (fresh) process and write its figures next to the job file."""
    job = json.loads(job_file.read_text())
    from lamdagent.actions import ACTIONS, ActionContext
    from lamdagent.spec import DatasetRef, ModelRef

    def ref(value: Any) -> Any:
        if isinstance(value, list):
            return [ref(v) for v in value]
        if "kind" in value:
            return DatasetRef(**value)
        return ModelRef(**value)

    action_type = ACTIONS.get(job["action"])
    ctx = ActionContext(
        inputs={slot: ref(v) for slot, v in job["inputs"].items()},
        params=action_type.parse_params(job["params"]),
        output_dir=Path(job["output_dir"]),
        device=job["device"],
    )
    action_type().run(ctx)
    result = {
        "timings": ctx.timings,
        "stats": ctx.stats,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
    }
    job_file.with_suffix(".result.json").write_text(json.dumps(result))
    return 0


def wanted_cases(only: str | None) -> list[str]:
    names = [n.strip() for n in only.split(",")] if only else list(DEFAULT)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    needed: list[str] = []

    def need(name: str) -> None:
        for value in CASES[name][1].values():
            for dep in value if isinstance(value, list) else [value]:
                if dep in CASES:
                    need(dep)
        if name not in needed:
            needed.append(name)

    for name in names:
        need(name)
    return needed


def run_case(name: str, model_dir: Path, data: dict[str, Path], work: Path, args: argparse.Namespace) -> dict:
    action, slots, extra = CASES[name]
    refs: dict[str, Any] = {
        "base": {"id": "base", "path": str(model_dir), "fingerprint": "base", "name": "smollm2-135m-instruct"}
    }
    for key, path in data.items():
        kind = "sft" if key == "sft" else "preference"
        refs[key] = {"id": key, "kind": kind, "path": str(path), "fingerprint": key, "rows": args.examples}
    for other in CASES:
        refs[other] = {"id": other, "path": str(work / other), "fingerprint": other}
    params = dict(extra)
    if action in ("sft", "dpo"):
        params = {
            "max_steps": args.steps,
            "batch_size": args.batch_size,
            "gradient_accumulation_steps": args.grad_acc,
            "max_length": args.max_length,
            "warmup_ratio": 0.0,
            **({"train_layers": args.train_layers} if args.train_layers else {}),
            **params,
        }
    job = {
        "action": action,
        "inputs": {s: [refs[v] for v in val] if isinstance(val, list) else refs[val] for s, val in slots.items()},
        "params": params,
        "output_dir": str(work / name),
        "device": args.device,
    }
    job_file = work / f"{name}.job.json"
    job_file.write_text(json.dumps(job))
    log = work / f"{name}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(job_file)], stdout=fh, stderr=subprocess.STDOUT, env=env
        )
    wall = time.perf_counter() - start
    row: dict[str, Any] = {"case": name, "action": action, "params": params, "ok": proc.returncode == 0, "wall_s": wall}
    if proc.returncode != 0:
        row["error"] = log.read_text(errors="replace").strip().splitlines()[-1:]
        return row
    result = json.loads(job_file.with_suffix(".result.json").read_text())
    timings, stats = result["timings"], result["stats"]
    work_s = timings.get("train_s", timings.get("merge_s", 0.0))
    row.update(
        # process start and library imports: the part of wall time no action timer sees
        overhead_s=wall - sum(timings.get(k, 0.0) for k in ("load_s", "train_s", "merge_s", "save_s")),
        load_s=timings.get("load_s"),
        work_s=work_s,
        save_s=timings.get("save_s"),
        steps=stats.get("steps"),
        train_tokens=stats.get("train_tokens"),
        tokens_per_s=stats["train_tokens"] / work_s if stats.get("train_tokens") and work_s else None,
        s_per_step=work_s / stats["steps"] if stats.get("steps") else None,
        peak_rss_mb=result["peak_rss_mb"],
    )
    return row


def table(rows: list[dict], title: str) -> Any:
    from rich.table import Table

    def fmt(value: Any, spec: str = ".1f") -> str:
        return "-" if value is None else format(value, spec)

    out = Table(title=title)
    cols = (
        "case",
        "wall s",
        "overhead s",
        "load s",
        "train/merge s",
        "save s",
        "steps",
        "s/step",
        "tokens/s",
        "peak RSS MB",
    )
    for col in cols:
        out.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        if not r["ok"]:
            out.add_row(r["case"], fmt(r["wall_s"]), "[red]failed: " + " ".join(r.get("error", [])), *[""] * 7)
            continue
        out.add_row(
            r["case"],
            fmt(r["wall_s"]),
            fmt(r["overhead_s"]),
            fmt(r["load_s"]),
            fmt(r["work_s"]),
            fmt(r["save_s"]),
            fmt(r["steps"], "d"),
            fmt(r["s_per_step"]),
            fmt(r["tokens_per_s"], ".0f"),
            fmt(r["peak_rss_mb"], ".0f"),
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="optimiser steps per training case")
    parser.add_argument("--examples", type=int, default=32, help="rows in the generated SFT and preference data")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--grad-acc", type=int, default=1, help="forward passes per optimiser step")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--train-layers", type=int, default=0, help="train only the top N blocks (0: all)")
    parser.add_argument("--sft-data", type=Path, help="a real SFT JSONL to train on (default: generated rows)")
    parser.add_argument("--only", help=f"comma-separated cases (default: {','.join(DEFAULT)}; also: dpo_full)")
    parser.add_argument("--model", help="model directory (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--device", help="cpu or cuda (default: what lamdagent.hardware picks)")
    parser.add_argument("--json", dest="json_file", help="write the JSON here instead of stdout")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(Path(args.child))

    import torch
    from rich.console import Console

    # A terminated benchmark still kills its running case and removes its temp dir.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from lamdagent.hardware import cpu_cores, pick_device
    from lamdagent.models.loading import resolve_model

    args.device = args.device or pick_device()
    model_dir = resolve_model(args.model or "smollm2-135m-instruct")
    cases = wanted_cases(args.only)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
    rows = []
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure; record it
    with tempfile.TemporaryDirectory(prefix="lamdagent-bench-") as tmp:
        work = Path(tmp)
        data = make_data(work, args.examples)
        if args.sft_data:
            data["sft"] = args.sft_data.resolve()
            args.examples = sum(1 for line in data["sft"].read_text().splitlines() if line.strip())
        for i, name in enumerate(cases, 1):
            with console.status(f"[{i}/{len(cases)}] {name}"):
                row = run_case(name, model_dir, data, work, args)
            console.log(f"{name}: {'ok' if row['ok'] else 'FAILED'} in {row['wall_s']:.1f} s")
            rows.append(row)
    report = {
        "machine": {
            "device": args.device,
            "cpu_cores": cpu_cores(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "settings": {
            "model": model_dir.name,
            "steps": args.steps,
            "examples": args.examples,
            "batch_size": args.batch_size,
            "gradient_accumulation_steps": args.grad_acc,
            "max_length": args.max_length,
            "sft_data": args.sft_data.name if args.sft_data else "generated",
        },
        "results": rows,
    }
    title = (
        f"lamdagent actions on {model_dir.name} ({args.device}, {cpu_cores()} cores; "
        f"{args.steps} steps x batch {args.batch_size} x {args.grad_acc}, max_length {args.max_length}; "
        f"load avg {load_before:.1f} -> {os.getloadavg()[0]:.1f})"
    )
    console.print(table(rows, title))
    text = json.dumps(report, indent=2)
    if args.json_file:
        Path(args.json_file).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
