"""The arena: search policies compared on a pipeline table, many seeds each, in minutes on a CPU.

Every policy x seed is a real `Loop` (the same ledger, pool, budget and duplicate guard as `lamdagent run`)
over the table's space, under the `table` executor, in a temporary run directory. Per policy it reports the
mean over seeds with a 95% bootstrap interval of:

- the best validation score so far after 5, 10 and 20 trials (the initial model counts as trial 0: a search
  keeps the base when nothing beats it);
- the test score of the model the run would ship (the best by validation, the initial model included);
- the regret: the table's best validation score minus the shipped model's, both as the table records them
  (without the bootstrap noise the policy saw), and the same on test against the table's best-by-validation;
- the fraction of trials that repeat an earlier pipeline of the run (by signature) or are no-ops;
- the seconds the policy itself spent choosing (and rewriting its memory), and the virtual seconds the trials
  would have taken.

A policy written `NAME+screenK` (e.g. `tpe+screen4`) proposes K candidates per trial and the lineage predictor
runs the best predicted one (`policy.screen`); its fitting counts as the policy's seconds.

With `surrogate=D`, pipelines up to depth D are allowed and those the table lacks (deeper than it was built,
or not built yet) are answered by the lineage predictor and counted as `predicted`; without it the pool's
`max_depth` (the table's) keeps every policy inside the table.

With `bootstrap` (the default) each seed also sees its own resample of the evaluation items, so even a
deterministic policy shows the spread that evaluation noise causes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lamdagent.benchmarks.table import Table, read_table
from lamdagent.config import RunConfig
from lamdagent.errors import LamdagentError, one_line
from lamdagent.evaluation.base import bootstrap_interval
from lamdagent.evaluation.objective import Objective, objective_from_config
from lamdagent.execution.table import TableExecutor
from lamdagent.ledger import TrialRecord
from lamdagent.loop import Loop
from lamdagent.models.loading import hash_size_and_head, weights_fingerprint
from lamdagent.observer import RunObserver
from lamdagent.policies.base import POLICIES, Policy, PolicyView, Proposal, make_policy
from lamdagent.policies.llm import LLMPolicy, prompts_fingerprint
from lamdagent.runinfo import load_run
from lamdagent.signature import signatures_of_run, spec_canonical

CHECKPOINTS = (5, 10, 20)
CURVE_POINTS = 50
INTERVAL_RESAMPLES = 2000


class TimedPolicy(Policy):
    """Wraps a policy to count the seconds it spends choosing and rewriting its memory."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.seconds = 0.0

    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        t0 = time.perf_counter()
        try:
            return self.inner.propose(view, n)
        finally:
            self.seconds += time.perf_counter() - t0

    def update_memory(self, view: PolicyView, trial: TrialRecord) -> tuple[str, int] | None:
        t0 = time.perf_counter()
        try:
            return self.inner.update_memory(view, trial)
        finally:
            self.seconds += time.perf_counter() - t0


@dataclass
class ArenaRun:
    """One policy x seed: its curves and what it would ship."""

    policy: str
    seed: int
    trials: int
    stopped_by: str
    best_so_far: list[float]  # index k: best validation score after k trials (k = 0: the initial model)
    end_seconds: list[float]  # index k: virtual seconds when trial k ended (0 for the initial model)
    shipped_signature: str | None
    shipped_validation: float | None  # as the run saw it
    shipped_test: float | None
    regret: float | None  # on the table's exact values
    test_regret: float | None
    duplicates: int
    noops: int
    failed: int
    fallbacks: int
    predicted: int  # trials the surrogate answered (pipelines outside the table)
    agent_seconds: float
    virtual_seconds: float
    wall_seconds: float


@dataclass
class TableScores:
    """The table's rows scored by the space's objective, without any resampling."""

    validation: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    best_signature: str | None = None

    @property
    def best_validation(self) -> float | None:
        return self.validation.get(self.best_signature) if self.best_signature else None

    @property
    def best_test(self) -> float | None:
        return self.test.get(self.best_signature) if self.best_signature else None


