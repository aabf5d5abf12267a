"""The LaMDAgent policy: an LLM picks the action type (step 1), then every slot of it (step 2).

Prompts are the text files in `prompts/`. Following the paper, models are shown by neutral ids with their
lineage and scores (descriptive names were chosen more often for their names alone), and the prompts ask
for exploration (the agent otherwise repeats itself). Every answer is validated; an invalid one is asked
again with the error appended, then replaced by a random unseen action marked `fallback`, so a weak or
unreachable LLM slows the search down but never stops it. Backends that can rank fixed options
(`constrained_choice`) are asked option by option instead of for JSON, so even a 135M model is always valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Any, Literal, TypeVar

from pydantic import Field

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import primary_value
from lamdagent.ledger import TrialRecord
from lamdagent.llm.base import LLMClient, LLMError, Message, make_client
from lamdagent.policies.base import POLICIES, Policy, PolicyOptions, PolicyView, Proposal, step_rng
from lamdagent.policies.space import (
    is_exhausted,
    is_unseen,
    random_unseen,
    signature_index,
    tried_specs,
    unseen_choices,
)
from lamdagent.pool import ActionCandidates, SlotOptions
from lamdagent.signature import SignatureIndex
from lamdagent.spec import ActionSpec, as_ids, fmt_value, spec_text

T = TypeVar("T")
DEFAULT_OBJECTIVE = "maximise the validation score (the weighted sum of the target tasks' scores)"
KIND_LABELS = {"model": "model", "sft_data": "SFT dataset", "pref_data": "preference dataset", "param": "parameter"}


class LLMPolicyOptions(PolicyOptions):
    """The `policy` section of a run config when `name: llm`; `llm` holds the client's settings."""

    mode: Literal["auto", "json", "choose"] = Field(
        default="auto", description="auto: option by option when the backend can constrain, else JSON"
    )
    memory_max_chars: int = Field(default=800, ge=100, description="The memory text is cut to this length")
    history_limit: int = Field(default=20, ge=0, description="Trials shown in prompts, newest kept")


# -- prompts ----------------------------------------------------------------------------------------
@cache
def load_prompt(name: str) -> str:
    return resources.files("lamdagent.policies").joinpath("prompts", name).read_text(encoding="utf-8")


def render(name: str, **values: Any) -> str:
    return Template(load_prompt(name)).substitute(values).strip()


# -- how objects are shown --------------------------------------------------------------------------
def task_scores(metrics: Mapping[str, Any], primary: Mapping[str, str] | None = None) -> dict[str, float]:
    """One number per task, the one the objective uses (`primary_value`'s rule); tasks with none are left out."""
    out = {}
    for task, values in metrics.items():
        value = primary_value(values, (primary or {}).get(task))
        if value is not None:
            out[task] = value
    return out


def fmt_scores(score: float | None, tasks: Mapping[str, float]) -> str:
    text = "not evaluated" if score is None else f"score {score:.3f}"
    if tasks:
        text += " [" + ", ".join(f"{t} {v:.3f}" for t, v in tasks.items()) + "]"
    return text


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in an answer (code fences and surrounding prose are tolerated)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            return obj
        start = text.find("{", start + 1)
    raise ValueError(f"the answer contains no JSON object: {text.strip()[:120]!r}")


def cap_text(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a sentence end when one is in the second half."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end >= limit // 2 else cut[: limit - 1].rstrip() + "…"


def echoes(answer: str, prompt: str, template: str = "", n: int = 6, share: float = 0.5) -> bool:
    """Whether an answer copies its prompt (small models often do): most of its word n-grams come from the
    prompt, or any comes from the fixed wording of the prompt's template (its instructions)."""

    def grams(text: str) -> set[tuple[str, ...]]:
        words = text.lower().split()
        return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}

    mine = grams(answer)
    if not mine:
        return False
    fixed = set().union(*(grams(part) for part in re.split(r"\$\w+", template)))
    return bool(mine & fixed) or len(mine & grams(prompt)) > share * len(mine)


