"""The LaMDAgent loop: enumerate, select, run and evaluate, update memory; repeat within the budget.

The ledger is the only state: every decision is recorded before it is acted on and every result before it is
shown, so a run killed at any moment resumes from the ledger alone (`lamdagent run --resume`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from lamdagent.config import RunConfig
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.objective import Constraint, Objective, ObjectiveResult
from lamdagent.execution.executor import Executor, Handle, LocalExecutor
from lamdagent.execution.job import Job, JobResult
from lamdagent.ledger import Ledger, TrialRecord
from lamdagent.models.loading import resolve_model
from lamdagent.models.store import ModelStore
from lamdagent.policies.base import POLICIES, Policy, PolicyView, Proposal
from lamdagent.policies.llm import spec_text
from lamdagent.pool import Pool
from lamdagent.runinfo import load_run
from lamdagent.spec import ActionSpec, DatasetRef, ModelRef

BASE_ID = "base"


def base_ids(names: list[str]) -> list[str]:
    """Neutral ids for the initial models: `base`, or `base1`, `base2`, … when there are several."""
    return [BASE_ID] if len(names) == 1 else [f"{BASE_ID}{i + 1}" for i in range(len(names))]


def weights_fingerprint(path: Path) -> str:
    """Cheap identity of a model directory: config plus size and head of every weight file."""
    h = hashlib.sha256((path / "config.json").read_bytes())
    for f in sorted(path.glob("*.safetensors")):
        h.update(f.name.encode())
        h.update(str(f.stat().st_size).encode())
        with open(f, "rb") as fh:
            h.update(fh.read(1 << 22))
    return h.hexdigest()[:16]


def materialise_datasets(cfg: RunConfig, data_dir: Path) -> dict[str, DatasetRef]:
    """Write every configured dataset as canonical JSONL in the run; mixes concatenate their parts."""
    from lamdagent.data.formats import materialise

    refs: dict[str, DatasetRef] = {}
    for d in cfg.datasets:
        if d.mix is None:
            source = d.source or ""
            if "{data_dir}" in source:
                if not cfg.data_dir:
                    raise LamdagentError(
                        f"dataset {d.name!r}: its source uses {{data_dir}}; set data_dir in the config"
                    )
                source = source.replace("{data_dir}", cfg.data_dir)
            refs[d.name] = materialise(
                source,
                d.kind,
                data_dir,
                d.name,
                format=d.format,
                size=d.size,
                seed=cfg.seed,
                data_scale=cfg.data_scale,
                split=d.split,
                description=d.description,
            )
    for d in cfg.datasets:
        if d.mix is not None:
            refs[d.name] = _mix(d.name, d.kind, [refs[m] for m in d.mix], data_dir, d.description)
    return {d.name: refs[d.name] for d in cfg.datasets}


def _mix(name: str, kind: str, parts: list[DatasetRef], data_dir: Path, description: str) -> DatasetRef:
    """Interleave the parts row by row, so every prefix holds a share of each."""
    rows_by_part = [Path(p.path).read_text().splitlines() for p in parts]
    lines = [rows[i] for i in range(max(map(len, rows_by_part))) for rows in rows_by_part if i < len(rows)]
    data = ("\n".join(lines) + "\n").encode()
    path = data_dir / f"{name}.jsonl"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return DatasetRef(
        id=name,
        kind=kind,
        path=str(path),
        fingerprint=hashlib.sha256(data).hexdigest()[:16],
        rows=len(lines),
        description=description or "mix of " + ", ".join(p.id for p in parts),
    )


def build_objective(cfg: RunConfig, primary: dict[str, str]) -> Objective:
    return Objective(
        weights={t.name: t.weight for t in cfg.tasks},
        constraints=[Constraint(task=c.task, min_delta=c.min_delta, min=c.min) for c in cfg.constraints],
        primary=primary,
    )


@dataclass
class RunSummary:
    run_dir: Path
    best: TrialRecord | None
    base: dict[str, Any]
    trials: int
    stopped_by: str
    elapsed_s: float
    pipeline: list[ActionSpec] = field(default_factory=list)


class Loop:
    """One run. Construct, then `run()`; `resume=True` continues a stopped or killed run directory."""

    def __init__(
        self,
        cfg: RunConfig,
        run_dir: str | Path,
        resume: bool = False,
        executor: Executor | None = None,
        console: Console | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.console = console or Console()
        self.ledger = Ledger(self.run_dir)
        stored = self.ledger.get_meta("config")
        if stored is not None and not resume:
            raise LamdagentError(
                f"{self.run_dir} already holds a run; continue it with --resume or pick a new --run-dir"
            )
        if stored is None:
            self.ledger.set_meta("config", cfg.model_dump(mode="json"))
            self.ledger.set_meta("elapsed_s", 0.0)
            (self.run_dir / "config.yaml").write_text(_yaml(cfg.model_dump(mode="json")))
        else:
            # resuming: the stored run definition wins, but budget, policy and executor may be changed
            stored_cfg = RunConfig.model_validate(stored)
            cfg = stored_cfg.model_copy(update={"budget": cfg.budget, "executor": cfg.executor, "policy": cfg.policy})
            self.ledger.set_meta("config", cfg.model_dump(mode="json"))
        self.cfg = cfg
        recovered = self.ledger.recover(stale_after_s=float("inf"))
        if recovered:
            self.ledger.log_event("resume", {"interrupted_trials": recovered})
        self.store = ModelStore(self.run_dir / "models")
        self.store.clean_partial()
        self.executor = executor or LocalExecutor.from_config(cfg.executor)
        self.pool = self._build_pool()
        self.policy = policy or POLICIES.get(cfg.policy.name)(cfg.policy.options(), cfg.seed)
        self._t0 = time.time()
        self._elapsed_before = float(self.ledger.get_meta("elapsed_s", 0.0))

    # -- set-up -------------------------------------------------------------------------------------
    def _build_pool(self) -> Pool:
        data_dir = self.run_dir / "data"
        data_dir.mkdir(exist_ok=True)
        datasets = materialise_datasets(self.cfg, data_dir)
        pool = Pool(
            actions=list(self.cfg.actions),
            datasets=datasets,
            grids=self.cfg.grids,
            fixed_params=self.cfg.params,
        )
        base_models = []
        for mid, name in zip(base_ids(self.cfg.base_models), self.cfg.base_models, strict=True):
            path = resolve_model(name)
            ref = ModelRef(id=mid, path=str(path), fingerprint=weights_fingerprint(path), name=name)
            pool.add_model(ref)
            base_models.append({"id": mid, "name": name, "path": str(path)})
        self.ledger.set_meta("base_models", base_models)
        for trial in self.ledger.trials("finished"):
            self._add_output(pool, trial)
        return pool

    def _add_output(self, pool: Pool, trial: TrialRecord) -> None:
        if trial.output_model and trial.output_model not in pool.models:
            spec = trial.spec
            parents = tuple(
                i for v in spec.inputs.values() for i in (v if isinstance(v, list) else [v]) if i in pool.models
            )
            pool.add_model(
                ModelRef(
                    id=trial.output_model,
                    path=str(self.store.path(trial.output_model)),
                    fingerprint=spec.spec_hash(),
                    parents=parents,
                    action=spec.action,
                )
            )

    # -- evaluation of the initial models -----------------------------------------------------------
    def _job(
        self,
        trial_id: int | None,
        spec: ActionSpec | None,
        model_id: str,
        inputs: dict[str, Any],
        model_path: str | None = None,
    ) -> Job:
        name = f"trial-{trial_id:04d}" if trial_id is not None else f"eval-{model_id}"
        return Job(
            trial_id=trial_id,
            job_dir=str(self.run_dir / "jobs" / name),
            store_root=str(self.store.root),
            spec=spec.model_dump(mode="json") if spec else None,
            model_id=model_id,
            inputs=inputs,
            tasks=[t.model_dump(mode="json") for t in self.cfg.tasks],
            eval=self.cfg.eval.model_dump(mode="json"),
            model_path=model_path,
            data_dir=self.cfg.data_dir,
        )

    def evaluate_bases(self) -> dict[str, Any]:
        """Score each initial model once; the first is the reference of relative constraints."""
        base = self.ledger.get_meta("base") or {}
        for ref in [m for m in self.pool.models.values() if m.action is None]:
            if ref.id in base:
                continue
            self.console.print(f"[bold]Evaluating initial model[/] {ref.id} ({ref.name}) …")
            result = self.executor.run(self._job(None, None, ref.id, {}, model_path=ref.path))
            if not result.ok:
                raise LamdagentError(
                    f"evaluating the initial model {ref.name!r} failed: {result.error}; "
                    f"see {self.run_dir / 'jobs' / f'eval-{ref.id}' / 'worker.log'}"
                )
            self.ledger.set_meta("primary_metrics", result.stats.get("primary_metrics", {}))
            base[ref.id] = {
                "metrics": result.metrics,
                "test_metrics": result.test_metrics,
                "timings": result.timings,
            }
            self.ledger.set_meta("base", base)
        objective = self.objective()
        ref_metrics = self.reference_metrics()
        for entry in base.values():
            res = objective.score(entry["metrics"], reference=ref_metrics)
            entry["score"], entry["feasible"] = res.score, res.feasible
        self.ledger.set_meta("base", base)
        return base

    def objective(self) -> Objective:
        return build_objective(self.cfg, self.ledger.get_meta("primary_metrics", {}))

    def reference_metrics(self) -> dict[str, dict[str, float]]:
        base = self.ledger.get_meta("base") or {}
        first = base_ids(self.cfg.base_models)[0]
        return base.get(first, {}).get("metrics", {})

    # -- budget -------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self._elapsed_before + (time.time() - self._t0)

    def budget_left(self) -> dict[str, float | int | None]:
        b = self.cfg.budget
        n = len(self.ledger.trials())
        return {
            "iterations": None if b.iterations is None else b.iterations - n,
            "wall_clock_s": None if b.wall_clock_s is None else b.wall_clock_s - self.elapsed(),
            "llm_tokens": None if b.llm_tokens is None else b.llm_tokens - self.ledger.total_llm_tokens(),
        }

    def exhausted(self) -> str | None:
        """The budget that stops new launches. The wall clock also stops a launch that would, at the mean
        duration of the trials so far, end past it: the run should end within its budget, not start late."""
        for kind, left in self.budget_left().items():
            if left is not None and left <= 0:
                return kind
        left = self.budget_left()["wall_clock_s"]
        walls = [t.timings["wall_s"] for t in self.ledger.trials("finished") if not t.cached and "wall_s" in t.timings]
        if left is not None and walls and left < sum(walls) / len(walls):
            return "wall_clock_s"
        return None

    # -- the loop -----------------------------------------------------------------------------------
    def view(self) -> PolicyView:
        finished = self.ledger.trials()
        running = [self._in_flight[h].spec for h in self._in_flight]
        seen = {t.spec_hash for t in finished if t.state == "finished" or not (t.error or "").startswith("interr")}
        seen |= {s.spec_hash() for s in running}
        base = self.ledger.get_meta("base") or {}
        scores = {mid: e["score"] for mid, e in base.items()}
        scores.update(
            {
                t.output_model: t.score
                for t in finished
                if t.state == "finished" and t.output_model and t.score is not None
            }
        )
        metrics = {mid: e["metrics"] for mid, e in base.items()}
        return PolicyView(
            pool=self.pool,
            candidates=self.pool.candidates(),
            history=[t for t in finished if t.state != "running"],
            running=running,
            memory=self.ledger.memory(),
            base_metrics=metrics,
            model_scores=scores,
            primary_metrics=self.ledger.get_meta("primary_metrics", {}),
            objective=self.objective().describe(),
            iteration=len(finished) + 1,
            seen_hashes=frozenset(seen),
        )

    def run(self) -> RunSummary:
        self.evaluate_bases()
        self._in_flight: dict[Handle, TrialRecord] = {}
        self._print_base()
        stopped_by = "policy"
        status = self.console.status("")
        status.start()
        try:
            while True:
                reason = self.exhausted()
                if reason is None and self.executor.free_slots() > 0:
                    view = self.view()
                    want = self.executor.free_slots()
                    if self.cfg.budget.iterations is not None:
                        want = min(want, self.cfg.budget.iterations - len(self.ledger.trials()))
                    proposals = self._distinct(self.policy.propose(view, want)) if want > 0 else []
                    for proposal in proposals:
                        self._launch(proposal)
                    if not proposals and not self._in_flight:
                        stopped_by = "policy"
                        break
                elif reason is not None and not self._in_flight:
                    stopped_by = reason
                    break
                if self._in_flight:
                    status.update(self._status_line())
                    for handle, result in self.executor.wait(timeout=2.0):
                        self._record(handle, result)
                    for trial in self._in_flight.values():
                        self.ledger.heartbeat(trial.id)
                self.ledger.set_meta("elapsed_s", self.elapsed())
        finally:
            status.stop()
            self.ledger.set_meta("elapsed_s", self.elapsed())
            self.executor.shutdown()
        self.ledger.log_event("stopped", {"by": stopped_by})
        return self.summary(stopped_by)

    def _status_line(self) -> str:
        """The live line under the log: what runs, for how long, the best so far and the budget left."""
        now = time.time()
        running = "; ".join(f"[{t.iteration}] {t.action} {now - t.started_at:.0f} s" for t in self._in_flight.values())
        best = self.best()
        best_text = f"best {best.output_model} {best.score:.3f}" if best and best.score is not None else "no best yet"
        return f"running {running} | {best_text} | budget left: {self._budget_text()}"

    def _budget_text(self) -> str:
        parts = []
        for kind, left in self.budget_left().items():
            if left is not None:
                parts.append(f"{kind} {left:.0f}" if isinstance(left, float) else f"{kind} {left}")
        return ", ".join(parts) or "unlimited"

    def _distinct(self, proposals: list[Proposal]) -> list[Proposal]:
        """Drop a proposal equal to a trial in flight or to an earlier one of the same batch.

        Policies should never make one, but a duplicate launched in parallel would compute the same model
        twice and race for its store entry; a repeat of a finished trial is still allowed (a cache hit).
        """
        busy = {t.spec_hash for t in self._in_flight.values()}
        out = []
        for proposal in proposals:
            h = proposal.spec.spec_hash()
            if h in busy:
                self.ledger.log_event(
                    "duplicate_proposal",
                    {"spec_hash": h, "action": proposal.spec.action, "llm_tokens": proposal.llm_tokens},
                )
                self.console.print(f"[yellow]skipped a duplicate proposal[/] {escape(spec_text(proposal.spec))}")
                continue
            busy.add(h)
            out.append(proposal)
        return out

    def _launch(self, proposal: Proposal) -> None:
        spec = proposal.spec
        iteration = len(self.ledger.trials()) + 1
        trial_id = self.ledger.start_trial(
            spec,
            iteration,
            rationale=proposal.rationale,
            fallback=proposal.fallback,
            llm_tokens=proposal.llm_tokens,
        )
        self.console.print(
            f"[bold cyan]\\[{iteration}][/] {escape(spec_text(spec, self.cfg.grids.get(spec.action, {})))}"
            + (" [yellow](random fallback)[/]" if proposal.fallback else "")
        )
        cached = self.ledger.finished_by_hash(spec.spec_hash())
        if cached is not None and self.store.is_complete(cached.output_model or ""):
            # the same spec on the same inputs: never computed twice
            self.ledger.finish_trial(
                trial_id,
                cached.output_model or "",
                cached.metrics,
                cached.test_metrics,
                cached.score or 0.0,
                timings={"wall_s": 0.0},
                cached=True,
            )
            self._after(self.ledger.trial(trial_id))
            return
        inputs: dict[str, Any] = {}
        for slot, value in spec.inputs.items():
            ids = value if isinstance(value, list) else [value]
            refs = [(self.pool.models.get(i) or self.pool.datasets[i]).model_dump(mode="json") for i in ids]
            inputs[slot] = refs if isinstance(value, list) else refs[0]
        handle = self.executor.submit(self._job(trial_id, spec, spec.model_id(), inputs))
        self._in_flight[handle] = self.ledger.trial(trial_id)

    def _record(self, handle: Handle, result: JobResult) -> None:
        trial = self._in_flight.pop(handle)
        if not result.ok:
            self.ledger.fail_trial(trial.id, result.error or "unknown error", result.timings)
        else:
            res: ObjectiveResult = self.objective().score(result.metrics, reference=self.reference_metrics())
            self.store.set_scores(result.output_model or "", result.metrics, result.test_metrics, res.score)
            timings = {
                **result.timings,
                **{k: float(v) for k, v in result.stats.items() if isinstance(v, int | float)},
            }
            self.ledger.finish_trial(
                trial.id,
                result.output_model or "",
                result.metrics,
                result.test_metrics,
                res.score,
                timings=timings,
            )
        self._after(self.ledger.trial(trial.id))

    def _after(self, trial: TrialRecord) -> None:
        if trial.state == "finished":
            self._add_output(self.pool, trial)
        self._print_trial(trial)
        view = self.view()
        update = self.policy.update_memory(view, trial)
        if update is not None:
            text, tokens = update
            kept = text == view.memory
            if not kept:
                self.ledger.add_memory(text, trial.id)
            self.ledger.log_event(
                "memory_update", {"tokens": tokens, "chars": len(text), "kept": kept}, trial_id=trial.id
            )

    # -- output ---------------------------------------------------------------------------------------
    def best(self) -> TrialRecord | None:
        return load_run(self.run_dir).best_trial()

    def summary(self, stopped_by: str) -> RunSummary:
        run = load_run(self.run_dir)
        best = run.best_trial()
        return RunSummary(
            run_dir=self.run_dir,
            best=best,
            base=self.ledger.get_meta("base") or {},
            trials=len(self.ledger.trials()),
            stopped_by=stopped_by,
            elapsed_s=self.elapsed(),
            pipeline=run.pipeline(best.output_model) if best and best.output_model else [],
        )

    def _print_base(self) -> None:
        for mid, entry in (self.ledger.get_meta("base") or {}).items():
            primary = self.ledger.get_meta("primary_metrics", {})
            self.console.print(f"  {mid}: score {entry['score']:.3f}  {format_metrics(entry['metrics'], primary)}")

    def _print_trial(self, trial: TrialRecord) -> None:
        best = self.best()
        primary = self.ledger.get_meta("primary_metrics", {})
        if trial.state == "finished":
            tag = " (cached)" if trial.cached else ""
            self.console.print(
                f"    → [green]{trial.output_model}[/]{tag} score {trial.score:.3f}  "
                f"{format_metrics(trial.metrics, primary)}"
                f"  [dim]{trial.timings.get('wall_s', 0):.0f} s[/]"
            )
        else:
            self.console.print(f"    → [red]failed[/]: {escape(trial.error or '')}")
        if best is not None:
            self.console.print(
                f"    best so far: {best.output_model} ({best.score:.3f}); budget left: {self._budget_text()}"
            )


def format_metrics(metrics: dict[str, dict[str, float]], primary: dict[str, str] | None = None) -> str:
    parts = []
    for task, values in metrics.items():
        key = (primary or {}).get(task) or next(iter(values), None)
        if key is not None:
            parts.append(f"{task} {values[key]:.3f}")
    return "  ".join(parts)


def _yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(json.loads(json.dumps(value)), sort_keys=False)