def _objective(table: Table) -> Objective:
    return objective_from_config(table.header.space, table.header.primary_metrics)


def score_table(table: Table) -> TableScores:
    """Every row's objective score on both splits (relative bounds measured against the initial model's row)."""
    objective = _objective(table)
    bases = table.base_rows()
    out = TableScores()
    for split in ("validation", "test"):
        reference = bases[0].scores.get(split) if bases else None
        target = out.validation if split == "validation" else out.test
        for sig, row in table.rows.items():
            metrics = row.scores.get(split)
            if not metrics:
                continue
            try:
                target[sig] = objective.score(metrics, reference=reference).score
            except LamdagentError:
                continue
    if out.validation:
        out.best_signature = max(out.validation, key=lambda s: (out.validation[s], s))
    return out


def arena_config(
    table: Table,
    policy: str,
    seed: int,
    budget: int,
    bootstrap: bool,
    llm: Mapping[str, Any] | None = None,
    surrogate: int = 0,
) -> RunConfig:
    """The run config of one arena run: the table's space, this policy and seed, `budget` trials; `llm`, where
    given, is the agent LLM of LLM-driven policies (else the space's)."""
    policy, _, screened = policy.partition("+screen")  # e.g. tpe+screen4: tpe, 4 candidates per trial, screened
    if screened and not screened.isdigit():
        raise LamdagentError(
            f"arena: {policy}+screen{screened}: write the candidates as a number, e.g. {policy}+screen4"
        )
    space = dict(table.header.space)
    if not space:
        raise LamdagentError(f"{table.path}: the table's header holds no space config; rebuild it with a header")
    given = dict(space.get("policy") or {})
    if given.get("name") == policy:
        options = {k: v for k, v in given.items() if k != "name"}
    else:
        options = {"llm": given["llm"]} if "llm" in given else {}
    if llm is not None:
        options["llm"] = dict(llm)
    if screened:
        options["screen"] = int(screened)
    if policy == "fixed" and "pipeline" not in options:
        raise LamdagentError(
            f"arena: the fixed policy needs a pipeline; the space of {table.path} has none "
            "(give it `policy: {name: fixed, pipeline: [...]}`)"
        )
    if surrogate:
        space["max_depth"] = surrogate  # deeper than the table: the surrogate answers what it lacks
    elif space.get("max_depth") is None and table.header.max_depth:
        space["max_depth"] = table.header.max_depth  # the pool offers nothing the table cannot answer
    space.update(
        policy={"name": policy, **options},
        budget={"iterations": budget},
        executor={
            "kind": "table",
            "path": str(table.path),
            "bootstrap": bootstrap,
            "seed": seed,
            "surrogate": bool(surrogate),
        },
        seed=seed,
    )
    try:
        return RunConfig.model_validate(space)
    except ValidationError as exc:
        raise LamdagentError(one_line(exc, f"{table.path} (space)")) from None