def _memory_text(view: PolicyView) -> str:
    if view.memory:
        return view.memory
    return "(empty: no lesson written yet)" if view.history else "(empty: nothing has been tried yet)"


@dataclass
class _Tally:
    tokens: int = 0


class _NoAnswer(Exception):
    """The LLM gave no valid answer for a step; `action` is the type already chosen, if any."""

    def __init__(self, reason: str, action: str | None = None) -> None:
        super().__init__(reason)
        self.action = action


class _Shown:
    """The pool and history as prompts show them, computed once per call."""

    def __init__(self, view: PolicyView, history_limit: int) -> None:
        self.view = view
        self.producer = {t.output_model: t for t in view.history if t.state == "finished" and t.output_model}
        self.history_limit = history_limit
        self.index: SignatureIndex | None = None  # the duplicate guard of the proposal being made

    def spec(self, spec: ActionSpec) -> str:
        return spec_text(spec, self.view.pool.grids.get(spec.action, {}))

    def model(self, model_id: str) -> str:
        ref = self.view.pool.models.get(model_id)
        trial = self.producer.get(model_id)
        if trial is not None:
            origin = self.spec(trial.spec)
        elif ref is not None and ref.action is None:
            origin = "initial model"
        else:
            origin = f"{ref.action}({', '.join(ref.parents)})" if ref else "unknown origin"
        metrics = self.view.base_metrics.get(model_id) or (trial.metrics if trial else {})
        tasks = task_scores(metrics, self.view.primary_metrics)
        return f"{model_id}: {origin} -> {fmt_scores(self.view.model_scores.get(model_id), tasks)}"

    def models(self) -> str:
        return "\n".join(f"- {self.model(m)}" for m in self.view.pool.models) or "(none)"

    def trial(self, t: TrialRecord) -> str:
        if t.state == "failed":
            outcome = "failed: " + (t.error or "unknown error").splitlines()[0][:160]
        elif t.state == "running":
            outcome = "running"
        else:
            outcome = f"{t.output_model}, {fmt_scores(t.score, task_scores(t.metrics, self.view.primary_metrics))}"
        return f"- #{t.id} {self.spec(t.spec)} -> {outcome}"

    def history(self, exclude: int | None = None) -> str:
        rows = [t for t in self.view.history if t.id != exclude]
        rows = rows[-self.history_limit :] if self.history_limit else []
        return "\n".join(self.trial(t) for t in rows) or "(none yet)"

    def running(self, extra: list[ActionSpec]) -> str:
        return "\n".join(f"- {self.spec(s)}" for s in [*self.view.running, *extra]) or "(none)"

    def slot(self, slot: SlotOptions) -> str:
        label = KIND_LABELS.get(slot.kind, slot.kind)
        pick = f"pick a list of {slot.count} different ids from" if slot.count > 1 else "pick one of"
        head = f"- `{slot.name}` ({label}: {slot.description}), {pick}:"
        if slot.kind == "param":
            return f"{head} {', '.join(fmt_value(o) for o in slot.options)}"
        if slot.kind == "model":
            lines = [self.model(o) for o in slot.options]
        else:
            lines = []
            for o in slot.options:
                d = self.view.pool.datasets.get(o)
                lines.append(f"{o}: {d.rows} rows; {d.description}".rstrip("; ") if d else str(o))
        return "\n".join([head, *(f"    {line}" for line in lines)])


def _example(cands: ActionCandidates) -> str:
    parts = []
    for s in cands.slots:
        one = {"model": '"<model id>"', "param": '"<value>"'}.get(s.kind, '"<dataset id>"')
        parts.append(f'"{s.name}": ' + (f"[{', '.join([one] * s.count)}]" if s.count > 1 else one))
    return "{" + ", ".join([*parts, '"rationale": "<one sentence>"']) + "}"


def _enum(values: Any) -> dict[str, Any]:
    """`{"type": ..., "enum": [...]}`; the type is left out when the values mix kinds."""
    values = list(values)
    kinds = {type(v) for v in values}
    if kinds and kinds <= {int, float}:
        kind = "integer" if kinds == {int} else "number"
    elif kinds in ({str}, {bool}):
        kind = "string" if kinds == {str} else "boolean"
    else:
        return {"enum": values}
    return {"type": kind, "enum": values}


