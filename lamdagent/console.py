"""The run as a person watches it in a terminal: rich output from the loop's observer hooks, and the result.

Every user-controlled string (specs, errors, names) is escaped, so a name like `[/x]` prints as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from lamdagent.evaluation.base import primary_value, wilson_interval
from lamdagent.ledger import TrialRecord
from lamdagent.observer import RunObserver, RunSummary
from lamdagent.spec import ActionSpec, spec_text


def format_metrics(
    metrics: dict[str, dict[str, float]], primary: dict[str, str] | None = None, items: dict[str, int] | None = None
) -> str:
    """`tool_use 0.250  instruction_following 0.304`: each task's objective metric; with `items` (task -> how
    many were scored) each value also gets its 95% interval, since a few dozen items move scores by whole items."""
    parts = []
    for task, values in metrics.items():
        value = primary_value(values, (primary or {}).get(task))
        if value is None:
            continue
        n = (items or {}).get(task)
        if n:
            lo, hi = wilson_interval(value, n)
            parts.append(f"{task} {value:.3f} [{lo:.2f}, {hi:.2f}] n={n}")
        else:
            parts.append(f"{task} {value:.3f}")
    return "  ".join(parts)


class ConsoleObserver(RunObserver):
    """Prints each trial as it starts and ends, and keeps a live status line while trials run."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._status: Status | None = None

    def evaluating_base(self, model_id: str, name: str | None) -> None:
        self.console.print(f"[bold]Evaluating initial model[/] {escape(model_id)} ({escape(name or '')}) …")

    def bases(self, entries: dict[str, dict[str, Any]], primary: dict[str, str]) -> None:
        for mid, entry in entries.items():
            metrics = escape(format_metrics(entry["metrics"], primary))
            self.console.print(f"  {escape(mid)}: score {entry['score']:.3f}  {metrics}")

    def launched(self, trial: TrialRecord, text: str) -> None:
        self.console.print(f"[bold cyan]\\[{trial.iteration}][/] {escape(text)}")
        if trial.fallback:
            self.console.print(
                f"    [bold yellow]the agent gave no valid answer; a random action was run instead:[/] "
                f"{escape(trial.rationale or '')}"
            )

    def duplicate(self, spec: ActionSpec, text: str) -> None:
        self.console.print(f"[yellow]skipped a duplicate proposal[/] {escape(text)}")

    def ended(self, trial: TrialRecord, best: TrialRecord | None, budget: str, primary: dict[str, str]) -> None:
        if trial.state == "finished":
            tag = " (cached)" if trial.cached else ""
            self.console.print(
                f"    → [green]{escape(trial.output_model or '')}[/]{tag} score {trial.score:.3f}  "
                f"{escape(format_metrics(trial.metrics, primary))}"
                f"  [dim]{trial.timings.get('wall_s', 0):.0f} s[/]"
            )
        else:
            self.console.print(f"    → [red]{escape(str(trial.state))}[/]: {escape(trial.error or '')}")
        if best is not None and best.score is not None:
            self.console.print(
                f"    best so far: {escape(best.output_model or '')} ({best.score:.3f}); budget left: {budget}"
            )

    def final_test(self, model_id: str) -> None:
        self.console.print(f"[bold]Scoring {escape(model_id)} on the test split[/] (one of the best on validation) …")

    def waiting(self, status: str) -> None:
        if self._status is None:
            self._status = self.console.status("")
            self._status.start()
        self._status.update(escape(status))

    def stopped(self, reason: str) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def print_summary(summary: RunSummary, console: Console) -> None:
    """The result of a run: the best pipeline, its scores beside the base's, and where the model is."""
    console.rule("result")
    primary = summary.primary_metrics
    base = summary.base.get(next(iter(summary.base), ""), {})
    console.print(f"stopped by: {summary.stopped_by}; {summary.trials} trials in {summary.elapsed_s:.0f} s")
    if summary.fallbacks:
        console.print(
            f"[bold yellow]the agent failed on {summary.fallbacks} of {summary.trials} choices[/]: random actions "
            "ran instead (an unreachable LLM server, or answers that were never valid); see `lamdagent status`"
        )
    if summary.best is None:
        if summary.trials == 0:
            console.print(
                "no trial ran: the policy proposed no action (every choice of the space was tried already, or "
                "the pool offers none: check `actions`, `datasets` and `grids`)"
            )
        else:
            console.print(f"no trial finished; see the errors with `lamdagent status {escape(str(summary.run_dir))}`")
        return
    best = summary.best
    steps = (spec_text(s, summary.grids.get(s.action, {})) for s in summary.pipeline)
    console.print("best pipeline: " + escape(" → ".join(steps)))
    val_n, test_n = summary.items.get("validation"), summary.items.get("test")
    table = Table("model", "objective", "validation (95% interval)", "test (95% interval)")
    table.add_row(
        "base",
        f"{base.get('score', 0):.3f}",
        escape(format_metrics(base.get("metrics", {}), primary, val_n)),
        escape(format_metrics(base.get("test_metrics", {}), primary, test_n)),
    )
    table.add_row(
        escape(best.output_model or ""),
        f"{best.score:.3f}",
        escape(format_metrics(best.metrics, primary, val_n)),
        escape(format_metrics(best.test_metrics, primary, test_n) or "not scored on test"),
    )
    console.print(table)
    console.print(escape(tradeoff(summary)))
    if "score" in base and best.score is not None and best.score <= base["score"]:
        console.print(
            f"[yellow]no trial beat the base model[/] on validation ({best.score:.3f} ≤ {base['score']:.3f}): "
            f"keep the base, or give the run more (`lamdagent run --resume --run-dir {escape(str(summary.run_dir))} "
            "--budget N --wall-clock S`)"
        )
    console.print(f"model: {escape(str(Path(summary.run_dir) / 'models' / (best.output_model or '')))}")
    console.print(f"run:   {escape(str(summary.run_dir))}  (lamdagent report {escape(str(summary.run_dir))})")


def tradeoff(summary: RunSummary) -> str:
    """The result in one line: per task, what the best model gained or lost against the base on test (on
    validation where test was not scored), and whether the constraints held."""
    best = summary.best
    base = summary.base.get(next(iter(summary.base), ""), {})
    if best is None:
        return ""
    split, mine, theirs = "test", best.test_metrics, base.get("test_metrics", {})
    gains = summary.test_gains
    if not mine:
        split, mine, theirs, gains = "validation", best.metrics, base.get("metrics", {}), {}
    parts = []
    for task in mine:
        a = primary_value(mine.get(task), summary.primary_metrics.get(task))
        b = primary_value(theirs.get(task), summary.primary_metrics.get(task))
        if a is not None and b is not None:
            low, high = (gains.get(task) or {}).get("low"), (gains.get(task) or {}).get("high")
            span = f" [{low:+.2f}, {high:+.2f}]" if low is not None and high is not None else ""
            parts.append(f"{task} {a - b:+.3f}{span}")
    feasible = best.score is not None and best.score > -1.0
    kept = "constraints kept" if feasible else "a constraint is broken"
    where = f"{split} (paired 95% intervals)" if any(g.get("low") is not None for g in gains.values()) else split
    return f"against the base on {where}: " + ", ".join(parts) + f"; on validation {kept}"
