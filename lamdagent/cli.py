"""The `lamdagent` command. Every subcommand prints a one-line error (exit 2) for bad input."""

from __future__ import annotations

import argparse
import errno
import json
import sqlite3
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lamdagent.errors import LamdagentError

SHORT_TASKS = {
    "tool_use": "builtin:tool_use",
    "instruction_following": "builtin:instruction_following",
    "math": "builtin:math",
    "bfcl": "bfcl",
    "ifeval": "ifeval",
    "gsm8k": "gsm8k",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lamdagent", description="An LLM agent that builds post-training pipelines.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the agent loop (no CONFIG: the embedded demo)")
    _config_arguments(r)
    r.add_argument("--run-dir", required=True, help="directory for the ledger, data and models")
    r.add_argument("--resume", action="store_true", help="continue a stopped or killed run in --run-dir")

    c = sub.add_parser("config", help="print the config a run would use, as YAML (no CONFIG: the embedded demo)")
    _config_arguments(c)

    s = sub.add_parser("status", help="trials, best so far and budget of a run")
    s.add_argument("run_dir")
    s.add_argument("--json", action="store_true")

    pr = sub.add_parser("predict", help="predict a candidate's scores in a run from its lineage, before training it")
    pr.add_argument("run_dir")
    pr.add_argument(
        "--action", required=True, help="e.g. 'sft(model=m1c02ff23889, data=tool_use_sft; learning_rate=0.0003)'"
    )
    pr.add_argument("--json", action="store_true")

    rep = sub.add_parser("report", help="write RUN_DIR/report.html")
    rep.add_argument("run_dir")
    rep.add_argument("--pareto", nargs=2, metavar=("TASK_X", "TASK_Y"), help="tasks of the Pareto plot")

    rp = sub.add_parser("replay", help="re-run the best pipelines at another data scale or base model")
    rp.add_argument("run_dir")
    rp.add_argument("--top", type=int, default=3)
    rp.add_argument("--data-scale", type=float)
    rp.add_argument("--base-model")
    rp.add_argument("--run-dir", dest="new_run_dir", required=True)

    e = sub.add_parser("eval", help="evaluate one model on tasks")
    e.add_argument("model", help="smollm2-135m-instruct, a local HF directory, or a hub id")
    e.add_argument(
        "--tasks",
        nargs="+",
        default=["tool_use", "instruction_following", "math"],
        help=f"short names ({', '.join(SHORT_TASKS)}), lm_eval:<task>, or task YAML files",
    )
    e.add_argument("--split", choices=["validation", "test"], default="test")
    e.add_argument("--limit", type=int, help="items per task")
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--data-dir", help="folder of the public benchmark files (bfcl, ifeval, gsm8k)")
    e.add_argument("--json", action="store_true")

    a = sub.add_parser("actions", help="list action types, their object slots and parameters")
    a.add_argument("--json", action="store_true")

    x = sub.add_parser("export", help="copy the best (or a named) model out of a run, with its model card")
    x.add_argument("run_dir")
    x.add_argument("dest")
    x.add_argument("--trial", type=int)

    pl = sub.add_parser("plugins", help="list the plug-ins (actions, policies, executors, LLM backends, tasks)")
    pl.add_argument("--json", action="store_true")

    ar = sub.add_parser("arena", help="compare search policies on a pipeline table, many seeds each")
    ar.add_argument("table", help="a pipeline table (.jsonl or .jsonl.gz) with its space in the header")
    ar.add_argument(
        "--policies",
        default="random,greedy,tpe",
        help="comma-separated policy names; NAME+screenK screens K candidates per trial with the predictor",
    )
    ar.add_argument("--seeds", type=int, default=20, help="runs per policy (seeds 0..N-1)")
    ar.add_argument("--budget", type=int, default=20, help="trials per run")
    ar.add_argument("--no-bootstrap", action="store_true", help="score every seed on the recorded items alone")
    ar.add_argument("--agent-model", metavar="MODEL", help=AGENT_MODEL_HELP)
    ar.add_argument(
        "--surrogate",
        type=int,
        metavar="DEPTH",
        help="allow pipelines up to DEPTH, answering those the table lacks with the lineage predictor (marked)",
    )
    ar.add_argument("--out", help="folder for arena.json and arena.png (default: runs/arena-<table name>)")
    ar.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _config_arguments(p: argparse.ArgumentParser) -> None:
    """The config file and the flags that override it, shared by `run` and `config`."""
    p.add_argument("config", nargs="?", help="run config YAML")
    p.add_argument("--budget", type=int, help="iterations (trials) to run")
    p.add_argument("--wall-clock", type=float, help="wall-clock budget in seconds")
    p.add_argument("--policy", help="a policy name: llm, random, greedy, fixed, … (`lamdagent plugins`)")
    p.add_argument("--data-scale", type=float, help="fraction of every dataset to use (0, 1]")
    p.add_argument(
        "--executor", help="where trials run: local, ray, table:PATH (a pipeline table), … (`lamdagent plugins`)"
    )
    p.add_argument("--parallel", type=int, help="trials at once")
    p.add_argument("--seed", type=int, help="the run's seed: data draws, training, the policy's choices")
    p.add_argument("--agent-model", metavar="MODEL", help=AGENT_MODEL_HELP)


AGENT_MODEL_HELP = (
    "the agent LLM of the llm and hybrid policies: a GGUF file (run by llama.cpp), a Hugging Face directory or "
    "hub id (transformers), or `llamacpp` / `local` for the embedded model on either"
)


def agent_llm(value: str) -> dict[str, Any]:
    """`--agent-model` as the `policy.llm` section it stands for."""
    if value in ("llamacpp", "local"):
        return {"backend": value}
    if value.lower().endswith(".gguf"):
        if not Path(value).expanduser().is_file():
            raise LamdagentError(f"--agent-model: {value} is not a file; give the path of a GGUF model")
        return {"backend": "llamacpp", "model": value}
    return {"backend": "local", "model": value}


def _load(args: argparse.Namespace) -> Any:
    from lamdagent.config import load_config

    overrides: dict[str, Any] = {}
    executor = args.executor
    if executor and ":" in executor:  # KIND:PATH, e.g. table:benchmarks/pipebench-smollm2.jsonl.gz
        executor, overrides["executor.path"] = executor.split(":", 1)
    for key, value in (
        ("budget.iterations", args.budget),
        ("budget.wall_clock_s", args.wall_clock),
        ("policy.name", args.policy),
        ("data_scale", args.data_scale),
        ("executor.kind", executor),
        ("executor.parallel", args.parallel),
        ("seed", args.seed),
        ("policy.llm", agent_llm(args.agent_model) if args.agent_model else None),
    ):
        if value is not None:
            overrides[key] = value
    return load_config(args.config, overrides)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Piped into a log, rich would fold every line and squeeze tables to 80 columns; the log keeps whole lines
    # and tables up to 120 columns wide.
    tty = sys.stdout.isatty()
    console = Console(soft_wrap=not tty, width=None if tty else 120)
    try:
        return int(COMMANDS[args.command](args, console) or 0)
    except (LamdagentError, sqlite3.Error, OSError) as exc:
        message = str(exc) if isinstance(exc, LamdagentError) else system_error(exc, args)
        Console(stderr=True).print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted; continue with `lamdagent run --resume --run-dir DIR`")
        return 130


def system_error(exc: sqlite3.Error | OSError, args: argparse.Namespace) -> str:
    """A database or file-system failure as one line: which file, what happened, what to do."""
    from lamdagent.rundir import has_started

    run = getattr(args, "run_dir", None) or getattr(args, "new_run_dir", None)
    resume = ""
    if args.command == "run" and run:
        started = has_started(run)
        resume = f"; then continue with `lamdagent run --resume --run-dir {run}`" if started else "; then run it again"
    if isinstance(exc, sqlite3.Error):
        where = f"{run}/ledger.sqlite" if run else "the run's ledger"
        return f"{where}: SQLite error ({exc}); check the disk and the file's permissions{resume}"
    where = exc.filename or (str(run) if run else "a file")
    if exc.errno == errno.ENOSPC:
        return f"{where}: no space left on the device; free some space{resume}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}: {exc.strerror}; pick a location you may write to{resume}"
    return f"{where}: {exc.strerror or exc}{resume}"


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from lamdagent.console import print_summary
    from lamdagent.loop import Loop

    cfg = _load(args)
    loop = Loop.open(cfg, args.run_dir, resume=args.resume, console=console)
    try:
        summary = loop.run()
    finally:
        loop.ctx.close()
    print_summary(summary, console)
    return 0


def status_dict(run_dir: Path) -> dict[str, Any]:
    """The stable JSON of `lamdagent status --json`."""
    from lamdagent.ledger import Ledger
    from lamdagent.rundir import open_existing
    from lamdagent.runinfo import load_run

    open_existing(run_dir, command="show")
    with Ledger(run_dir) as ledger:
        trials = ledger.trials()
        cfg = ledger.get_meta("config", {})
        best = load_run(run_dir).best_trial()

        def row(t: Any) -> dict[str, Any]:
            return {
                "id": t.id,
                "iteration": t.iteration,
                "state": t.state,
                "action": t.action,
                "inputs": t.spec.inputs,
                "params": t.spec.params,
                "score": t.score,
                "metrics": t.metrics,
                "test_metrics": t.test_metrics,
                "output_model": t.output_model,
                "error": t.error,
                "fallback": t.fallback,
                "cached": t.cached,
                "wall_s": t.timings.get("wall_s"),
            }

        return {
            "run_dir": str(run_dir),
            "trials": [row(t) for t in trials],
            "best": row(best) if best else None,
            "base": ledger.get_meta("base", {}),
            "budget": {
                "limits": cfg.get("budget", {}),
                "spent": {
                    "iterations": len(trials),
                    "wall_clock_s": ledger.get_meta("elapsed_s", 0.0),
                    "llm_tokens": ledger.total_llm_tokens(),
                },
            },
            "memory": ledger.memory(),
        }


def cmd_config(args: argparse.Namespace, console: Console) -> int:
    """Print the validated config, so a user can start a file of their own from the demo or check overrides."""
    import yaml

    cfg = _load(args)
    sys.stdout.write(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True), sort_keys=False))
    return 0


