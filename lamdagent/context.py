"""The run context: one place that turns a validated config and a run directory into the parts of a run.

`run`, `replay` and the arena all build their pool, policy, executor, ledger and model store here, through
the plug-in registries, so a new policy or executor is picked up everywhere by its name in the config.
Nothing is recorded as a started run before every part could be built: a start that fails (a missing
base model, a bad dataset file, an unreachable Ray cluster) leaves no config behind, and the corrected
command simply runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lamdagent import rundir
from lamdagent.config import RunConfig
from lamdagent.data.sets import read_datasets, write_datasets
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import Split
from lamdagent.evaluation.objective import Objective, objective_from_config
from lamdagent.execution import EXECUTORS, Executor
from lamdagent.execution.job import Job
from lamdagent.io import write_atomic
from lamdagent.ledger import Ledger, TrialRecord
from lamdagent.models.loading import resolve_model, weights_fingerprint
from lamdagent.models.store import ModelStore
from lamdagent.policies import Policy, make_policy
from lamdagent.pool import Pool
from lamdagent.spec import ActionSpec, DatasetRef, ModelRef, TaskSpec, as_ids

BASE_ID = "base"


def base_ids(names: list[str]) -> list[str]:
    """Neutral ids for the initial models: `base`, or `base1`, `base2`, … when there are several."""
    return [BASE_ID] if len(names) == 1 else [f"{BASE_ID}{i + 1}" for i in range(len(names))]


@dataclass
class RunContext:
    """Everything one run works with; build it with `RunContext.open`."""

    cfg: RunConfig
    run_dir: Path
    ledger: Ledger
    store: ModelStore
    pool: Pool
    policy: Policy
    executor: Executor
    recovered: list[int] = field(default_factory=list)  # trials found running (interrupted) on resume
    lock: rundir.RunLock | None = None  # held for the life of the run: no second process drives it

    @classmethod
    def open(
        cls,
        cfg: RunConfig,
        run_dir: str | Path,
        resume: bool = False,
        policy: Policy | None = None,
        executor: Executor | None = None,
    ) -> RunContext:
        """Start a new run in `run_dir`, or continue the one there (`resume`); see the module docstring.

        Everything that can fail on the user's input (the directory, the base models, the datasets, the
        policy's LLM settings, the executor) is checked before the directory is claimed; a start that fails
        after that (a full disk) records no config, so the same command can be run again.
        """
        run_dir = Path(run_dir)
        if resume:
            rundir.check_resume(run_dir)
        elif not _unstarted(run_dir):
            rundir.check_new(run_dir)
        bases = resolve_bases(cfg.base_models)
        rows = None if resume else read_datasets(cfg.datasets, cfg.seed, cfg.data_scale, cfg.data_dir)
        if resume and not _records_datasets(run_dir):  # a run from before the datasets were recorded
            rows = read_datasets(cfg.datasets, cfg.seed, cfg.data_scale, cfg.data_dir)
        lock = rundir.claim(run_dir, resume=resume or _unstarted(run_dir))
        ledger: Ledger | None = None
        made: Executor | None = None
        try:
            ledger = Ledger(run_dir)
            stored = ledger.get_meta("config")
            if stored is not None and not resume:
                raise LamdagentError(
                    f"{run_dir} already holds a run; continue it with --resume or pick a new --run-dir"
                )
            if resume and stored is None:
                raise LamdagentError(
                    f"--resume: {run_dir} holds no started run; start it with `lamdagent run --run-dir {run_dir}`"
                )
            if stored is not None:
                # resuming: the stored run definition wins, but budget, policy and executor may be changed
                cfg = RunConfig.model_validate(stored).model_copy(
                    update={"budget": cfg.budget, "executor": cfg.executor, "policy": cfg.policy}
                )
                bases = resolve_bases(cfg.base_models)
            made = executor or EXECUTORS.get(cfg.executor.kind).create(cfg.executor_options())
            judge_keys = tuple(
                str(t.options["judge"]["api_key_env"])
                for t in cfg.tasks
                if isinstance(t.options.get("judge"), dict) and t.options["judge"].get("api_key_env")
            )
            key_env = cfg.policy_options().llm.get("api_key_env")
            made.hidden_env = (key_env,) if key_env and key_env not in judge_keys else ()
            made.passed_env = judge_keys  # an LLM judge scores inside the worker
            policy = policy or make_policy(cfg.policy.name, cfg.policy.options(), cfg.seed)
            recovered = ledger.recover(stale_after_s=float("inf"))
            if recovered:
                ledger.log_event("resume", {"interrupted_trials": recovered})
            store = ModelStore(run_dir / "models")
            store.clean_partial()
            if rows is not None:
                datasets = write_datasets(cfg.datasets, rows, run_dir / "data")
                ledger.set_meta("datasets", {k: v.model_dump(mode="json") for k, v in datasets.items()})
            else:
                datasets = stored_datasets(ledger, run_dir)
            pool = build_pool(cfg, bases, datasets, ledger, store)
            config = cfg.model_dump(mode="json")
            if stored is None:
                ledger.set_meta("elapsed_s", 0.0)
                write_atomic(run_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
            ledger.set_meta("config", config)  # last: a run whose start failed holds no config
        except BaseException:
            if made is not None and executor is None:
                made.shutdown()
            if ledger is not None:
                ledger.close()
            lock.release()
            raise
        return cls(cfg, run_dir, ledger, store, pool, policy, made, recovered, lock)

    # -- what the loop and the policies read ------------------------------------------------------------
    def primary_metrics(self) -> dict[str, str]:
        return dict(self.ledger.get_meta("primary_metrics", {}))

    def objective(self) -> Objective:
        return objective_from_config(self.cfg.model_dump(mode="json"), self.primary_metrics())

    def bases(self) -> dict[str, dict[str, Any]]:
        """Initial model id -> its metrics, test metrics, score and feasibility (once evaluated)."""
        return dict(self.ledger.get_meta("base") or {})

    def reference_metrics(self) -> dict[str, dict[str, float]]:
        """The first initial model's validation metrics: what relative constraints are measured against."""
        first = base_ids(self.cfg.base_models)[0]
        return self.bases().get(first, {}).get("metrics", {})

    def add_output(self, trial: TrialRecord) -> None:
        """Put a finished trial's model into the pool (once)."""
        add_output(self.pool, self.store, trial)

    def job(
        self,
        trial_id: int | None,
        spec: ActionSpec | None,
        model_id: str,
        model_path: str | None = None,
        splits: tuple[Split, ...] | None = None,
    ) -> Job:
        """The job that makes (or, with no spec, only evaluates) a model, with its inputs resolved. A trial is
        scored on validation alone when the test split is kept for the end (`eval.test: final`)."""
        name = f"trial-{trial_id:04d}" if trial_id is not None else f"eval-{model_id}"
        if splits is None:
            final = spec is not None and self.cfg.eval.test == "final"
            splits = ("validation",) if final else ("validation", "test")
        inputs: dict[str, Any] = {}
        for slot, value in (spec.inputs if spec else {}).items():
            refs = [self.pool.models.get(i) or self.pool.datasets[i] for i in as_ids(value)]
            inputs[slot] = refs[0] if isinstance(value, str) else tuple(refs)
        return Job(
            trial_id=trial_id,
            job_dir=str(self.run_dir / "jobs" / name),
            store_root=str(self.store.root),
            spec=spec,
            model_id=model_id,
            inputs=inputs,
            tasks=tuple(TaskSpec(name=t.name, source=t.source, options=t.options) for t in self.cfg.tasks),
            eval=self.cfg.eval,
            model_path=model_path,
            splits=splits,
            data_dir=self.cfg.data_dir,
        )

    def release(self) -> None:
        """Stop the executor and give the run directory back (the ledger stays readable)."""
        self.executor.shutdown()
        if self.lock is not None:
            self.lock.release()

    def close(self) -> None:
        self.release()
        self.ledger.close()