def _list_of(values: Any, count: int) -> dict[str, Any]:
    return {"type": "array", "items": _enum(values), "minItems": count, "maxItems": count}


def answer_schema(properties: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of an answer: the given fields and a rationale, all required, nothing else.

    It stays inside the subset every structured-output server accepts (no length or number bounds).
    """
    props = {**properties, "rationale": {"type": "string"}}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _choice_of(spec: ActionSpec, cands: ActionCandidates) -> dict[str, Any]:
    return {s.name: spec.inputs.get(s.name, spec.params.get(s.name)) for s in cands.slots}


@POLICIES.decorator("llm")
class LLMPolicy(Policy):
    name = "llm"
    Options = LLMPolicyOptions

    def __init__(self, client: LLMClient, options: LLMPolicyOptions | None = None, seed: int = 0) -> None:
        self.client = client
        self.options = options or LLMPolicyOptions()
        self.seed = seed
        mode = self.options.mode
        self.constrained = client.constrained_choice if mode == "auto" else mode == "choose"

    @classmethod
    def create(cls, options: Any, seed: int) -> LLMPolicy:
        return cls(make_client(options.llm), options, seed)

    # -- LLM calls ------------------------------------------------------------------------------------
    def _messages(self, prompt: str) -> list[Message]:
        return [{"role": "system", "content": render("system.txt")}, {"role": "user", "content": prompt}]

    def _ask(
        self,
        messages: list[Message],
        parse: Callable[[str], T],
        schema: dict[str, Any],
        tally: _Tally,
        action: str | None,
    ) -> T:
        """Ask, validate, re-ask with the error appended; `_NoAnswer` after `max_retries` re-asks."""
        error = ""
        for _ in range(self.options.max_retries + 1):
            try:
                answer = self.client.complete(messages, schema=schema)
            except LLMError as exc:
                raise _NoAnswer(f"the LLM failed: {exc}", action) from None
            tally.tokens += answer.tokens
            try:
                return parse(answer.text)
            except ValueError as exc:
                error = str(exc)
            messages = [
                *messages,
                {"role": "assistant", "content": answer.text},
                {"role": "user", "content": render("retry.txt", error=error)},
            ]
        raise _NoAnswer(f"no valid answer after {self.options.max_retries + 1} tries (last: {error})", action)

    def _choose(self, messages: list[Message], options: list[str], tally: _Tally, action: str | None) -> int:
        try:
            choice = self.client.choose(messages, options)
        except LLMError as exc:
            raise _NoAnswer(f"the LLM failed: {exc}", action) from None
        tally.tokens += choice.tokens
        if not 0 <= choice.index < len(options):
            raise _NoAnswer(f"choose() returned index {choice.index} of {len(options)} options", action)
        return choice.index

    # -- step 1: the action type ------------------------------------------------------------------------
    def _step1(self, shown: _Shown, types: list[str], extra: list[ActionSpec], tally: _Tally) -> tuple[str, str]:
        if len(types) == 1:
            return types[0], ""  # nothing to decide
        view = shown.view
        actions = "\n".join(f"- {a}: {view.candidates.actions[a].description}" for a in types)
        instruction = render("step1_answer_choice.txt" if self.constrained else "step1_answer_json.txt")
        prompt = render(
            "step1_action.txt",
            objective=view.objective or DEFAULT_OBJECTIVE,
            memory=_memory_text(view),
            models=shown.models(),
            history=shown.history(),
            running=shown.running(extra),
            actions=actions,
            answer_instruction=instruction,
        )
        if self.constrained:
            name = types[self._choose(self._messages(prompt), types, tally, None)]
            return name, f"likeliest of {len(types)} types: {name};"

        def parse(text: str) -> tuple[str, str]:
            try:
                obj: dict[str, Any] | None = extract_json(text)
            except ValueError:
                obj = None
            name = obj.get("action") if obj is not None else text.strip().strip("`'\". ")
            if name not in types:
                raise ValueError(
                    f'{str(name)[:60]!r} is not an available action type; answer {{"action": one of {types}}}'
                )
            return str(name), str(obj.get("rationale", "")) if obj else ""

        return self._ask(self._messages(prompt), parse, answer_schema({"action": _enum(types)}), tally, None)

    # -- step 2: every slot -------------------------------------------------------------------------------
    def _step2(
        self, shown: _Shown, action: str, seen: set[str], extra: list[ActionSpec], tally: _Tally
    ) -> tuple[ActionSpec, str]:
        view = shown.view
        cands = view.candidates.actions[action]
        tried = [json.dumps(_choice_of(s, cands)) for s in tried_specs(view, extra) if s.action == action]

        def prompt(instruction: str) -> str:
            return render(
                "step2_objects.txt",
                objective=view.objective or DEFAULT_OBJECTIVE,
                memory=_memory_text(view),
                action=action,
                description=cands.description,
                slots="\n".join(shown.slot(s) for s in cands.slots),
                tried="\n".join(f"- {t}" for t in tried[-self.options.history_limit :]) or "(none)",
                answer_instruction=instruction,
            )

        if self.constrained:
            return self._step2_by_slot(shown, action, seen, prompt, tally)

        def parse(text: str) -> tuple[ActionSpec, str]:
            obj = extract_json(text)
            rationale = str(obj.pop("rationale", ""))
            if obj.get("action") == action:
                obj.pop("action")
            try:
                spec = view.candidates.build_spec(action, obj)
            except (LamdagentError, TypeError) as exc:
                raise ValueError(str(exc)) from None
            if not is_unseen(spec, seen, shown.index):
                raise ValueError(
                    f"{json.dumps(obj)} was already tried, is in flight, or is equivalent to one of those (or changes "
                    "nothing, like a merge of a model with itself); choose a different combination"
                )
            return spec, rationale

        instruction = render("step2_answer_json.txt", example=_example(cands))
        properties = {s.name: _enum(s.options) if s.count == 1 else _list_of(s.options, s.count) for s in cands.slots}
        return self._ask(self._messages(prompt(instruction)), parse, answer_schema(properties), tally, action)

    def _step2_by_slot(
        self, shown: _Shown, action: str, seen: set[str], prompt: Callable[[str], str], tally: _Tally
    ) -> tuple[ActionSpec, str]:
        """One `choose` per slot value, each seeing the values chosen so far; only options that still
        lead to an unseen combination are offered, so the assembled spec is new by construction."""
        cands = shown.view.candidates.actions[action]
        unseen = unseen_choices(shown.view.candidates, action, seen, index=shown.index)
        choice: dict[str, Any] = {}
        notes: list[str] = []
        for slot in cands.slots:
            picks: list[Any] = []
            for _ in range(slot.count):
                used = [*picks, *(_model_ids(choice, cands) if slot.kind == "model" else [])]
                options = [o for o in slot.options if o not in used]
                if unseen is not None:
                    options = [o for o in options if any(_extends(c, choice, slot, [*picks, o]) for c, _ in unseen)]
                if not options:
                    raise _NoAnswer(f"no unseen combination of {action!r} is left", action)
                if len(options) == 1:
                    picks.append(options[0])
                    continue
                so_far = json.dumps({**choice, slot.name: picks} if picks else choice) if choice or picks else "nothing"
                instruction = render("step2_answer_choice.txt", so_far=so_far, slot=slot.name)
                index = self._choose(
                    self._messages(prompt(instruction)), [fmt_value(o) for o in options], tally, action
                )
                picks.append(options[index])
                notes.append(f"{slot.name}={fmt_value(options[index])} (of {len(options)})")
            choice[slot.name] = picks if slot.count > 1 else picks[0]
        try:
            spec = shown.view.candidates.build_spec(action, choice)
        except (ValueError, LamdagentError) as exc:
            raise _NoAnswer(f"the assembled choice is invalid: {exc}", action) from None
        if not is_unseen(spec, seen, shown.index):
            raise _NoAnswer(f"the assembled choice {json.dumps(choice)} was already tried", action)
        return spec, ("likeliest values: " + ", ".join(notes)) if notes else "the only unseen values"

    # -- the Policy interface -------------------------------------------------------------------------
    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        """Up to `n` distinct proposals; each later one sees the earlier ones as in flight."""
        shown = _Shown(view, self.options.history_limit)
        out: list[Proposal] = []
        for _ in range(n):
            proposal = self._propose_one(shown, [p.spec for p in out])
            if proposal is None:
                break
            out.append(proposal)
        return out

    def _propose_one(self, shown: _Shown, extra: list[ActionSpec]) -> Proposal | None:
        view = shown.view
        seen = set(view.seen_hashes) | {s.spec_hash() for s in extra}
        index = shown.index = signature_index(view)
        if index is not None:
            for spec in extra:
                index.add(spec)
        types = [a for a in sorted(view.candidates.actions) if not is_exhausted(view, a, seen, extra)]
        if not types:
            return None
        tally = _Tally()
        try:
            action, why1 = self._step1(shown, types, extra, tally)
            spec, why2 = self._step2(shown, action, seen, extra, tally)
        except _NoAnswer as exc:
            keep = [exc.action] if exc.action else None
            index, rng = shown.index, step_rng(self.seed, view)
            fallback = random_unseen(view.candidates, seen, rng, keep, index=index) if keep else None
            fallback = fallback or random_unseen(view.candidates, seen, rng, index=index)
            if fallback is None:
                return None
            return Proposal(
                fallback, rationale=f"fallback (random action): {exc}", fallback=True, llm_tokens=tally.tokens
            )
        return Proposal(spec, rationale=" ".join(w for w in (why1, why2) if w), llm_tokens=tally.tokens)

    def update_memory(self, view: PolicyView, trial: TrialRecord) -> tuple[str, int] | None:
        """The LLM rewrites its memory from the last result and a compact history; None if it failed.

        An empty answer or one that mostly copies the prompt keeps the old memory (its tokens still count)."""
        shown = _Shown(view, self.options.history_limit)
        last = shown.trial(trial)
        inputs = trial.spec.input_ids()
        parents = [f"{i} {view.model_scores[i]:.3f}" for i in inputs if i in view.model_scores]
        if parents:
            last += f"\n  (input model scores: {', '.join(parents)})"
        ranked = sorted(view.model_scores, key=lambda m: -view.model_scores[m])
        best = shown.model(ranked[0]) if ranked else "none evaluated yet"
        prompt = render(
            "memory_update.txt",
            objective=view.objective or DEFAULT_OBJECTIVE,
            memory=view.memory or "(empty)",
            last=last,
            best=best,
            history=shown.history(exclude=trial.id),
            max_chars=self.options.memory_max_chars,
        )
        limit = self.options.memory_max_chars
        try:
            answer = self.client.complete(self._messages(prompt), max_tokens=max(64, limit // 3))
        except LLMError:
            return None
        text = cap_text(answer.text, limit)
        # a copy of the prompt teaches nothing: keep what was there
        if not text or echoes(text, prompt, load_prompt("memory_update.txt")):
            return (view.memory, answer.tokens)
        return (text, answer.tokens)


def _model_ids(choice: dict[str, Any], cands: ActionCandidates) -> list[str]:
    """Models already placed in model slots: a model may fill only one of them."""
    out: list[str] = []
    for slot in cands.slots:
        if slot.kind == "model" and slot.name in choice:
            out += as_ids(choice[slot.name])
    return out


def _extends(choice: dict[str, Any], prefix: dict[str, Any], slot: SlotOptions, picks: list[Any]) -> bool:
    """Whether a full choice agrees with the slots fixed so far and the partial picks of `slot`."""
    if any(choice[k] != v for k, v in prefix.items()):
        return False
    value = choice[slot.name]
    return value[: len(picks)] == picks if slot.count > 1 else value == picks[0]