def cmd_predict(args: argparse.Namespace, console: Console) -> int:
    from lamdagent.ledger import Ledger
    from lamdagent.predict import LineagePredictor, Node, node_of, parse_action, spec_node
    from lamdagent.runinfo import load_run

    run = load_run(Path(args.run_dir))
    action, inputs, params = parse_action(args.action)
    params = {**(run.config.get("params") or {}).get(action, {}), **params}
    made = {t.output_model: t for t in run.trials if t.state == "finished" and t.output_model}
    datasets = {d["name"] for d in run.config.get("datasets") or [] if isinstance(d, dict) and "name" in d}
    models = set(run.bases) | set(made)
    ids = [i for v in inputs.values() for i in ([v] if isinstance(v, str) else v)]
    unknown = [i for i in ids if i not in models and i not in datasets]
    if unknown:
        raise LamdagentError(
            f"--action: {', '.join(unknown)} is no model or dataset of {args.run_dir}; models: "
            f"{', '.join(sorted(models))}; datasets: {', '.join(sorted(datasets))}"
        )
    nodes = [Node(b) for b in run.bases]
    nodes += [spec_node(t.spec, models, mid) for mid, t in made.items()]
    candidate = node_of(action, params, [i for i in ids if i in models], [i for i in ids if i in datasets], "?")
    with Ledger(Path(args.run_dir)) as ledger:
        verdicts = {e["payload"]["model"]: e["payload"]["validation"] for e in ledger.events("verdicts")}

    def task_scores(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
        values = {t: run.task_value(metrics, t) for t in run.task_names()}
        return {t: v for t, v in values.items() if v is not None}

    scores = {b.id: task_scores(b.metrics) for b in run.bases.values()}
    scores |= {mid: task_scores(t.metrics) for mid, t in made.items()}
    predicted = LineagePredictor().fit(nodes, verdicts, scores).predict(candidate)
    if args.json:
        print(json.dumps({"action": args.action, **asdict(predicted), "fitted_on": len(verdicts)}, indent=1))
        return 0
    console.print(f"{escape(args.action)}: {escape(predicted.text())}", highlight=False)
    console.print(
        f"({predicted.coverage:.0%} intervals; fitted on {len(verdicts)} scored models of {escape(args.run_dir)})",
        highlight=False,
    )
    return 0


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    data = status_dict(Path(args.run_dir))
    if args.json:
        print(json.dumps(data, indent=1, default=str))
        return 0
    table = Table("id", "state", "action", "objects", "score", "model", "note")
    for t in data["trials"]:
        objs = ", ".join(f"{k}={v}" for k, v in t["inputs"].items())
        note = (t["error"] or "")[:60] + (" fallback" if t["fallback"] else "") + (" cached" if t["cached"] else "")
        score = "" if t["score"] is None else f"{t['score']:.3f}"
        table.add_row(str(t["id"]), t["state"], t["action"], escape(objs), score, t["output_model"] or "", escape(note))
    console.print(table)
    best = data["best"]
    console.print(f"best: {best['output_model']} ({best['score']:.3f})" if best else "best: none yet")
    spent, limits = data["budget"]["spent"], data["budget"]["limits"]
    console.print(
        f"budget: {spent['iterations']}/{limits.get('iterations')} trials, "
        f"{spent['wall_clock_s']:.0f}/{limits.get('wall_clock_s')} s, "
        f"{spent['llm_tokens']}/{limits.get('llm_tokens')} LLM tokens"
    )
    return 0


def cmd_actions(args: argparse.Namespace, console: Console) -> int:
    from lamdagent.actions.base import ACTIONS

    described = [ACTIONS.get(n).describe() for n in ACTIONS.names()]
    if args.json:
        print(json.dumps(described, indent=1))
        return 0
    for d in described:
        console.rule(f"[bold]{d['name']}[/] ({d['relation']})")
        console.print(d["description"])
        for s in d["slots"]:
            count = f" ×{s['count']}" if s["count"] > 1 else ""
            console.print(f"  slot [cyan]{s['name']}[/]{count} ({s['kind']}): {s['description']}")
        for name, p in d["params"].items():
            bounds = " ".join(f"{k}={p[k]}" for k in ("minimum", "maximum", "enum") if k in p)
            console.print(f"  param [green]{name}[/] = {p.get('default')}  {bounds}  {p.get('description', '')}")
    return 0


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from lamdagent.evaluation.evaluator import evaluate, load_model
    from lamdagent.evaluation.tasks import build_task

    options = {"data_dir": args.data_dir} if args.data_dir else {}
    tasks = [
        build_task(
            Path(t).stem if t.endswith((".yaml", ".yml")) else t.split(":")[-1], SHORT_TASKS.get(t, t), dict(options)
        )
        for t in args.tasks
    ]
    model, tokenizer = load_model(args.model)
    results = evaluate(
        model,
        tasks,
        args.split,
        limit=args.limit,
        batch_size=args.batch_size,
        tokenizer=tokenizer,
        progress=not args.json,
    )
    if args.json:
        print(json.dumps({"model": args.model, "split": args.split, "tasks": results}, indent=1))
        return 0
    table = Table("task", "metric", "value", title=f"{args.model} ({args.split})")
    for task in tasks:
        for metric, value in results[task.name].items():
            mark = " *" if metric == task.primary_metric else ""
            table.add_row(task.name, metric + mark, f"{value:.3f}")
    console.print(table)
    console.print("* primary metric")
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from lamdagent.report.html import write_report

    path = write_report(Path(args.run_dir), pareto=tuple(args.pareto) if args.pareto else None)
    console.print(f"report: {path}")
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    from lamdagent.export import export_model

    path = export_model(Path(args.run_dir), Path(args.dest), trial_id=args.trial)
    console.print(f"exported to {path}")
    return 0


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    from lamdagent.replay import print_replay, replay

    result = replay(
        Path(args.run_dir),
        Path(args.new_run_dir),
        top=args.top,
        data_scale=args.data_scale,
        base_model=args.base_model,
        console=console,
    )
    print_replay(result, console)
    return 0


def cmd_plugins(args: argparse.Namespace, console: Console) -> int:
    from lamdagent.plugins import describe_plugins

    described = describe_plugins()
    if args.json:
        print(json.dumps(described, indent=1))
        return 0
    for kind, items in described.items():
        console.rule(f"[bold]{kind}[/]")
        for name, options in items.items():
            console.print(f"[cyan]{escape(name)}[/]")
            for opt, info in options.items():
                bounds = " ".join(f"{k}={info[k]}" for k in ("minimum", "maximum", "enum") if k in info)
                text = f"  {opt} = {info.get('default', '(required)')}  {bounds}  {info.get('description', '')}"
                console.print(escape(text))
    return 0


def cmd_arena(args: argparse.Namespace, console: Console) -> int:
    from lamdagent.arena import format_interval, run_arena, write_outputs

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    name = Path(args.table).name.removesuffix(".gz").removesuffix(".jsonl")
    out = Path(args.out) if args.out else Path("runs") / f"arena-{name}"

    def progress(run: Any) -> None:
        if not args.json:
            console.print(
                f"{run.policy} seed {run.seed}: best {run.best_so_far[-1]:.3f} after {run.trials} trials "
                f"({run.failed} failed, {run.duplicates + run.noops} repeats/no-ops, {run.wall_seconds:.1f} s)",
                highlight=False,
            )

    llm = agent_llm(args.agent_model) if args.agent_model else None
    result = run_arena(
        args.table,
        policies,
        args.seeds,
        args.budget,
        bootstrap=not args.no_bootstrap,
        progress=progress,
        llm=llm,
        surrogate=args.surrogate or 0,
        journal=out / "arena-runs.jsonl",
    )
    paths = write_outputs(result, out)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    best = result["table_best"]
    table = Table(title=f"{result['name'] or name}: {args.seeds} seeds x {args.budget} trials, mean [95% interval]")
    table.add_column("policy")
    for k in result["checkpoints"]:
        table.add_column(f"best@{k}")
    for column in ("ship test", "regret", "test regret", "repeats", "agent s"):
        table.add_column(column)
    for policy, s in result["policies"].items():
        table.add_row(
            policy,
            *[format_interval(s["best_so_far"][str(k)]) for k in result["checkpoints"]],
            format_interval(s["shipped_test"]),
            format_interval(s["regret"]),
            format_interval(s["test_regret"]),
            format_interval(s["duplicate_or_noop_fraction"], 2),
            format_interval(s["agent_seconds"], 2),
        )
    console.print(table)
    if best["validation"] is not None:
        console.print(f"table best: validation {best['validation']:.3f}, test {best['test']:.3f}", highlight=False)
    shown = ", ".join(str(p) for p in paths.values() if p)
    console.print(f"wrote {shown}" + ("" if paths["png"] else " (no plot: pip install matplotlib)"), highlight=False)
    return 0


COMMANDS = {
    "run": cmd_run,
    "config": cmd_config,
    "status": cmd_status,
    "predict": cmd_predict,
    "report": cmd_report,
    "replay": cmd_replay,
    "eval": cmd_eval,
    "actions": cmd_actions,
    "export": cmd_export,
    "plugins": cmd_plugins,
    "arena": cmd_arena,
}

if __name__ == "__main__":
    sys.exit(main())
