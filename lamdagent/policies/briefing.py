"""What the LLM agent reads: the pool, the history and the budget as short, neutral, quantified text.

Models get short neutral ids in the order they joined the pool, initial models first (the first is M0), so the
agent is never swayed by a descriptive name and never has to copy a long hash. Each model shows, per task, its
validation score with a 95% interval over its items and its change against its inputs and against M0; a
linear or SLERP merge shows the mix of non-merged models it amounts to; a model that breaks a constraint says
which, in words. Per action type a small table counts the tries, their best change and their mean cost; the
budget left, the fixed settings and the dataset sizes close the picture (the things a person would look up
before choosing, and that a small model otherwise guesses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lamdagent.actions.base import ACTIONS
from lamdagent.evaluation.base import primary_value, wilson_interval
from lamdagent.ledger import TrialRecord
from lamdagent.policies.base import PolicyView
from lamdagent.pool import SlotOptions
from lamdagent.signature import SignatureIndex
from lamdagent.spec import ActionSpec, as_ids, fmt_value

KIND_LABELS = {"model": "model", "sft_data": "SFT dataset", "pref_data": "preference dataset", "param": "parameter"}
_ALIAS = re.compile(r"^\s*m(\d+)\s*$", re.IGNORECASE)


def task_scores(metrics: Mapping[str, Any], primary: Mapping[str, str] | None = None) -> dict[str, float]:
    """One number per task, the one the objective uses (`primary_value`'s rule); tasks with none are left out."""
    out = {}
    for task, values in metrics.items():
        value = primary_value(values, (primary or {}).get(task))
        if value is not None:
            out[task] = value
    return out


class Briefing:
    """The view as prompts show it, computed once per proposal round."""

    def __init__(self, view: PolicyView, history_limit: int) -> None:
        self.view = view
        self.history_limit = history_limit
        self.producer = {t.output_model: t for t in view.history if t.state == "finished" and t.output_model}
        models = view.pool.models
        order = [m for m, ref in models.items() if ref.action is None]
        order += [m for m in models if m not in order]
        self.alias = {m: f"M{i}" for i, m in enumerate(order)}
        self._by_alias = {a.lower(): m for m, a in self.alias.items()}
        self.reference = order[0] if order else None  # M0: deltas are shown against it
        self.index: SignatureIndex | None = None  # the duplicate guard of the proposal being made

    # -- ids ---------------------------------------------------------------------------------------------
    def name(self, model_id: str) -> str:
        return self.alias.get(model_id, model_id)

    def resolve(self, value: Any) -> Any:
        """An answer's model reference (`M3`, `m3`, or the id itself; lists too) as the pool's id."""
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        if isinstance(value, str):
            match = _ALIAS.match(value)
            if match:
                return self._by_alias.get(f"m{int(match.group(1))}", value)
        return value

    def spec(self, spec: ActionSpec) -> str:
        """`sft(model=M0, data=tool_sft; learning_rate=0.0001)`: the run's grid values, models by their alias."""

        def shown(value: Any) -> str:
            if isinstance(value, str):
                return self.name(value)
            return "[" + ", ".join(self.name(v) for v in value) + "]"

        args = ", ".join(f"{k}={shown(v)}" for k, v in spec.inputs.items())
        grid = self.view.pool.grids.get(spec.action, {})
        params = ", ".join(f"{k}={fmt_value(spec.params[k])}" for k in grid if k in spec.params)
        return f"{spec.action}({args}{'; ' + params if params else ''})"

    # -- models ------------------------------------------------------------------------------------------
    def metrics(self, model_id: str) -> dict[str, float]:
        trial = self.producer.get(model_id)
        raw = self.view.base_metrics.get(model_id) or (trial.metrics if trial else {})
        return task_scores(raw, self.view.primary_metrics)

    def inputs(self, model_id: str) -> list[str]:
        """The models a model was made from, in the order of its action's slots."""
        trial = self.producer.get(model_id)
        if trial is not None:
            return [i for i in trial.spec.input_ids() if i in self.view.pool.models]
        ref = self.view.pool.models.get(model_id)
        return list(ref.parents) if ref else []

    def mix(self, model_id: str) -> dict[str, float] | None:
        """The weights of non-merged models that a chain of averaging merges (linear, SLERP) amounts to; None
        where another merge (TIES, task arithmetic) is in the chain."""
        trial = self.producer.get(model_id)
        if trial is None:
            return {model_id: 1.0} if model_id in self.view.pool.models else None
        shares = ACTIONS.get(trial.spec.action).mix_weights(trial.spec.params)
        if shares is None:
            return None if len(self.inputs(model_id)) > 1 else {model_id: 1.0}
        out: dict[str, float] = {}
        for mid, share in zip(as_ids(trial.spec.inputs["models"]), shares, strict=True):
            part = self.mix(mid)
            if part is None:
                return None
            for m, x in part.items():
                out[m] = out.get(m, 0.0) + share * x
        return out

    def origin(self, model_id: str) -> str:
        trial = self.producer.get(model_id)
        ref = self.view.pool.models.get(model_id)
        if trial is not None:
            text = self.spec(trial.spec)
            mix = self.mix(model_id)
            if mix and len(mix) > 1:
                parts = sorted(mix.items(), key=lambda kv: (-kv[1], self.name(kv[0])))
                text += " ≈ " + " + ".join(f"{w:.2f}·{self.name(m)}" for m, w in parts)
            elif isinstance(trial.spec.inputs.get("base"), str) and "models" in trial.spec.inputs:  # task vectors
                models, base = as_ids(trial.spec.inputs["models"]), str(trial.spec.inputs["base"])
                text += f"; task vectors of {', '.join(map(self.name, models))} over {self.name(base)}"
            seconds = trial.timings.get("wall_s")
            return text + (f"; made in {seconds:.0f} s" if seconds else "")
        if ref is not None and ref.action is None:
            return "initial model"
        return f"{ref.action}({', '.join(map(self.name, ref.parents))})" if ref else "unknown origin"

    def task_line(self, model_id: str) -> str:
        """Per task: score [95% interval, n] (change vs inputs, vs M0); then the objective or the broken bound."""
        mine = self.metrics(model_id)
        against = self.inputs(model_id)
        if self.reference is not None and self.reference != model_id and self.reference not in against:
            against.append(self.reference)
        parts = []
        for task, value in mine.items():
            text = f"{task} {value:.3f}"
            n = self.view.items.get(task)
            if n:
                lo, hi = wilson_interval(value, n)
                text += f" [{lo:.2f}-{hi:.2f}, n={n}]"
            deltas = []
            for other in against:
                theirs = self.metrics(other).get(task)
                if theirs is not None:
                    deltas.append(f"{value - theirs:+.3f} vs {self.name(other)}")
            if deltas:
                text += f" ({', '.join(deltas)})"
            parts.append(text)
        text = "; ".join(parts) if parts else "not evaluated"
        verdict = self.verdict(model_id)
        return f"{text} | {verdict}" if verdict else text

    def verdict(self, model_id: str) -> str | None:
        """A model's objective in words, or the constraint it breaks; None before it is scored."""
        broken = self.view.violations.get(model_id)
        if broken:
            return "breaks the constraint " + " and ".join(broken)
        score = self.view.model_scores.get(model_id)
        return None if score is None else f"objective {score:.3f}"

    def model(self, model_id: str) -> str:
        return f"{self.name(model_id)} = {self.origin(model_id)}\n    {self.task_line(model_id)}"

    def models(self, top: int = 5) -> str:
        """Every model, oldest first; past `history_limit` produced models, the initial ones, the `top` best
        and the most recent `history_limit` only (the prompt stays short as the pool grows)."""
        ids = list(self.alias)  # initial models first, then in the order they joined the pool
        initial = [m for m in ids if self.view.pool.models[m].action is None]
        produced = [m for m in ids if m not in initial]
        hidden = 0
        if self.history_limit and len(produced) > self.history_limit:
            scores = self.view.model_scores
            best = sorted(produced, key=lambda m: -scores.get(m, float("-inf")))[:top]
            keep = set(best) | set(produced[-self.history_limit :])
            hidden = len(produced) - len(keep)
            produced = [m for m in produced if m in keep]
        lines = [f"- {self.model(m)}" for m in [*initial, *produced]]
        if hidden:
            lines.append(f"({hidden} older models with lower scores not shown)")
        return "\n".join(lines) or "(none)"

    # -- history and the state of the search ----------------------------------------------------------
    def trial(self, t: TrialRecord) -> str:
        if t.state == "failed":
            outcome = "failed: " + (t.error or "unknown error").splitlines()[0][:160]
        elif t.state == "running":
            outcome = "running"
        else:
            broken = self.view.violations.get(t.output_model or "")
            score = "" if t.score is None else f", objective {t.score:.3f}"
            if broken:  # in words: an infeasible model's penalised score (-1.09) means nothing to a reader
                score = ", breaks the constraint " + " and ".join(broken)
            outcome = f"{self.name(t.output_model or '')}{score}"
        return f"- #{t.id} {self.spec(t.spec)} -> {outcome}"

    def failures(self) -> str:
        """Failed trials with their reason (finished ones are the models listed above them)."""
        rows = [t for t in self.view.history if t.state == "failed"]
        rows = rows[-self.history_limit :] if self.history_limit else []
        return "\n".join(self.trial(t) for t in rows) or "(none)"

    def running(self, extra: list[ActionSpec]) -> str:
        return "\n".join(f"- {self.spec(s)}" for s in [*self.view.running, *extra]) or "(none)"

    def tries(self) -> str:
        """Per action type: tries, failures, the best change of the objective over the best input, mean seconds."""
        rows = []
        scores = self.view.model_scores
        for action in self.view.pool.actions:
            mine = [t for t in self.view.history if t.spec.action == action]
            if not mine:
                if action in self.view.candidates.actions:
                    rows.append(f"- {action}: not tried yet")
                continue
            failed = sum(t.state == "failed" for t in mine)
            gains = []
            for t in mine:
                inputs = [scores[i] for i in t.spec.input_ids() if i in scores]
                if t.state == "finished" and t.score is not None and inputs:
                    gains.append(t.score - max(inputs))
            walls = [t.timings["wall_s"] for t in mine if "wall_s" in t.timings and not t.cached]
            text = f"- {action}: {len(mine)} tried"
            text += f", {failed} failed" if failed else ""
            text += f", best change over its best input {max(gains):+.3f}" if gains else ""
            text += f", {sum(walls) / len(walls):.0f} s each on average" if walls else ""
            rows.append(text)
        return "\n".join(rows) or "(none available)"

    def settings(self) -> str:
        """Fixed parameters per action type and the datasets' sizes."""
        lines = []
        for action in self.view.pool.actions:
            fixed = self.view.pool.fixed_params.get(action)
            if fixed:
                lines.append(f"- {action}: " + ", ".join(f"{k}={fmt_value(v)}" for k, v in fixed.items()))
        data = ", ".join(f"{d.id} ({d.kind}, {d.rows} rows)" for d in self.view.pool.datasets.values())
        if data:
            lines.append(f"- datasets: {data}")
        return "\n".join(lines) or "(none)"

    def budget(self) -> str:
        return self.view.budget or "not stated"

    def slot(self, slot: SlotOptions, options: list[Any]) -> str:
        """A slot and its candidates, in the (shuffled) order given."""
        label = KIND_LABELS.get(slot.kind, slot.kind)
        pick = f"pick a list of {slot.count} different ids from" if slot.count > 1 else "pick one of"
        head = f"- `{slot.name}` ({label}: {slot.description}), {pick}:"
        if slot.kind == "param":
            return f"{head} {', '.join(fmt_value(o) for o in options)}"
        if slot.kind == "model":  # described in the pool listing above: repeating it would double the prompt
            lines = [f"{self.name(o)} ({self.verdict(o) or 'not evaluated'})" for o in options]
        else:
            lines = []
            for o in options:
                d = self.view.pool.datasets.get(o)
                lines.append(f"{o}: {d.rows} rows; {d.description}".rstrip("; ") if d else str(o))
        return "\n".join([head, *(f"    {line}" for line in lines)])

    def option(self, slot: SlotOptions, value: Any) -> str:
        """How one option is written in an answer: models by alias, values as the grid prints them."""
        if slot.kind == "model":
            return self.name(value)
        return fmt_value(value) if slot.kind == "param" else str(value)
