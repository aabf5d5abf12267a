"""Replay: re-run a run's best pipelines at another data scale or on another base model, and compare ranks.

This is the paper's check that exploring on a fraction of the data finds the pipeline that full data would:
if the Spearman correlation of old and new scores is high, the cheap search transferred.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lamdagent.config import RunConfig
from lamdagent.errors import LamdagentError
from lamdagent.ledger import TrialRecord
from lamdagent.loop import Loop
from lamdagent.runinfo import load_run
from lamdagent.spec import spec_text


@dataclass
class ReplayResult:
    rows: list[dict[str, Any]]  # one per pipeline: old model/score, new model/score, the steps
    spearman: float | None
    new_run_dir: Path


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation with average ranks for ties; None when it is undefined."""
    if len(xs) != len(ys) or len(xs) < 2:
        return None

    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        out = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx) ** 0.5
    vy = sum((b - my) ** 2 for b in ry) ** 0.5
    return None if vx == 0 or vy == 0 else cov / (vx * vy)


def replay(
    run_dir: Path,
    new_run_dir: Path,
    top: int = 3,
    data_scale: float | None = None,
    base_model: str | None = None,
    console: Console | None = None,
) -> ReplayResult:
    """Run the `top` best models' pipelines again (shared steps once) and compare the two rankings."""
    console = console or Console()
    run = load_run(run_dir)
    cfg = RunConfig.model_validate(run.config)
    ranked: list[TrialRecord] = []
    for t in sorted(run.finished(), key=lambda t: (-(t.score or 0.0), t.id)):
        if t.score is not None and t.output_model not in {r.output_model for r in ranked}:
            ranked.append(t)
    chosen = ranked[:top]
    if not chosen:
        raise LamdagentError(f"{run_dir} has no finished trial to replay")
    if base_model is not None and len(cfg.base_models) != 1:
        raise LamdagentError("--base-model replaces a single initial model; this run had several")
    steps, step_of = run.build_steps([t.output_model or "" for t in chosen])
    raw = cfg.model_dump(mode="json")
    raw.update(
        data_scale=data_scale if data_scale is not None else cfg.data_scale,
        base_models=[base_model] if base_model else cfg.base_models,
        policy={"name": "fixed", "pipeline": steps, "llm": cfg.policy_options().llm},
        budget={**raw["budget"], "iterations": len(steps), "wall_clock_s": None, "llm_tokens": None},
    )
    new_cfg = RunConfig.model_validate(raw)
    console.print(f"replaying {len(chosen)} pipeline(s), {len(steps)} step(s), into {new_run_dir}")
    loop = Loop.open(new_cfg, new_run_dir, console=console)
    loop.run()
    by_iteration = {t.iteration: t for t in loop.ledger.trials()}
    rows: list[dict[str, Any]] = []
    pairs: list[tuple[float, float]] = []
    for trial in chosen:
        new = by_iteration.get(step_of[trial.output_model or ""])
        if new is not None and new.state == "finished" and new.score is not None and trial.score is not None:
            pairs.append((trial.score, new.score))
        rows.append(
            {
                "pipeline": " → ".join(spec_text(s) for s in run.pipeline(trial.output_model or "")),
                "old_model": trial.output_model,
                "old_score": trial.score,
                "new_model": new.output_model if new else None,
                "new_score": new.score if new and new.state == "finished" else None,
            }
        )
    rho = spearman([old for old, _ in pairs], [new for _, new in pairs])
    loop.ledger.set_meta("replay", {"source": str(run_dir), "rows": rows, "spearman": rho})
    return ReplayResult(rows=rows, spearman=rho, new_run_dir=new_run_dir)


def print_replay(result: ReplayResult, console: Console) -> None:
    table = Table("pipeline", "old score", "new score")
    for r in result.rows:
        new = "failed" if r["new_score"] is None else f"{r['new_score']:.3f}"
        table.add_row(escape(r["pipeline"]), f"{r['old_score']:.3f}", new)
    console.print(table)
    rho = (
        "undefined (fewer than two pipelines, or ties everywhere)"
        if result.spearman is None
        else f"{result.spearman:.3f}"
    )
    console.print(f"Spearman rank correlation: {rho}")
