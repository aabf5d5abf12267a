"""Helpers for the policy tests: small fake action types, a real Pool over them, views, a scripted LLM."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

from pydantic import Field

from lamdagent.actions.base import ACTIONS, ActionContext, ActionParams, ActionType, Slot
from lamdagent.ledger import TrialRecord
from lamdagent.llm.base import Choice, ClientConfig, Completion, LLMClient, Message
from lamdagent.policies.base import PolicyView
from lamdagent.pool import Pool
from lamdagent.spec import ActionSpec, DatasetRef, ModelRef

TRAIN, PREF, MERGE = "pt_train", "pt_pref", "pt_merge"


class _TrainParams(ActionParams):
    learning_rate: float = Field(default=1e-4, gt=0, description="Step size")


class _PrefParams(ActionParams):
    beta: float = Field(default=0.1, gt=0, description="KL strength")


class _MergeParams(ActionParams):
    weight: float = Field(default=0.5, ge=0, le=1, description="Weight of the first model")


class _Fake(ActionType):
    relation: ClassVar[str] = "finetune"

    def run(self, ctx: ActionContext) -> None:  # never run by policy tests
        raise NotImplementedError


class FakeTrain(_Fake):
    name: ClassVar[str] = TRAIN
    description: ClassVar[str] = "Supervised fine-tuning of a model on an SFT dataset"
    slots: ClassVar[tuple[Slot, ...]] = (
        Slot("model", "model", "The model to fine-tune"),
        Slot("data", "sft_data", "The SFT dataset"),
    )
    Params: ClassVar[type[ActionParams]] = _TrainParams


class FakePref(_Fake):
    name: ClassVar[str] = PREF
    description: ClassVar[str] = "Preference optimisation of a model"
    slots: ClassVar[tuple[Slot, ...]] = (
        Slot("model", "model", "The model to align"),
        Slot("data", "pref_data", "The preference dataset"),
    )
    Params: ClassVar[type[ActionParams]] = _PrefParams


class FakeMerge(_Fake):
    name: ClassVar[str] = MERGE
    description: ClassVar[str] = "Weighted average of two models"
    relation: ClassVar[str] = "merge"
    slots: ClassVar[tuple[Slot, ...]] = (Slot("models", "model", "The two models to merge", count=2),)
    Params: ClassVar[type[ActionParams]] = _MergeParams

    @classmethod
    def mix_weights(cls, params: Any) -> tuple[float, ...]:
        return (params["weight"], 1.0 - params["weight"])


for _cls in (FakeTrain, FakePref, FakeMerge):
    if _cls.name not in ACTIONS:
        ACTIONS.register(_cls.name, _cls)


def make_pool(extra_models: int = 0) -> Pool:
    """base + two SFT datasets + one preference set; `extra_models` produced models m1..mk."""
    pool = Pool(
        actions=[TRAIN, PREF, MERGE],
        datasets={
            "tool_sft": DatasetRef(
                id="tool_sft", kind="sft", path="t.jsonl", fingerprint="ft", rows=40, description="tool calls"
            ),
            "if_sft": DatasetRef(id="if_sft", kind="sft", path="i.jsonl", fingerprint="fi", rows=30),
            "prefs": DatasetRef(id="prefs", kind="preference", path="p.jsonl", fingerprint="fp", rows=20),
        },
        grids={TRAIN: {"learning_rate": [1e-5, 1e-4]}, MERGE: {"weight": [0.3, 0.7]}},
    )
    pool.add_model(ModelRef(id="base", path="b", fingerprint="fb", name="SmolLM2"))
    for i in range(1, extra_models + 1):
        pool.add_model(ModelRef(id=f"m{i}", path=f"m{i}", fingerprint=f"f{i}", parents=("base",), action=TRAIN))
    return pool


def finished(pool: Pool, trial_id: int, spec: ActionSpec, score: float, add: bool = True) -> TrialRecord:
    """A finished trial whose output model joins the pool (as the loop does)."""
    out = spec.model_id()
    if add:
        parents = spec.input_ids()
        pool.add_model(ModelRef(id=out, path=out, fingerprint=spec.spec_hash(), parents=parents, action=spec.action))
    return TrialRecord(
        id=trial_id,
        iteration=trial_id,
        spec_hash=spec.spec_hash(),
        spec=spec,
        state="finished",
        output_model=out,
        metrics={"tool_use": {"accuracy": score}},
        score=score,
    )


def failed(trial_id: int, spec: ActionSpec) -> TrialRecord:
    return TrialRecord(
        id=trial_id,
        iteration=trial_id,
        spec_hash=spec.spec_hash(),
        spec=spec,
        state="failed",
        output_model=None,
        error="CUDA out of memory\nstack...",
    )


def make_view(
    pool: Pool,
    history: list[TrialRecord] | None = None,
    running: list[ActionSpec] | None = None,
    scores: dict[str, float] | None = None,
    memory: str = "",
) -> PolicyView:
    history = history or []
    running = running or []
    seen = {t.spec_hash for t in history} | {s.spec_hash() for s in running}
    model_scores = {"base": 0.2, **{t.output_model: t.score for t in history if t.output_model and t.score}}
    model_scores.update(scores or {})
    return PolicyView(
        pool=pool,
        candidates=pool.candidates(),
        history=history,
        running=running,
        memory=memory,
        base_metrics={"base": {"tool_use": {"accuracy": 0.2}}},  # task -> metric -> value, as the loop passes
        model_scores=model_scores,
        objective="maximise tool_use accuracy",
        iteration=len(history) + 1,
        seen_hashes=frozenset(seen),
    )


class ScriptedClient(LLMClient):
    """Answers from a queue (text, or an exception to raise); records every prompt it was sent.

    With `constrained=True` it is a `choose` backend: `pick(options)` decides each choice.
    """

    name: ClassVar[str] = "scripted"
    Options: ClassVar[type[ClientConfig]] = ClientConfig

    def __init__(
        self, answers: list[str | Exception] | None = None, constrained: bool = False, pick: Any = None
    ) -> None:
        self.config = ClientConfig(backend="scripted")
        self.answers: deque[str | Exception] = deque(answers or [])
        self.constrained_choice = constrained  # type: ignore[misc]
        self.pick = pick or (lambda options: 0)
        self.calls: list[list[Message]] = []
        self.schemas: list[dict[str, Any] | None] = []
        self.choices: list[list[str]] = []

    def complete(
        self,
        messages: list[Message],
        max_tokens: int | None = None,
        temperature: float | None = None,
        schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion:
        self.calls.append(messages)
        self.schemas.append(schema)
        if not self.answers:
            raise AssertionError("the policy asked more often than the script expects")
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        return Completion(answer, prompt_tokens=10, completion_tokens=5)

    def choose(self, messages: list[Message], options: list[str]) -> Choice:
        self.calls.append(messages)
        self.choices.append(list(options))
        if isinstance(self.pick, Exception):
            raise self.pick
        return Choice(self.pick(options), tokens=7)


def last_user(messages: list[Message]) -> str:
    return [m["content"] for m in messages if m["role"] == "user"][-1]