def run_one(
    table: Table,
    scores: TableScores,
    policy: str,
    seed: int,
    budget: int,
    bootstrap: bool,
    run_dir: Path,
    llm: Mapping[str, Any] | None = None,
    surrogate: int = 0,
) -> ArenaRun:
    """One policy x seed as a real loop under the table executor (see the module docstring)."""
    started = time.perf_counter()
    cfg = arena_config(table, policy, seed, budget, bootstrap, llm, surrogate)
    timed = TimedPolicy(make_policy(cfg.policy.name, cfg.policy.options(), seed))
    executor = TableExecutor(table.path, bootstrap=bootstrap, seed=seed, table=table, surrogate=bool(surrogate))
    loop = Loop.open(cfg, run_dir, policy=timed, executor=executor, observer=RunObserver())
    try:
        summary = loop.run()
    finally:
        loop.ctx.close()
    run = load_run(run_dir)
    objective = _objective(table)
    base_sigs = {mid: executor.initial_signature(mid, b.path, b.name) for mid, b in run.bases.items()}
    models, by_trial = signatures_of_run(run.trials, base_sigs)
    first = next(iter(run.bases.values()))
    best = first.score if first.score is not None else -math.inf
    incumbent: tuple[str | None, float, dict[str, dict[str, float]]] = (
        base_sigs.get(first.id),
        best,
        first.test_metrics,
    )
    best_so_far, ends = [best], [0.0]
    clock = 0.0
    seen: set[str] = set(base_sigs.values())
    duplicates = noops = failed = fallbacks = predicted = 0
    for t in sorted(run.trials, key=lambda t: t.id):
        sig = by_trial.get(t.id)
        canonical = spec_canonical(t.spec, models) if sig is not None else None
        if canonical is not None and canonical.is_noop():
            noops += 1
        elif (sig is not None and sig in seen) or t.cached:
            duplicates += 1
        if sig is not None:
            seen.add(sig)
        failed += t.state == "failed"
        predicted += bool(t.timings.get("predicted"))
        fallbacks += bool(t.fallback)
        clock += float(t.timings.get("wall_s", 0.0)) if not t.cached else 0.0
        if t.state == "finished" and t.score is not None and math.isfinite(t.score) and t.score > incumbent[1]:
            incumbent = (sig, t.score, t.test_metrics)
        best_so_far.append(incumbent[1])
        ends.append(clock)
    ship_sig, ship_val, ship_test_metrics = incumbent
    try:
        reference = first.test_metrics or None
        ship_test = objective.score(ship_test_metrics, reference=reference).score if ship_test_metrics else None
    except LamdagentError:
        ship_test = None
    exact_val = scores.validation.get(ship_sig or "")
    exact_test = scores.test.get(ship_sig or "")
    return ArenaRun(
        policy=policy,
        seed=seed,
        trials=len(run.trials),
        stopped_by=summary.stopped_by,
        best_so_far=best_so_far,
        end_seconds=ends,
        shipped_signature=ship_sig,
        shipped_validation=ship_val if math.isfinite(ship_val) else None,
        shipped_test=ship_test,
        regret=_minus(scores.best_validation, exact_val),
        test_regret=_minus(scores.best_test, exact_test),
        duplicates=duplicates,
        noops=noops,
        failed=failed,
        predicted=predicted,
        fallbacks=fallbacks,
        agent_seconds=timed.seconds,
        virtual_seconds=executor.elapsed_s,
        wall_seconds=time.perf_counter() - started,
    )


def _uses_llm(policy: str) -> bool:
    try:
        cls = POLICIES.get(policy.partition("+")[0])
    except LamdagentError:
        return False  # arena_config names the unknown policy
    return isinstance(cls, type) and issubclass(cls, LLMPolicy)


def agent_identity(llm: Mapping[str, Any]) -> dict[str, Any]:
    """The `policy.llm` section as a journal keys on it: a local model file or folder by name and content.

    A path would tie the journal to one machine's layout (and write it into a committed file); the name with a
    hash of the size and first 4 MiB (a GGUF's header and first tensors) stays the same wherever the file lives
    and changes when other weights sit behind the same name.
    """
    identity = dict(llm)
    model = identity.get("model")
    path = Path(model).expanduser() if isinstance(model, str) else None
    if path is not None and path.is_file():
        digest = hashlib.sha256()
        hash_size_and_head(digest, path)
        identity["model"] = f"{path.name}#{digest.hexdigest()[:12]}"
    elif path is not None and (path / "config.json").is_file():
        identity["model"] = f"{path.name}#{weights_fingerprint(path)[:12]}"
    return identity


def _journal_runs(path: Path, settings: Mapping[str, Any]) -> dict[tuple[str, int], ArenaRun]:
    """The runs a journal holds under these settings (others are kept in the file but not reused)."""
    out: dict[tuple[str, int], ArenaRun] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            if entry.get("settings") == dict(settings):
                run = ArenaRun(**entry["run"])
                out[(run.policy, run.seed)] = run
        except (ValueError, TypeError, KeyError):
            continue  # a line cut by a kill: that run is made again
    return out


