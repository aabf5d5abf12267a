"""The table executor: answers each job from a pipeline table (`lamdagent.benchmarks.table`) by signature.

A search over a declared space can then be replayed in seconds: the job's spec is signed (its input models
replaced by the signatures of the pipelines that made them, see `lamdagent.signature`), the table row with
that signature gives the validation and test metrics (bootstrap-resampled per seed when asked) and the seconds
the real trial took. No weights are written. So that the loop treats the result like any other (it records
scores in the store and answers repeats from it), a finished job leaves a marker model directory: a
`lamdagent.json` marked complete and `virtual`, with the model's signature, and a card. Such a directory is
not a model: export and replay of a table run have nothing to copy.

`elapsed_s` is a virtual clock: the recorded seconds of every job answered, so wall-clock budgets and curves
against time behave as in the real run. A job outside the table fails with one line naming its signature, unless
`surrogate` is on: then the lineage predictor fitted on the table (`lamdagent.predict`) answers it, the result is
marked `predicted`, and the made-up row lives in this executor only (never in the table).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from lamdagent.benchmarks.table import Table, TableRow, read_table
from lamdagent.errors import LamdagentError
from lamdagent.execution.executor import EXECUTORS, Executor, ExecutorOptions, Handle
from lamdagent.execution.job import Job, JobResult
from lamdagent.io import write_atomic, write_json_atomic
from lamdagent.models.card import CARD_FILE, card_name, render_card
from lamdagent.models.store import META_FILE, ModelStore
from lamdagent.paths import benchmarks_dir
from lamdagent.signature import spec_canonical
from lamdagent.spec import ModelRef

DEFAULT_TABLE = "pipebench-smollm2.jsonl.gz"


class TableOptions(ExecutorOptions):
    path: str | None = Field(
        default=None,
        description=f"The table file (JSONL or .jsonl.gz); unset: {DEFAULT_TABLE} in the benchmark folder",
    )
    bootstrap: bool = Field(default=False, description="Resample each task's per-item correctness, per seed")
    surrogate: bool = Field(
        default=False,
        description="Answer a pipeline the table lacks with the lineage predictor's estimate, marked predicted "
        "(never written to the table)",
    )
    seed: int = Field(default=0, ge=0, description="Seed of the bootstrap: another seed, another resample")


@EXECUTORS.decorator("table")
class TableExecutor(Executor):
    """Answers jobs from a pipeline table instantly; see the module docstring."""

    name = "table"
    Options = TableOptions
    virtual = True  # results come from a table: no weights, a virtual clock

    def __init__(
        self,
        path: str | Path | None = None,
        bootstrap: bool = False,
        seed: int = 0,
        parallel: int = 1,
        table: Table | None = None,
        surrogate: bool = False,
    ) -> None:
        """`table`: an already loaded table (the arena shares one among its runs); else read on first use."""
        self.path = Path(path) if path else table.path if table else benchmarks_dir() / DEFAULT_TABLE
        self.bootstrap = bootstrap
        self.seed = seed
        self.parallel = parallel
        self.elapsed_s = 0.0  # the virtual clock: recorded seconds of every job answered
        self._table: Table | None = table
        self._signatures: dict[str, str] = {}  # model id -> signature, as jobs finish
        self._done: list[Handle] = []
        self.surrogate = surrogate
        self._predicted: dict[str, TableRow] = {}  # rows the surrogate made up, by signature (this run only)

    @classmethod
    def create(cls, options: Any) -> TableExecutor:
        if options.path is not None and not Path(options.path).is_file():
            raise LamdagentError(f"executor.path: table {options.path} not found; give the path of a pipeline table")
        return cls(options.path, options.bootstrap, options.seed, options.parallel, surrogate=options.surrogate)

    @property
    def table(self) -> Table:
        if self._table is None:
            self._table = read_table(self.path)
        return self._table

    # -- the executor interface: every job is answered at submission --------------------------------------
    def submit(self, job: Job) -> Handle:
        if self.free_slots() <= 0:
            raise RuntimeError("no free slot; wait for a job to end first")
        handle = Handle(job=job, backend=self.answer(job))
        self._done.append(handle)
        return handle

    def wait(self, timeout: float | None = None) -> list[tuple[Handle, JobResult]]:
        out = [(h, h.backend) for h in self._done]
        self._done.clear()
        return out  # type: ignore[return-value]

    def running(self) -> list[Handle]:
        return list(self._done)

    # -- answering ---------------------------------------------------------------------------------------
    def answer(self, job: Job) -> JobResult:
        """The job's result from its table row (or a failed result naming the signature)."""
        t0 = time.perf_counter()
        if job.spec is None and not job.tasks:
            # nothing to make and nothing to score: no row needed
            return JobResult(ok=True, output_model=job.model_id, timings={"wall_s": time.perf_counter() - t0})
        try:
            signature, noop = self.signature(job)
            row = self.table.row(signature) or self._predicted.get(signature)
            if row is None and self.surrogate and job.spec is not None:
                row = self._predicted[signature] = self._surrogate_row(job, signature)
            if row is None:
                raise LamdagentError(f"no row for the pipeline {signature}")
            validation, test = self._metrics(row, job)
        except LamdagentError as exc:
            return JobResult(ok=False, error=f"table {self.path.name}: {exc}".replace("\n", " "))
        store = ModelStore(Path(job.store_root))
        reused = job.spec is None or store.is_complete(job.model_id)
        action_s = 0.0 if reused or noop else row.action_seconds()
        eval_s = row.eval_seconds()
        self.elapsed_s += action_s + eval_s
        self._signatures[job.model_id] = signature
        path = job.model_path
        if job.spec is not None:
            path = str(self._write_marker(store, job, signature))
        stats: dict[str, Any] = {
            "primary_metrics": {
                t.name: self.table.primary_metric(t.name, row.scores.get("validation", {}).get(t.name))
                for t in job.tasks
            },
            "table_signature": signature,
        }
        names = {t.name for t in job.tasks}
        recorded = {split: {t: v for t, v in row.items.get(split, {}).items() if t in names} for split in job.splits}
        stats["items"] = {split: {t: len(v) for t, v in tasks.items()} for split, tasks in recorded.items()}
        stats["verdicts"] = recorded  # as the worker reports them (the recorded ones; the bootstrap moves scores)
        if signature in self._predicted:
            stats["predicted"] = 1.0  # numeric, so the loop keeps it with the trial's timings
        if noop:
            stats["noop_of"] = signature  # the spec returns this input unchanged
        if row.peak_rss_mb is not None:
            stats["peak_rss_gb"] = round(row.peak_rss_mb / 1000, 3)
        return JobResult(
            ok=True,
            output_model=job.model_id,
            output_path=path,
            metrics=validation,
            test_metrics=test,
            timings={"action_s": action_s, "eval_s": eval_s, "wall_s": action_s + eval_s},
            stats=stats,
            reused_model=reused,
        )

    def _surrogate_row(self, job: Job, signature: str) -> TableRow:
        """A made-up row for a pipeline the table lacks: the lineage predictor's scores on both splits, the mean
        recorded seconds of the action, no items (so no bootstrap moves it)."""
        from lamdagent.predict import node_of

        assert job.spec is not None
        parents, data = [], []
        for value in job.inputs.values():
            for ref in value if isinstance(value, tuple) else (value,):
                if isinstance(ref, ModelRef):
                    parents.append(self._ref_signature(ref, job.store_root))
                else:
                    data.append(ref.id)
        node = node_of(job.spec.action, job.spec.params, parents, data, signature)
        scores: dict[str, dict[str, dict[str, float]]] = {}
        for split, predictor in surrogate(self.table).items():
            predicted = predictor.predict(node).scores
            scores[split] = {t: {self.table.primary_metric(t): v} for t, v in predicted.items()}
        same = [r for r in self.table.rows.values() if r.action == job.spec.action] or list(self.table.rows.values())
        seconds = {k: sum(r.seconds.get(k, 0.0) for r in same) / len(same) for k in ("action", "eval")}
        depth = 1 + max((self._depth(p) for p in parents), default=0)
        return TableRow(
            signature=signature,
            parents=parents,
            depth=depth,
            action=job.spec.action,
            params=job.spec.params,
            scores=scores,
            seconds=seconds,
            versions={"predicted": "lamdagent.predict"},
        )

    def _depth(self, signature: str) -> int:
        row = self.table.row(signature) or self._predicted.get(signature)
        return row.depth if row else 0

    def _metrics(self, row: TableRow, job: Job) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        tasks = [t.name for t in job.tasks]
        seed = self.seed if self.bootstrap else None
        out: dict[str, dict[str, dict[str, float]]] = {}
        for split in job.splits:
            if split not in ("validation", "test"):
                raise LamdagentError(f"unknown split {split!r}")
            metrics = self.table.metrics(row, split, tasks, seed)
            missing = [t for t in tasks if t not in metrics]
            if missing:
                raise LamdagentError(f"the row of {row.signature} has no {split} scores for {', '.join(missing)}")
            out[split] = metrics
        return out.get("validation", {}), out.get("test", {})

    def signature(self, job: Job) -> tuple[str, bool]:
        """The signature of the model a job makes (or, evaluation only, scores), and whether it is a no-op."""
        if job.spec is None:
            known = self.model_signature(job.model_id, job.store_root)
            return (known or self.initial_signature(job.model_id, job.model_path)), False
        sigs: dict[str, str] = {}
        for value in job.inputs.values():
            for ref in value if isinstance(value, tuple) else (value,):
                if isinstance(ref, ModelRef):
                    sigs[ref.id] = self._ref_signature(ref, job.store_root)
        canonical = spec_canonical(job.spec, sigs)
        return canonical.signature(), canonical.is_noop()

    def model_signature(self, model_id: str, store_root: str) -> str | None:
        """A produced model's signature: from this executor's memory, else from its marker in the store."""
        if model_id in self._signatures:
            return self._signatures[model_id]
        try:
            meta = json.loads((Path(store_root) / model_id / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        sig = meta.get("signature") if isinstance(meta, dict) else None
        if isinstance(sig, str):
            self._signatures[model_id] = sig
            return sig
        return None

    def _ref_signature(self, ref: ModelRef, store_root: str) -> str:
        if ref.action is None:
            return self.initial_signature(ref.id, ref.path, ref.name)
        sig = self.model_signature(ref.id, store_root)
        if sig is None:
            raise LamdagentError(f"input model {ref.id!r} was not made from this table; its pipeline is unknown")
        return sig

    def initial_signature(self, model_id: str, path: str | None, name: str | None = None) -> str:
        """An initial model's signature: its name (or id, or folder name) if the table has such a row; else the
        table's only initial model, so a table built on a model stored elsewhere still answers."""
        bases = self.table.base_rows()
        names = {s for s in (name, model_id, path, Path(path).name if path else None) if s}
        for row in bases:
            if row.signature in names:
                return row.signature
        if len(bases) == 1:
            return bases[0].signature
        have = ", ".join(r.signature for r in bases) or "none"
        raise LamdagentError(f"initial model {name or model_id!r} is not among the table's initial models ({have})")

    def _write_marker(self, store: ModelStore, job: Job, signature: str) -> Path:
        """A directory the store counts as a complete model, holding metadata only (see the module docstring)."""
        final = store.path(job.model_id)
        if store.is_complete(job.model_id):
            return final
        spec = job.spec
        assert spec is not None
        parents = job.parents()
        meta: dict[str, Any] = {
            "model_id": job.model_id,
            "spec": spec.model_dump(mode="json"),
            "spec_hash": spec.spec_hash(),
            "action": spec.action,
            "relation": _relation(spec.action, parents),
            "parents": [p.id for p in parents],
            "parent_names": [card_name(p) for p in parents],
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "scores": None,
            "complete": True,
            "virtual": True,
            "signature": signature,
            "table": str(self.path),
        }
        final.mkdir(parents=True, exist_ok=True)
        write_atomic(final / CARD_FILE, render_card(meta))
        write_json_atomic(final / META_FILE, meta, indent=2)  # last: its `complete` publishes the directory
        return final

    def shutdown(self) -> None:
        self._done.clear()


__all__ = ["DEFAULT_TABLE", "TableExecutor", "TableOptions"]


def _relation(action: str, parents: list[ModelRef]) -> str:
    """The model card's `base_model_relation` of the action (a guess for an unregistered one)."""
    from lamdagent.actions.base import ACTIONS

    return ACTIONS.get(action).relation if action in ACTIONS else ("merge" if len(parents) > 1 else "finetune")


_SURROGATES: dict[tuple[str, int], dict[str, Any]] = {}  # (table path, rows) -> split -> fitted predictor


def surrogate(table: Table) -> dict[str, Any]:
    """Lineage predictors fitted on a table's rows, one per split; fitted once per table and shared."""
    from lamdagent.predict import LineagePredictor, table_lineage

    key = (str(table.path), len(table.rows))
    if key not in _SURROGATES:
        fitted = {}
        for split in ("validation", "test"):
            nodes, verdicts, scores = table_lineage(table, split)
            fitted[split] = LineagePredictor().fit(nodes, verdicts, scores)
        _SURROGATES[key] = fitted
    return _SURROGATES[key]
