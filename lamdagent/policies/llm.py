"""The LaMDAgent policy: an LLM picks the action type (step 1), then every slot of it (step 2).

Prompts are the text files in `prompts/`; what they show of the run is `briefing.Briefing` (neutral short
ids, per-task changes with intervals, lineage and mixes, tries per action type, budget). The prompts ask for
exploration (the agent otherwise repeats itself). How it decides:

- options are listed in an order shuffled per call by the policy's seeded RNG, so no option wins by its
  position and each seed is a different search even with a greedy LLM;
- a JSON answer gives its rationale first, then the choice (a schema enforces that where the backend can);
- backends that can rank fixed options (`constrained_choice`) are asked option by option instead of for
  JSON, so even a 135M model is always valid; local backends score each option by its mean token
  log-probability, so a long option is not penalised for its length;
- only unseen, non-equivalent, non-no-op choices are accepted (the canonical signature's guard);
- every answer is validated; an invalid one is asked again with the error appended, then replaced by a
  random unseen action marked `fallback`, which says why; a weak or unreachable LLM slows the search down
  but never stops it.

Each proposal carries its decision record (prompts, answers, options with their scores, tokens, seconds),
which the loop stores with the trial, so any choice can be explained afterwards.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from string import Template
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field

from lamdagent.errors import LamdagentError
from lamdagent.ledger import TrialRecord
from lamdagent.llm.base import LLMClient, LLMError, Message, make_client
from lamdagent.policies.base import POLICIES, Policy, PolicyOptions, PolicyView, Proposal, step_rng
from lamdagent.policies.briefing import Briefing
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
from lamdagent.spec import ActionSpec, as_ids

T = TypeVar("T")
DEFAULT_OBJECTIVE = "maximise the validation score (the weighted sum of the target tasks' scores)"


class LLMPolicyOptions(PolicyOptions):
    """The `policy` section of a run config when `name: llm`; `llm` holds the client's settings."""

    mode: Literal["auto", "json", "choose"] = Field(
        default="auto", description="auto: option by option when the backend can constrain, else JSON"
    )
    memory_max_chars: int = Field(default=800, ge=100, description="The memory text is cut to this length")
    history_limit: int = Field(default=20, ge=0, description="Trials shown in prompts, newest kept")
    memory_patience: int = Field(
        default=3,
        ge=0,
        description="Stop asking for memory rewrites after this many rejected in a row (copies, loops); 0: never",
    )


# -- prompts ----------------------------------------------------------------------------------------
@cache
def load_prompt(name: str) -> str:
    return resources.files("lamdagent.policies").joinpath("prompts", name).read_text(encoding="utf-8")


def prompts_fingerprint() -> str:
    """A short hash of every prompt template: results an LLM agent produced are only comparable under the same."""
    folder = resources.files("lamdagent.policies").joinpath("prompts")
    parts = sorted((f.name, load_prompt(f.name)) for f in folder.iterdir() if f.name.endswith(".txt"))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def render(name: str, **values: Any) -> str:
    return Template(load_prompt(name)).substitute(values).strip()


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


def repeats(text: str, min_words: int = 4) -> bool:
    """Whether a text says one sentence twice (a small model looping), which makes it no lesson."""
    seen: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        key = " ".join(re.sub(r"[^\w\s]", " ", sentence.lower()).split())
        if len(key.split()) < min_words:
            continue
        if key in seen:
            return True
        seen.add(key)
    return False


def _memory_text(view: PolicyView) -> str:
    if view.memory:
        return view.memory
    return "(empty: no lesson written yet)" if view.history else "(empty: nothing has been tried yet)"


def context(brief: Briefing) -> str:
    """What every prompt of a decision starts with, from the most stable part to the least: the fixed settings,
    the pool (append-only, oldest first), failures, tries, budget, memory. Step 1, step 2 and the memory
    rewrite share it word for word, so a backend with a prompt cache (llama.cpp, most servers) evaluates only
    what follows it, and across trials only what changed after the last model line."""
    view = brief.view
    return render(
        "context.txt",
        objective=view.objective or DEFAULT_OBJECTIVE,
        settings=brief.settings(),
        models=brief.models(),
        failures=brief.failures(),
        tries=brief.tries(),
        budget=brief.budget(),
        memory=_memory_text(view),
    )


