"""The LaMDAgent loop as ask/tell: ask the policy for actions, launch them, tell the loop each result.

The ledger is the only state: every decision is recorded before it is acted on and every result before it is
shown, so a run killed at any moment resumes from the ledger alone (`lamdagent run --resume`). A trial cut
short by the death of the loop (not by its own fault) is run again on resume and does not count against the
budget. The loop prints nothing itself: it reports to an observer (`lamdagent.console` for the terminal).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lamdagent.clock import ClockEstimates
from lamdagent.config import RunConfig
from lamdagent.context import RunContext, base_ids
from lamdagent.errors import LamdagentError
from lamdagent.execution.executor import Executor, Handle
from lamdagent.execution.job import JobResult
from lamdagent.ledger import Ledger, TrialRecord, TrialState
from lamdagent.models.store import ModelStore
from lamdagent.observer import RunObserver, RunSummary
from lamdagent.policies.base import Policy, PolicyView, Proposal
from lamdagent.pool import Candidates, Pool
from lamdagent.runinfo import run_info
from lamdagent.signature import SignatureIndex, base_signature, signatures_of_run
from lamdagent.spec import ActionSpec, spec_text


class Loop:
    """One run over a `RunContext`: `ask`, `launch`, `tell`, or all of it with `run()`."""

    def __init__(self, ctx: RunContext, observer: RunObserver | None = None) -> None:
        self.ctx = ctx
        self.observer = observer or RunObserver()
        self._in_flight: dict[Handle, TrialRecord] = {}
        self._late: set[str] = set()  # specs proposed but not launched: their trials would not end in time
        self._t0 = time.time()
        self._elapsed_before = float(ctx.ledger.get_meta("elapsed_s", 0.0))

    @classmethod
    def open(
        cls, cfg: RunConfig, run_dir: str | Path, console: Any = None, observer: RunObserver | None = None, **kw: Any
    ) -> Loop:
        """Build the context (`RunContext.open`'s `resume`, `policy`, `executor`) and a loop that reports to the
        terminal, or to `observer`."""
        if observer is None:
            from lamdagent.console import ConsoleObserver

            observer = ConsoleObserver(console)
        return cls(RunContext.open(cfg, run_dir, **kw), observer)

    # the parts, for callers that held them on the loop before the context existed
    cfg: RunConfig = property(lambda self: self.ctx.cfg)  # type: ignore[assignment]
    run_dir: Path = property(lambda self: self.ctx.run_dir)  # type: ignore[assignment]
    ledger: Ledger = property(lambda self: self.ctx.ledger)  # type: ignore[assignment]
    store: ModelStore = property(lambda self: self.ctx.store)  # type: ignore[assignment]
    pool: Pool = property(lambda self: self.ctx.pool)  # type: ignore[assignment]
    policy: Policy = property(lambda self: self.ctx.policy)  # type: ignore[assignment]
    executor: Executor = property(lambda self: self.ctx.executor)  # type: ignore[assignment]

    # -- evaluation of the initial models -----------------------------------------------------------
    def evaluate_bases(self) -> dict[str, Any]:
        """Score each initial model once; the first is the reference of relative constraints."""
        ledger = self.ctx.ledger
        base = self.ctx.bases()
        for ref in [m for m in self.ctx.pool.models.values() if m.action is None]:
            if ref.id in base:
                continue
            self.observer.evaluating_base(ref.id, ref.name)
            job = self.ctx.job(None, None, ref.id, model_path=ref.path)
            result = self.ctx.executor.run(job)
            if not result.ok:
                raise LamdagentError(
                    f"evaluating the initial model {ref.name!r} failed: {result.error}; "
                    f"see {Path(job.job_dir) / 'worker.log'}"
                )
            ledger.set_meta("primary_metrics", result.stats.get("primary_metrics", {}))
            ledger.set_meta("eval_items", result.stats.get("items", {}))
            base[ref.id] = {"metrics": result.metrics, "test_metrics": result.test_metrics, "timings": result.timings}
            ledger.set_meta("base", base)
            self._keep_details(ref.id, result.stats, None)
        objective = self.ctx.objective()
        reference = self.ctx.reference_metrics()
        for entry in base.values():
            res = objective.score(entry["metrics"], reference=reference)
            entry["score"], entry["feasible"] = res.score, res.feasible
        ledger.set_meta("base", base)
        return base

    # -- budget -------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds the run has spent; an executor that answers from a table keeps a virtual clock instead."""
        virtual = getattr(self.ctx.executor, "elapsed_s", None)
        if virtual is not None:
            return self._elapsed_before + float(virtual)
        return self._elapsed_before + (time.time() - self._t0)

    def used_trials(self) -> int:
        """Trials that count against the budget: all but those interrupted by the death of the loop."""
        return sum(1 for t in self.ctx.ledger.trials() if t.state != TrialState.INTERRUPTED)

    def budget_left(self) -> dict[str, float | int | None]:
        b = self.ctx.cfg.budget
        return {
            "iterations": None if b.iterations is None else b.iterations - self.used_trials(),
            "wall_clock_s": None if b.wall_clock_s is None else b.wall_clock_s - self.elapsed(),
            "llm_tokens": None if b.llm_tokens is None else b.llm_tokens - self.ctx.ledger.total_llm_tokens(),
        }

    def exhausted(self) -> str | None:
        """The budget that stops new launches. The wall clock also stops the run when no action type's next
        trial would end in time, with the final test scores still to come: it should end within its
        budget, not start late."""
        left = self.budget_left()
        for kind, value in left.items():
            if value is not None and value <= 0:
                return kind
        if left["wall_clock_s"] is not None:
            actions = list(self.ctx.pool.candidates().actions)
            if actions and len(self.too_long(actions)) == len(actions):
                return "wall_clock_s"
        return None

    def clock(self) -> ClockEstimates:
        """Duration estimates from this run's finished trials (see `lamdagent.clock`)."""
        first = next(iter(self.ctx.bases().values()), {})
        items = self.ctx.ledger.get_meta("eval_items") or {}
        return ClockEstimates.of(self.ctx.ledger.trials("finished"), first.get("timings", {}), items)

    def too_long(self, actions: Iterable[str]) -> dict[str, float]:
        """The action types whose next trial, started now, would not end within the wall clock with time kept
        for the test scores of the models there will then be, with their estimated seconds."""
        left = self.budget_left()["wall_clock_s"]
        if left is None:
            return {}
        clock = self.clock()
        room = left - self.final_test_reserve(extra=1, clock=clock)
        estimates = {a: clock.trial_s(a) for a in actions}
        return {a: s for a, s in estimates.items() if s > room}

    def final_test_reserve(self, extra: int = 0, clock: ClockEstimates | None = None) -> float:
        """Seconds to keep for scoring the best few on test at the end (`eval.test: final`): one test
        evaluation for each model that will need one (finished or running trials' models without test scores,
        and `extra` trials about to start), at most `final_top_k`."""
        settings = self.ctx.cfg.eval
        if settings.test != "final" or settings.final_top_k == 0:
            return 0.0
        have = self.ctx.ledger.test_scores()
        untested = {t.output_model for t in self.ctx.ledger.trials("finished") if t.output_model not in have}
        count = min(settings.final_top_k, len(untested - {None}) + len(self._in_flight) + extra)
        return count * (clock or self.clock()).test_s()

    def budget_text(self) -> str:
        parts = []
        for kind, left in self.budget_left().items():
            if left is not None:
                parts.append(f"{kind} {left:.0f}" if isinstance(left, float) else f"{kind} {left}")
        return ", ".join(parts) or "unlimited"

    # -- ask ------------------------------------------------------------------------------------------
    def view(self, starting: list[ActionSpec] | None = None) -> PolicyView:
        """What the policy may read now: pool, candidates, history, trials in flight (and `starting`, about to
        be), memory, scores."""
        ledger = self.ctx.ledger
        trials = ledger.trials()
        running = [t.spec for t in self._in_flight.values()] + list(starting or [])
        seen = {t.spec_hash for t in trials if t.state != TrialState.INTERRUPTED}
        seen |= {s.spec_hash() for s in running}
        base = self.ctx.bases()
        scores = {mid: e["score"] for mid, e in base.items() if "score" in e}
        scores.update(
            {
                t.output_model: t.score
                for t in trials
                if t.state == "finished" and t.output_model and t.score is not None
            }
        )
        models, by_trial = signatures_of_run(
            [t for t in trials if t.state != TrialState.INTERRUPTED],
            {m.id: base_signature(m.name or m.id) for m in self.ctx.pool.models.values() if m.action is None},
        )
        index = SignatureIndex(models)
        seen_signatures = {sig for sig in by_trial.values() if sig is not None}
        seen_signatures |= {sig for sig in map(index.signature, running) if sig is not None}
        candidates, budget = self._candidates_in_time()
        return PolicyView(
            pool=self.ctx.pool,
            candidates=candidates,
            history=[t for t in trials if t.state not in (TrialState.RUNNING, TrialState.INTERRUPTED)],
            running=running,
            memory=ledger.memory(),
            base_metrics={mid: e["metrics"] for mid, e in base.items()},
            model_scores=scores,
            primary_metrics=self.ctx.primary_metrics(),
            objective=self.ctx.objective().describe(),
            iteration=len(trials) + 1,
            seen_hashes=frozenset(seen),
            seen_signatures=frozenset(seen_signatures),
            model_signatures={m: sig for m, sig in models.items() if m in self.ctx.pool.models},
            items={task: int(n) for task, n in (ledger.get_meta("eval_items") or {}).get("validation", {}).items()},
            violations=self._violations(base, trials),
            budget=budget,
            verdicts={e["payload"]["model"]: e["payload"]["validation"] for e in ledger.events("verdicts")},
            rank=self._rank,
        )

    def _candidates_in_time(self) -> tuple[Candidates, str]:
        """The candidates without the action types whose next trial would not end in time, and the budget
        text saying which were left out (all are kept when none fits: the loop stops before asking)."""
        candidates, budget = self.ctx.pool.candidates(), self.budget_text()
        slow = self.too_long(candidates.actions)
        if not slow or len(slow) == len(candidates.actions):
            return candidates, budget
        kept = {a: c for a, c in candidates.actions.items() if a not in slow}
        out = ", ".join(f"{a} (~{s:.0f} s)" for a, s in sorted(slow.items()))
        return Candidates(kept, candidates.pool), f"{budget}; too long for the time left: {out}"

    def _rank(self, task_scores: Mapping[str, float]) -> float:
        """The objective of per-task scores (a prediction), as trials are scored; -inf where it cannot be."""
        primary = self.ctx.primary_metrics()
        metrics = {t: {primary.get(t, "accuracy"): v} for t, v in task_scores.items()}
        try:
            return self.ctx.objective().score(metrics, reference=self.ctx.reference_metrics()).score
        except LamdagentError:
            return float("-inf")

    def _violations(self, base: dict[str, Any], trials: list[TrialRecord]) -> dict[str, list[str]]:
        """Model id -> the constraints its validation scores break (none listed for a feasible model)."""
        objective, reference = self.ctx.objective(), self.ctx.reference_metrics()
        measured = {mid: e["metrics"] for mid, e in base.items() if e.get("metrics")}
        measured |= {t.output_model: t.metrics for t in trials if t.state == "finished" and t.output_model}
        out = {}
        for mid, metrics in measured.items():
            try:
                result = objective.score(metrics, reference=reference)
            except LamdagentError:
                continue
            if result.violations:
                out[mid] = result.violations
        return out

    def ask(self, n: int) -> list[Proposal]:
        """Up to `n` proposals: interrupted trials to run again first, then the policy's choices."""
        out = self._reruns()[:n]
        if len(out) < n:
            out += self.ctx.policy.propose(self.view([p.spec for p in out]), n - len(out))
        return self._distinct(self._in_time(out))

    def _in_time(self, proposals: list[Proposal]) -> list[Proposal]:
        """Drop a proposal whose trial would not end in time (a hand-written pipeline's next step may be one;
        other policies choose among the action types that fit), saying so in the ledger."""
        slow = self.too_long({p.spec.action for p in proposals})
        for proposal in proposals:
            spec = proposal.spec
            if spec.action in slow and spec.spec_hash() not in self._late:  # recorded once, though asked again
                self._late.add(spec.spec_hash())
                self.ctx.ledger.log_event(
                    "too_long", {"action": spec.action, "estimate_s": round(slow[spec.action], 1)}
                )
        return [p for p in proposals if p.spec.action not in slow]

    def _reruns(self) -> list[Proposal]:
        """Trials interrupted by the death of the loop whose spec has not been run again since."""
        trials = self.ctx.ledger.trials()
        done = {t.spec_hash for t in trials if t.state != TrialState.INTERRUPTED}
        done |= {t.spec_hash for t in self._in_flight.values()}
        out: dict[str, Proposal] = {}
        for t in trials:
            if t.state == TrialState.INTERRUPTED and t.spec_hash not in done and t.spec_hash not in out:
                why = f"run again: trial {t.id} was interrupted when the loop stopped ({t.rationale or ''})"
                out[t.spec_hash] = Proposal(t.spec, rationale=why.replace(" ()", ""), fallback=t.fallback)
        return list(out.values())

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
                self.ctx.ledger.log_event(
                    "duplicate_proposal",
                    {"spec_hash": h, "action": proposal.spec.action, "llm_tokens": proposal.llm_tokens},
                )
                self.observer.duplicate(proposal.spec, spec_text(proposal.spec))
                continue
            busy.add(h)
            out.append(proposal)
        return out

    # -- launch and tell ------------------------------------------------------------------------------
    def launch(self, proposal: Proposal) -> TrialRecord:
        """Record the trial, then start it (or answer it from the cache when the spec already finished)."""
        ledger, spec = self.ctx.ledger, proposal.spec
        trial_id = ledger.start_trial(
            spec,
            len(ledger.trials()) + 1,
            rationale=proposal.rationale,
            fallback=proposal.fallback,
            llm_tokens=proposal.llm_tokens,
        )
        if proposal.decision:
            ledger.log_event("decision", proposal.decision, trial_id)  # how the agent chose it, to explain later
        trial = ledger.trial(trial_id)
        self.observer.launched(trial, spec_text(spec, self.ctx.cfg.grids.get(spec.action, {})))
        cached = ledger.finished_by_hash(spec.spec_hash())
        if cached is not None and self.ctx.store.is_complete(cached.output_model or ""):
            # the same spec on the same inputs: never computed twice
            ledger.finish_trial(
                trial_id,
                cached.output_model or "",
                cached.metrics,
                cached.test_metrics,
                cached.score or 0.0,
                timings={"wall_s": 0.0},
                cached=True,
            )
            return self._after(ledger.trial(trial_id))
        handle = self.ctx.executor.submit(self.ctx.job(trial_id, spec, spec.model_id()))
        self._in_flight[handle] = trial
        return trial

    def tell(self, trial: TrialRecord, result: JobResult) -> TrialRecord:
        """Record a trial's result (scored by the objective), update the pool and the policy's memory."""
        ledger = self.ctx.ledger
        if not result.ok:
            ledger.fail_trial(trial.id, result.error or "unknown error", result.timings)
        else:
            res = self.ctx.objective().score(result.metrics, reference=self.ctx.reference_metrics())
            self.ctx.store.set_scores(result.output_model or "", result.metrics, result.test_metrics, res.score)
            timings = {**result.timings, **{k: float(v) for k, v in result.stats.items() if isinstance(v, int | float)}}
            ledger.finish_trial(
                trial.id, result.output_model or "", result.metrics, result.test_metrics, res.score, timings=timings
            )
            self._keep_details(result.output_model or "", result.stats, trial.id)
        return self._after(ledger.trial(trial.id))

    def _keep_details(self, model_id: str, stats: dict[str, Any], trial_id: int | None) -> None:
        """A model's per-item verdicts: validation ones for a predictor, test ones in events of their own that no
        policy reads (the summary pairs the best model's with the base's for the gain's interval); and the
        figures of tasks that are not metrics (an LLM judge's agreement and cost), for the report."""
        verdicts = stats.get("verdicts") or {}
        if model_id and verdicts.get("validation"):
            payload = {"model": model_id, "validation": verdicts["validation"]}
            self.ctx.ledger.log_event("verdicts", payload, trial_id=trial_id)
        if model_id and verdicts.get("test"):
            self.ctx.ledger.log_event("test_verdicts", {"model": model_id, "test": verdicts["test"]}, trial_id=trial_id)
        if model_id and stats.get("task_info"):
            self.ctx.ledger.log_event("task_info", {"model": model_id, **stats["task_info"]}, trial_id=trial_id)

    def _after(self, trial: TrialRecord) -> TrialRecord:
        if trial.state == "finished":
            self.ctx.add_output(trial)
        self.observer.ended(trial, self.best(), self.budget_text(), self.ctx.primary_metrics())
        view = self.view()
        update = self.ctx.policy.update_memory(view, trial)
        if update is not None:
            text, tokens = update
            kept = text == view.memory
            if not kept:
                self.ctx.ledger.add_memory(text, trial.id)
            self.ctx.ledger.log_event(
                "memory_update", {"tokens": tokens, "chars": len(text), "kept": kept}, trial_id=trial.id
            )
        return trial

    # -- the whole run --------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        ctx = self.ctx
        stopped_by = "policy"
        try:
            self.evaluate_bases()
            self.observer.bases(ctx.bases(), ctx.primary_metrics())
            while True:
                reason = self.exhausted()
                free = ctx.executor.free_slots()
                if reason is None and free > 0:
                    left = self.budget_left()["iterations"]
                    want = free if left is None else min(free, int(left))
                    proposals = self.ask(want) if want > 0 else []
                    for proposal in proposals:
                        self.launch(proposal)
                    if not proposals and not self._in_flight:
                        stopped_by = "wall_clock_s" if self._late else stopped_by
                        break
                elif reason is not None and not self._in_flight:
                    stopped_by = reason
                    break
                if self._in_flight:
                    self.observer.waiting(self._status_line())
                    for handle, result in ctx.executor.wait(timeout=2.0):
                        self.tell(self._in_flight.pop(handle), result)
                    for trial in self._in_flight.values():
                        ctx.ledger.heartbeat(trial.id)
                ctx.ledger.set_meta("elapsed_s", self.elapsed())
            self.observer.stopped(stopped_by)
            self.final_test()
        finally:
            self.observer.stopped(stopped_by)
            ctx.ledger.set_meta("elapsed_s", self.elapsed())
            ctx.executor.shutdown()
        ctx.ledger.log_event("stopped", {"by": stopped_by})
        summary = self.summary(stopped_by)
        ctx.release()
        return summary

    def final_test(self) -> list[str]:
        """Score the best few models on the test split, once, at the end (`eval.test: final`): the search
        chose on validation alone, and the test scores say how the choice generalises. Returns the models."""
        ctx = self.ctx
        if ctx.cfg.eval.test != "final" or ctx.cfg.eval.final_top_k == 0:
            return []
        have = ctx.ledger.test_scores()
        chosen: dict[str, TrialRecord] = {}
        for t in sorted(ctx.ledger.trials("finished"), key=lambda t: (-(t.score or float("-inf")), t.id)):
            if t.output_model and t.output_model not in chosen:
                chosen[t.output_model] = t
        done = []
        for model_id, trial in list(chosen.items())[: ctx.cfg.eval.final_top_k]:
            if model_id in have or not ctx.store.is_complete(model_id):
                continue
            self.observer.final_test(model_id)
            job = ctx.job(None, None, model_id, model_path=str(ctx.store.path(model_id)), splits=("test",))
            result = ctx.executor.run(job)
            if result.ok:
                ctx.ledger.add_test_scores(model_id, result.test_metrics)
                ctx.store.set_scores(model_id, trial.metrics, result.test_metrics, trial.score or 0.0)
                self._keep_details(model_id, result.stats, None)  # test verdicts; a judge's figures on test
                done.append(model_id)
            else:
                ctx.ledger.log_event("test_failed", {"model": model_id, "error": result.error})
        return done

    def _status_line(self) -> str:
        """The live line under the log: what runs, for how long, the best so far and the budget left."""
        now = time.time()
        running = "; ".join(f"[{t.iteration}] {t.action} {now - t.started_at:.0f} s" for t in self._in_flight.values())
        best = self.best()
        best_text = f"best {best.output_model} {best.score:.3f}" if best and best.score is not None else "no best yet"
        return f"running {running} | {best_text} | budget left: {self.budget_text()}"

    # -- output ---------------------------------------------------------------------------------------
    def best(self) -> TrialRecord | None:
        return run_info(self.ctx.ledger).best_trial()

    def summary(self, stopped_by: str) -> RunSummary:
        run = run_info(self.ctx.ledger)
        best = run.best_trial()
        return RunSummary(
            run_dir=self.ctx.run_dir,
            best=best,
            base=self.ctx.bases(),
            trials=len(self.ctx.ledger.trials()),
            stopped_by=stopped_by,
            elapsed_s=self.elapsed(),
            pipeline=run.pipeline(best.output_model) if best and best.output_model else [],
            primary_metrics=self.ctx.primary_metrics(),
            grids=self.ctx.cfg.grids,
            fallbacks=sum(t.fallback for t in self.ctx.ledger.trials()),
            items=self.ctx.ledger.get_meta("eval_items") or {},
            test_gains=run.test_gains(best.output_model) if best and best.output_model else {},
        )


__all__ = ["Loop", "RunContext", "RunSummary", "base_ids"]