def _unstarted(run_dir: Path) -> bool:
    """A run directory whose start failed before its config was recorded: the same command may claim it again."""
    if not rundir.is_run(run_dir) or rundir.in_use_by(run_dir) is not None:
        return False
    ledger = run_dir / Ledger.FILENAME
    if not ledger.is_file():
        return True
    rundir.check_ledger(run_dir)
    with Ledger(run_dir) as opened:
        return opened.get_meta("config") is None


def resolve_bases(names: list[str]) -> list[ModelRef]:
    """The initial models as pool objects: found locally (or on a hub), with a fingerprint of their weights."""
    out = []
    for mid, name in zip(base_ids(names), names, strict=True):
        path = resolve_model(name)
        out.append(ModelRef(id=mid, path=str(path), fingerprint=weights_fingerprint(path), name=name))
    return out


def stored_datasets(ledger: Ledger, run_dir: Path) -> dict[str, DatasetRef]:
    """A resumed run's datasets: the files it wrote when it started, never the user's sources again."""
    refs = {name: DatasetRef.model_validate(ref) for name, ref in (ledger.get_meta("datasets") or {}).items()}
    for ref in refs.values():
        if not Path(ref.path).is_file():
            raise LamdagentError(f"{ref.path} is missing from the run {run_dir}; restore it or start a new run")
    return refs


def _records_datasets(run_dir: Path) -> bool:
    with Ledger(run_dir) as ledger:
        return ledger.get_meta("datasets") is not None


def build_pool(
    cfg: RunConfig, bases: list[ModelRef], datasets: dict[str, DatasetRef], ledger: Ledger, store: ModelStore
) -> Pool:
    """The pool of a run: its datasets, initial models, and the models of its finished trials."""
    pool = Pool(actions=list(cfg.actions), grids=cfg.grids, fixed_params=cfg.params, max_depth=cfg.max_depth)
    for ref in bases:
        pool.add_model(ref)
    pool.datasets.update(datasets)
    ledger.set_meta("base_models", [{"id": r.id, "name": r.name, "path": r.path} for r in bases])
    for trial in ledger.trials("finished"):
        add_output(pool, store, trial)
    return pool


def add_output(pool: Pool, store: ModelStore, trial: TrialRecord) -> None:
    if trial.output_model and trial.output_model not in pool.models:
        spec = trial.spec
        pool.add_model(
            ModelRef(
                id=trial.output_model,
                path=str(store.path(trial.output_model)),
                fingerprint=spec.spec_hash(),
                parents=tuple(i for i in spec.input_ids() if i in pool.models),
                action=spec.action,
            )
        )