def _append_journal(path: Path, settings: Mapping[str, Any], run: ArenaRun) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"settings": dict(settings), "run": asdict(run)}) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def interval(values: Sequence[float], seed: int = 0) -> dict[str, float | None]:
    """Mean and a 95% percentile-bootstrap interval of the mean over the values (the seeds)."""
    return bootstrap_interval(values, seed=seed, resamples=INTERVAL_RESAMPLES)


def _at(curve: Sequence[float], k: int) -> float:
    """The curve after k trials; a run that stopped early keeps its last value."""
    return curve[min(k, len(curve) - 1)]


def _at_time(run: ArenaRun, t: float) -> float:
    value = run.best_so_far[0]
    for k, end in enumerate(run.end_seconds):
        if end <= t:
            value = run.best_so_far[k]
    return value


def checkpoints(budget: int) -> list[int]:
    """The trial counts reported: 5, 10 and 20 where the budget reaches them, and the budget itself."""
    return [k for k in CHECKPOINTS if k < budget] + [budget]


def summarise(runs: list[ArenaRun], budget: int) -> dict[str, Any]:
    """Per policy: the intervals of the module docstring and the mean curves against trials and seconds."""
    horizon = max((r.end_seconds[-1] for r in runs), default=0.0)
    grid = [horizon * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)] if horizon > 0 else [0.0]
    out: dict[str, Any] = {}
    for policy in dict.fromkeys(r.policy for r in runs):
        mine = [r for r in runs if r.policy == policy]
        trials = [max(r.trials, 1) for r in mine]
        per_trial = [interval([_at(r.best_so_far, k) for r in mine]) for k in range(budget + 1)]
        per_time = [interval([_at_time(r, t) for r in mine]) for t in grid]
        out[policy] = {
            "seeds": len(mine),
            "best_so_far": {str(k): interval([_at(r.best_so_far, k) for r in mine]) for k in checkpoints(budget)},
            "shipped_test": interval([r.shipped_test for r in mine]),  # type: ignore[misc]
            "regret": interval([r.regret for r in mine]),  # type: ignore[misc]
            "test_regret": interval([r.test_regret for r in mine]),  # type: ignore[misc]
            "duplicate_or_noop_fraction": interval(
                [(r.duplicates + r.noops) / n for r, n in zip(mine, trials, strict=True)]
            ),
            "duplicate_fraction": interval([r.duplicates / n for r, n in zip(mine, trials, strict=True)]),
            "noop_fraction": interval([r.noops / n for r, n in zip(mine, trials, strict=True)]),
            "failed_fraction": interval([r.failed / n for r, n in zip(mine, trials, strict=True)]),
            "predicted_fraction": interval([r.predicted / n for r, n in zip(mine, trials, strict=True)]),
            "agent_seconds": interval([r.agent_seconds for r in mine]),
            "virtual_seconds": interval([r.virtual_seconds for r in mine]),
            "curve_trials": {
                "trials": list(range(budget + 1)),
                **{key: [p[key] for p in per_trial] for key in ("mean", "low", "high")},
            },
            "curve_seconds": {
                "seconds": grid,
                **{key: [p[key] for p in per_time] for key in ("mean", "low", "high")},
            },
        }
    return out


