"""The figures of a pipeline table's datasheet (docs/pipebench.md), as Markdown, from the table alone.

    python bench/pipebench_sheet.py [benchmarks/pipebench-smollm2.jsonl.gz] [--top 8]

Prints: rows per depth and action out of the space's pipelines; what the rows cost (action and evaluation
seconds, peak RSS) and the versions they were built with; per task and split the score distribution; the
objective's best pipelines on validation with their test scores; how validation and test agree (rank
correlation, and whether the best on validation is the best on test); and the space's objective on both splits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def short(signature: str, width: int = 110) -> str:
    """A signature without its default parameters' noise, cut to `width`."""
    text = signature
    for noise in (
        "batch_size=4,gradient_accumulation_steps=2,",
        ",lora_alpha=32,lora_r=0,max_length=512,max_steps=-1,num_epochs=2.0,seed=0,warmup_ratio=0.05",
        ",normalize=true,scaling=1.0,weight_first=1.0,weight_second=1.0",
        "smollm2-135m-instruct",
    ):
        text = text.replace(noise, "base" if noise == "smollm2-135m-instruct" else "")
    return text if len(text) <= width else text[: width - 1] + "…"


def sheet(path: Path, top: int) -> str:
    from lamdagent.arena import score_table
    from lamdagent.benchmarks.space import enumerate_pipelines
    from lamdagent.benchmarks.table import read_table
    from lamdagent.config import RunConfig
    from lamdagent.replay import spearman

    table = read_table(path)
    rows = list(table.rows.values())
    space = RunConfig.model_validate(table.header.space)
    pipelines = enumerate_pipelines(
        space.base_models,
        {d.name: d.kind for d in space.datasets},
        space.actions,
        space.grids,
        space.params,
        table.header.max_depth or 2,
    )
    want = Counter((p.depth, p.action or "initial") for p in pipelines)
    have = Counter((r.depth, r.action or "initial") for r in rows)
    out = [f"## {table.header.name}: {len(rows)} of {len(pipelines)} pipelines", ""]
    out += ["| depth | action | rows | of |", "|---:|---|---:|---:|"]
    out += [f"| {d} | {a} | {have.get((d, a), 0)} | {n} |" for (d, a), n in sorted(want.items())]

    action_s = [r.seconds.get("action", 0.0) for r in rows if r.depth > 0]
    eval_s = [r.seconds.get("eval", 0.0) for r in rows]
    rss = [r.peak_rss_mb for r in rows if r.peak_rss_mb is not None]
    total = sum(action_s) + sum(eval_s)
    out += [
        "",
        f"Cost: {total / 3600:.2f} hours of trials in all ({sum(action_s) / 3600:.2f} h actions, "
        f"{sum(eval_s) / 3600:.2f} h evaluation on both splits).",
    ]
    for action in sorted({r.action for r in rows if r.action}):
        mine = [r for r in rows if r.action == action]
        a = statistics.fmean(r.seconds.get("action", 0.0) for r in mine)
        e = statistics.fmean(r.seconds.get("eval", 0.0) for r in mine)
        out.append(f"- {action}: {len(mine)} rows, {a:.0f} s action and {e:.0f} s evaluation on average")
    if rss:
        out.append(f"- peak RSS: median {statistics.median(rss) / 1000:.1f} GB, max {max(rss) / 1000:.1f} GB")
    versions = rows[0].versions if rows else {}
    out.append("- built with " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    out += ["", "| task | split | items | min | median | max | base |", "|---|---|---:|---:|---:|---:|---:|"]
    base = table.base_rows()[0] if table.base_rows() else None
    for task in [t.name for t in space.tasks]:
        metric = table.primary_metric(task)
        for split in ("validation", "test"):
            values = [r.scores.get(split, {}).get(task, {}).get(metric) for r in rows]
            values = [v for v in values if v is not None]
            n = len(base.items.get(split, {}).get(task, [])) if base else 0
            b = base.scores.get(split, {}).get(task, {}).get(metric) if base else None
            if values:
                out.append(
                    f"| {task} ({metric}) | {split} | {n} | {min(values):.3f} | {statistics.median(values):.3f} | "
                    f"{max(values):.3f} | {'' if b is None else f'{b:.3f}'} |"
                )

    scores = score_table(table)
    feasible = {s: v for s, v in scores.validation.items() if v > -1}
    out += [
        "",
        f"The objective ({space.tasks[0].name} subject to the constraints): "
        f"{len(feasible)} of {len(scores.validation)} rows feasible on validation.",
        "",
    ]
    out += ["| # | pipeline | depth | val | test |", "|---:|---|---:|---:|---:|"]
    ranked = sorted(scores.validation, key=lambda s: -scores.validation[s])
    for k, sig in enumerate(ranked[:top], 1):
        test = scores.test.get(sig)
        out.append(
            f"| {k} | `{short(sig)}` | {table.rows[sig].depth} | {scores.validation[sig]:.3f} | "
            f"{'' if test is None else f'{test:.3f}'} |"
        )
    both = [s for s in scores.validation if s in scores.test]
    rho = spearman([scores.validation[s] for s in both], [scores.test[s] for s in both])
    best_test = max(both, key=lambda s: scores.test[s]) if both else None
    out += [
        "",
        f"Validation against test over {len(both)} rows: Spearman "
        f"{'-' if rho is None else f'{rho:.2f}'}; the best on test is "
        f"`{short(best_test) if best_test else '-'}` ({scores.test.get(best_test or '', float('nan')):.3f}).",
    ]
    return "\n".join(out)


def plot(path: Path, out: Path) -> Path:
    """Validation against test per row for each task (colour: depth), and the objective's two splits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lamdagent.arena import score_table
    from lamdagent.benchmarks.table import read_table

    table = read_table(path)
    tasks = sorted({t for r in table.rows.values() for t in r.scores.get("validation", {})})
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(4.2 * (len(tasks) + 1), 4))
    colours = {0: "black", 1: "tab:blue", 2: "tab:orange", 3: "tab:green"}
    for ax, task in zip(axes, tasks, strict=False):
        for r in table.rows.values():
            metric = table.primary_metric(task, r.scores["validation"].get(task))
            v = r.scores.get("validation", {}).get(task, {}).get(metric)
            t = r.scores.get("test", {}).get(task, {}).get(metric)
            if v is not None and t is not None:
                ax.scatter(v, t, s=18, color=colours.get(r.depth, "grey"), alpha=0.7)
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.5)
        ax.set_title(task)
        ax.set_xlabel("validation")
        ax.set_ylabel("test")
    scores = score_table(table)
    both = [s for s in scores.validation if s in scores.test]
    ax = axes[-1]
    ax.scatter([scores.validation[s] for s in both], [scores.test[s] for s in both], s=18, alpha=0.7,
               c=[colours.get(table.rows[s].depth, "grey") for s in both])  # fmt: skip
    ax.set_title("objective (infeasible: below 0)")
    ax.set_xlabel("validation")
    ax.set_ylabel("test")
    for depth, colour in colours.items():
        ax.scatter([], [], color=colour, label=f"depth {depth}")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{table.header.name}: {len(table.rows)} pipelines")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", nargs="?", default=str(REPO / "benchmarks" / "pipebench-smollm2.jsonl.gz"))
    p.add_argument("--top", type=int, default=8, help="best pipelines listed")
    p.add_argument("--plot", help="also draw validation against test per row into this PNG")
    args = p.parse_args(argv)
    print(sheet(Path(args.table), args.top))
    if args.plot:
        print(f"\n![validation against test]({plot(Path(args.table), Path(args.plot))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