class _NoAnswer(Exception):
    """The LLM gave no valid answer for a step; `action` is the type already chosen, if any."""

    def __init__(self, reason: str, action: str | None = None) -> None:
        super().__init__(reason)
        self.action = action


@dataclass
class _Trace:
    """One proposal's decision as it happened: each call's prompt, options, per-option scores and answer."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, step: str, prompt: str, **what: Any) -> None:
        self.steps.append({"step": step, "prompt": prompt, **what})

    def record(self, chosen: ActionSpec | None, fell_back: str | None = None) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "chosen": chosen.model_dump(mode="json", include={"action", "inputs", "params"}) if chosen else None,
            "fallback": fell_back,
            "tokens": self.tokens,
            "seconds": round(time.perf_counter() - self.started, 3),
        }


def _example(slots: list[SlotOptions]) -> str:
    parts = ['"rationale": "<one sentence: why this choice>"']
    for s in slots:
        one = {"model": '"<model id, e.g. M0>"', "param": '"<value>"'}.get(s.kind, '"<dataset id>"')
        parts.append(f'"{s.name}": ' + (f"[{', '.join([one] * s.count)}]" if s.count > 1 else one))
    return "{" + ", ".join(parts) + "}"


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
    """The JSON schema of an answer: a rationale, then the given fields, all required, nothing else.

    It stays inside the subset every structured-output server accepts (no length or number bounds).
    """
    props = {"rationale": {"type": "string"}, **properties}  # the reason first: the choice follows from it
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _choice_of(spec: ActionSpec, cands: ActionCandidates) -> dict[str, Any]:
    return {s.name: spec.inputs.get(s.name, spec.params.get(s.name)) for s in cands.slots}


@POLICIES.decorator("llm")
class LLMPolicy(Policy):
    name = "llm"
    Options = LLMPolicyOptions
    llm_params: ClassVar[bool] = True  # the LLM fills the grid values too (the hybrid leaves them to TPE)

    def __init__(self, client: LLMClient, options: LLMPolicyOptions | None = None, seed: int = 0) -> None:
        self.client = client
        self.options = options or LLMPolicyOptions()
        self.seed = seed
        mode = self.options.mode
        self.constrained = client.constrained_choice if mode == "auto" else mode == "choose"
        self.rejected_rewrites = 0  # in a row; at `memory_patience` the journal alone serves as memory

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
        trace: _Trace,
        action: str | None,
        step: str,
    ) -> T:
        """Ask, validate, re-ask with the error appended; `_NoAnswer` after `max_retries` re-asks."""
        error = ""
        for _ in range(self.options.max_retries + 1):
            prompt = messages[-1]["content"]
            try:
                answer = self.client.complete(messages, schema=schema)
            except LLMError as exc:
                trace.add(step, prompt, error=f"the LLM failed: {exc}")
                raise _NoAnswer(f"the LLM failed: {exc}", action) from None
            trace.tokens += answer.tokens
            try:
                out = parse(answer.text)
            except ValueError as exc:
                error = str(exc)
                trace.add(step, prompt, answer=answer.text, error=error)
            else:
                trace.add(step, prompt, answer=answer.text)
                return out
            messages = [
                *messages,
                {"role": "assistant", "content": answer.text},
                {"role": "user", "content": render("retry.txt", error=error)},
            ]
        raise _NoAnswer(f"no valid answer after {self.options.max_retries + 1} tries (last: {error})", action)

    def _choose(self, prompt: str, options: list[str], trace: _Trace, action: str | None, step: str) -> int:
        try:
            choice = self.client.choose(self._messages(prompt), options)
        except LLMError as exc:
            trace.add(step, prompt, options=options, error=f"the LLM failed: {exc}")
            raise _NoAnswer(f"the LLM failed: {exc}", action) from None
        trace.tokens += choice.tokens
        if not 0 <= choice.index < len(options):
            raise _NoAnswer(f"choose() returned index {choice.index} of {len(options)} options", action)
        trace.add(step, prompt, options=options, scores=choice.scores, answer=options[choice.index])
        return choice.index

    # -- step 1: the action type ------------------------------------------------------------------------
    def _step1(
        self, brief: Briefing, types: list[str], extra: list[ActionSpec], trace: _Trace, rng: random.Random
    ) -> tuple[str, str]:
        if len(types) == 1:
            return types[0], ""  # nothing to decide
        view = brief.view
        order = rng.sample(types, len(types))  # no position bias, and a seed that matters
        actions = "\n".join(f"- {a}: {view.candidates.actions[a].description}" for a in order)
        instruction = render("step1_answer_choice.txt" if self.constrained else "step1_answer_json.txt")
        prompt = render(
            "step1_action.txt",
            context=context(brief),
            running=brief.running(extra),
            actions=actions,
            answer_instruction=instruction,
        )
        if self.constrained:
            name = order[self._choose(prompt, order, trace, None, "action")]
            return name, f"likeliest of {len(types)} types: {name};"

        def parse(text: str) -> tuple[str, str]:
            try:
                obj: dict[str, Any] | None = extract_json(text)
            except ValueError:
                obj = None
            name = obj.get("action") if obj is not None else text.strip().strip("`'\". ")
            if name not in types:
                raise ValueError(
                    f'{str(name)[:60]!r} is not an available action type; answer {{"action": one of {order}}}'
                )
            return str(name), str(obj.get("rationale", "")) if obj else ""

        schema = answer_schema({"action": _enum(order)})
        return self._ask(self._messages(prompt), parse, schema, trace, None, "action")

    # -- step 2: the slots -------------------------------------------------------------------------------
    def _asked_slots(self, cands: ActionCandidates) -> list[SlotOptions]:
        return [s for s in cands.slots if self.llm_params or s.kind != "param"]

    def _step2(
        self,
        brief: Briefing,
        action: str,
        seen: set[str],
        extra: list[ActionSpec],
        trace: _Trace,
        rng: random.Random,
    ) -> tuple[ActionSpec, str]:
        view = brief.view
        cands = view.candidates.actions[action]
        asked = self._asked_slots(cands)
        shown = {s.name: rng.sample(list(s.options), len(s.options)) for s in asked}
        tried = [_tried_text(brief, s, cands) for s in tried_specs(view, extra) if s.action == action]
        later = [s.name for s in cands.slots if s not in asked]
        note = f"The values of {', '.join(later)} are chosen afterwards from the scores so far." if later else ""

        shared = context(brief)  # the same for every slot's call

        def prompt(instruction: str) -> str:
            return render(
                "step2_objects.txt",
                context=shared,
                action=action,
                description=cands.description,
                slots="\n".join([*(brief.slot(s, shown[s.name]) for s in asked), *([note] if note else [])]),
                tried="\n".join(f"- {t}" for t in tried[-self.options.history_limit :]) or "(none)",
                answer_instruction=instruction,
            )

        if self.constrained:
            return self._step2_by_slot(brief, action, seen, shown, prompt, trace, rng)

        def parse(text: str) -> tuple[ActionSpec, str]:
            obj = extract_json(text)
            rationale = str(obj.pop("rationale", ""))
            if obj.get("action") == action:
                obj.pop("action")
            choice = _resolve_models(brief, cands, asked, obj)
            if self.llm_params:
                try:
                    spec = view.candidates.build_spec(action, choice)
                except (LamdagentError, TypeError) as exc:
                    raise ValueError(str(exc)) from None
                if not is_unseen(spec, seen, brief.index):
                    raise ValueError(
                        f"{json.dumps(obj)} was already tried, is in flight, or is equivalent to one of those (or "
                        "changes nothing, like a merge of a model with itself); choose a different combination"
                    )
                return spec, rationale
            found = self.choose_params(view, action, choice, seen, brief.index, rng)
            if found is None:
                raise ValueError(
                    f"every value of {', '.join(later)} was already tried with {json.dumps(obj)}; choose a "
                    "different combination"
                )
            return found[0], f"{rationale} {found[1]}".strip()

        instruction = render("step2_answer_json.txt", example=_example(asked))
        properties = {
            s.name: _enum([brief.option(s, o) for o in shown[s.name]])
            if s.count == 1
            else _list_of([brief.option(s, o) for o in shown[s.name]], s.count)
            for s in asked
        }
        return self._ask(self._messages(prompt(instruction)), parse, answer_schema(properties), trace, action, "slots")

    def _step2_by_slot(
        self,
        brief: Briefing,
        action: str,
        seen: set[str],
        shown: dict[str, list[Any]],
        prompt: Callable[[str], str],
        trace: _Trace,
        rng: random.Random,
    ) -> tuple[ActionSpec, str]:
        """One `choose` per slot value, each seeing the values chosen so far; only options that still
        lead to an unseen combination are offered, so the assembled spec is new by construction."""
        cands = brief.view.candidates.actions[action]
        unseen = unseen_choices(brief.view.candidates, action, seen, index=brief.index)
        choice: dict[str, Any] = {}
        notes: list[str] = []
        for slot in self._asked_slots(cands):
            picks: list[Any] = []
            for _ in range(slot.count):
                used = [*picks, *(_model_ids(choice, cands) if slot.kind == "model" else [])]
                options = [o for o in shown[slot.name] if o not in used]
                if unseen is not None:
                    options = [o for o in options if any(_extends(c, choice, slot, [*picks, o]) for c, _ in unseen)]
                if not options:
                    raise _NoAnswer(f"no unseen combination of {action!r} is left", action)
                if len(options) == 1:
                    picks.append(options[0])
                    continue
                so_far = {k: _shown_value(brief, cands.slot(k), v) for k, v in choice.items()}
                if picks:
                    so_far[slot.name] = _shown_value(brief, slot, picks)
                instruction = render(
                    "step2_answer_choice.txt", so_far=json.dumps(so_far) if so_far else "nothing", slot=slot.name
                )
                labels = [brief.option(slot, o) for o in options]
                index = self._choose(prompt(instruction), labels, trace, action, f"slot {slot.name}")
                picks.append(options[index])
                notes.append(f"{slot.name}={labels[index]} (of {len(options)})")
            choice[slot.name] = picks if slot.count > 1 else picks[0]
        why = ("likeliest values: " + ", ".join(notes)) if notes else "the only unseen values"
        if not self.llm_params:
            found = self.choose_params(brief.view, action, choice, seen, brief.index, rng)
            if found is None:
                raise _NoAnswer(f"every grid value of {json.dumps(choice)} was already tried", action)
            return found[0], f"{why}; {found[1]}"
        try:
            spec = brief.view.candidates.build_spec(action, choice)
        except (ValueError, LamdagentError) as exc:
            raise _NoAnswer(f"the assembled choice is invalid: {exc}", action) from None
        if not is_unseen(spec, seen, brief.index):
            raise _NoAnswer(f"the assembled choice {json.dumps(choice)} was already tried", action)
        return spec, why

    def choose_params(
        self,
        view: PolicyView,
        action: str,
        choice: dict[str, Any],
        seen: set[str],
        index: SignatureIndex | None,
        rng: random.Random,
    ) -> tuple[ActionSpec, str] | None:
        """The grid values for the objects the LLM chose, where `llm_params` is off; None when all were tried."""
        raise NotImplementedError(f"{type(self).__name__} lets the LLM choose the grid values")

    # -- the Policy interface -------------------------------------------------------------------------
    def propose(self, view: PolicyView, n: int = 1) -> list[Proposal]:
        """Up to `n` distinct proposals; each later one sees the earlier ones as in flight."""
        brief = Briefing(view, self.options.history_limit)
        rng = random.Random(f"{self.seed}|{view.iteration}|options")
        out: list[Proposal] = []
        for _ in range(n):
            proposal = self._propose_one(brief, [p.spec for p in out], rng)
            if proposal is None:
                break
            out.append(proposal)
        return out

    def _propose_one(self, brief: Briefing, extra: list[ActionSpec], rng: random.Random) -> Proposal | None:
        view = brief.view
        seen = set(view.seen_hashes) | {s.spec_hash() for s in extra}
        index = brief.index = signature_index(view)
        if index is not None:
            for spec in extra:
                index.add(spec)
        types = [a for a in sorted(view.candidates.actions) if not is_exhausted(view, a, seen, extra)]
        if not types:
            return None
        trace = _Trace()
        try:
            action, why1 = self._step1(brief, types, extra, trace, rng)
            spec, why2 = self._step2(brief, action, seen, extra, trace, rng)
        except _NoAnswer as exc:
            keep = [exc.action] if exc.action else None
            step = step_rng(self.seed, view)
            fallback = random_unseen(view.candidates, seen, step, keep, index=index) if keep else None
            fallback = fallback or random_unseen(view.candidates, seen, step, index=index)
            if fallback is None:
                return None
            return Proposal(
                fallback,
                rationale=f"fallback (random action): {exc}",
                fallback=True,
                llm_tokens=trace.tokens,
                decision=trace.record(fallback, str(exc)),
            )
        return Proposal(
            spec,
            rationale=" ".join(w for w in (why1, why2) if w),
            llm_tokens=trace.tokens,
            decision=trace.record(spec),
        )

    def update_memory(self, view: PolicyView, trial: TrialRecord) -> tuple[str, int] | None:
        """The LLM rewrites its memory from the last result and a compact history; None if it failed.

        An empty answer, one that mostly copies the prompt or one that repeats a sentence keeps the old memory
        (its tokens still count); the models and failures the prompts list are the journal the loop keeps itself,
        so the agent never depends on its own notes for the facts. After `memory_patience` rejected rewrites in
        a row the LLM is not asked again (None): a model too small to write a lesson (the embedded 135M one
        copies its prompt) would otherwise spend half of each decision's time on text that is thrown away."""
        patience = self.options.memory_patience
        if patience and self.rejected_rewrites >= patience:
            return None
        brief = Briefing(view, self.options.history_limit)
        last = brief.trial(trial)
        if trial.output_model in view.pool.models:
            last += f"\n  {brief.task_line(trial.output_model)}"
        ranked = sorted(view.model_scores, key=lambda m: -view.model_scores[m])
        best = brief.model(ranked[0]) if ranked else "none evaluated yet"
        prompt = render(
            "memory_update.txt",
            context=context(brief),
            last=last,
            best=best,
            max_chars=self.options.memory_max_chars,
        )
        limit = self.options.memory_max_chars
        try:
            answer = self.client.complete(self._messages(prompt), max_tokens=max(64, limit // 3))
        except LLMError:
            return None
        text = cap_text(answer.text, limit)
        # a copy of the prompt, or a loop over one sentence, teaches nothing: keep what was there
        template = load_prompt("context.txt") + load_prompt("memory_update.txt")
        if not text or echoes(text, prompt, template) or repeats(answer.text):
            self.rejected_rewrites += 1
            return (view.memory, answer.tokens)
        self.rejected_rewrites = 0
        return (text, answer.tokens)


def _resolve_models(
    brief: Briefing, cands: ActionCandidates, asked: list[SlotOptions], obj: dict[str, Any]
) -> dict[str, Any]:
    """An answer's slot values with model aliases resolved; a model outside a slot's options is named by alias."""
    out = dict(obj)
    for slot in asked:
        if slot.kind != "model" or slot.name not in obj:
            continue
        value = brief.resolve(obj[slot.name])
        for mid in value if isinstance(value, list) else [value]:
            if mid not in slot.options:
                offered = [brief.name(o) for o in slot.options]
                raise ValueError(f"slot {slot.name!r}: {obj[slot.name]!r} is not one of {offered}")
        out[slot.name] = value
    extra = set(out) - {s.name for s in asked}
    if extra:
        raise ValueError(f"unknown slots {sorted(extra)}; the slots are {[s.name for s in asked]}")
    return out


def _shown_value(brief: Briefing, slot: SlotOptions, value: Any) -> Any:
    if isinstance(value, list):
        return [brief.option(slot, v) for v in value]
    return brief.option(slot, value)


def _tried_text(brief: Briefing, spec: ActionSpec, cands: ActionCandidates) -> str:
    """A tried spec as the slots' answer would write it (models by alias)."""
    choice = _choice_of(spec, cands)
    return json.dumps({s.name: _shown_value(brief, s, choice[s.name]) for s in cands.slots})


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