def run_arena(
    table_path: str | Path,
    policies: Sequence[str],
    seeds: int,
    budget: int,
    bootstrap: bool = True,
    runs_dir: str | Path | None = None,
    progress: Callable[[ArenaRun], None] | None = None,
    llm: Mapping[str, Any] | None = None,
    surrogate: int = 0,
    journal: str | Path | None = None,
) -> dict[str, Any]:
    """Every policy x seed (0..seeds-1) on the table; the summary, the table's best and every run, as JSON data.

    Run directories go to a temporary folder, removed at the end, unless `runs_dir` keeps them. With `journal`
    (a JSONL file), each finished run is appended to it at once and a run already there under the same
    settings is read back instead of run again: a long arena (an LLM agent over many seeds) resumes after a stop.
    """
    if seeds < 1 or budget < 1:
        raise LamdagentError("arena: --seeds and --budget must be at least 1")
    if not policies:
        raise LamdagentError("arena: give at least one policy (--policies random,greedy,tpe)")
    table = read_table(table_path)
    if not table.base_rows():
        raise LamdagentError(f"{table.path}: no depth-0 row; the table must score the initial model")
    scores = score_table(table)
    runs: list[ArenaRun] = []
    started = time.perf_counter()
    settings: dict[str, Any] = {"table": table.digest, "budget": budget, "bootstrap": bootstrap}
    settings |= {"surrogate": surrogate, "llm": agent_identity(llm) if llm else None}
    if any(_uses_llm(p) for p in policies):
        settings["prompts"] = prompts_fingerprint()  # an agent's runs are reused only under the same prompts
    done = _journal_runs(Path(journal), settings) if journal else {}
    with tempfile.TemporaryDirectory(prefix="lamdagent-arena-") as tmp:
        root = Path(runs_dir) if runs_dir else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for policy in policies:
            for seed in range(seeds):
                run = done.get((policy, seed))
                if run is None:
                    run_dir = root / f"{policy}-{seed}"
                    if run_dir.exists():  # a run a stop cut short: it starts again from nothing
                        shutil.rmtree(run_dir)
                    run = run_one(table, scores, policy, seed, budget, bootstrap, run_dir, llm, surrogate)
                    if journal:
                        _append_journal(Path(journal), settings, run)
                runs.append(run)
                if progress:
                    progress(run)
    return {
        "table": str(table.path),
        "name": table.header.name,
        "rows": len(table.rows),
        "budget": budget,
        "seeds": seeds,
        "bootstrap": bootstrap,
        "checkpoints": checkpoints(budget),
        "table_best": {
            "signature": scores.best_signature,
            "validation": scores.best_validation,
            "test": scores.best_test,
            "best_test_any": max(scores.test.values(), default=None),
        },
        "policies": summarise(runs, budget),
        "runs": [asdict(r) for r in runs],
        "seconds": time.perf_counter() - started,
    }


def write_outputs(result: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path | None]:
    """`arena.json` and, where matplotlib is installed, `arena.png` in `out_dir`."""
    from lamdagent.io import write_json_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "arena.json"
    write_json_atomic(json_path, result)
    return {"json": json_path, "png": plot(result, out / "arena.png")}


def plot(result: Mapping[str, Any], path: Path) -> Path | None:
    """Best-so-far curves with their intervals against trials and against virtual seconds (None: no matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (by_trial, by_time) = plt.subplots(1, 2, figsize=(11, 4.2))
    for policy, summary in result["policies"].items():
        for ax, key, x_key in ((by_trial, "curve_trials", "trials"), (by_time, "curve_seconds", "seconds")):
            curve = summary[key]
            x = curve[x_key] if key == "curve_trials" else [s / 3600 for s in curve[x_key]]
            (line,) = ax.plot(x, curve["mean"], label=policy, drawstyle="steps-post")
            ax.fill_between(x, curve["low"], curve["high"], alpha=0.2, color=line.get_color(), step="post")
    best = result["table_best"]["validation"]
    for ax in (by_trial, by_time):
        if best is not None:
            ax.axhline(best, color="grey", linestyle=":", label="table best")
        ax.set_ylabel("best validation score so far")
        ax.grid(alpha=0.3)
    by_trial.set_xlabel("trials")
    by_time.set_xlabel("virtual hours (recorded trial seconds)")
    by_trial.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{result.get('name') or Path(result['table']).name}: {result['seeds']} seeds, 95% intervals")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def format_interval(entry: Mapping[str, Any], digits: int = 3) -> str:
    if entry.get("mean") is None:
        return "-"
    return f"{entry['mean']:.{digits}f} [{entry['low']:.{digits}f}, {entry['high']:.{digits}f}]"


__all__ = ["ArenaRun", "TimedPolicy", "format_interval", "interval", "run_arena", "summarise", "write_outputs"]
