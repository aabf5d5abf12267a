"""Frozen descriptions of pool objects and actions; the canonical JSON hash of a spec is its cache key.

Specs are immutable all the way down (inputs and params are read-only mappings, multi-model slots tuples),
because a spec's hash names the model it produces: a spec changed after hashing would name the wrong model.
This module also owns how a spec is shown (`spec_text`), so every screen prints it the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, field_validator

ObjectKind = Literal["model", "sft_data", "pref_data"]
SlotValue = str | tuple[str, ...]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces, so equal values always hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


class FrozenDict(dict[str, Any]):
    """A dict that refuses changes after construction (JSON-serialisable like any dict)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a spec is immutable; build a new one with model_copy(update=...)")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(canonical_json(self))


def as_ids(value: SlotValue | list[str]) -> tuple[str, ...]:
    """A slot's object ids as a tuple, whether the slot holds one object or several."""
    return (value,) if isinstance(value, str) else tuple(value)


class ModelRef(BaseModel):
    """A model in the pool: an initial (base) model or one an action produced."""

    model_config = ConfigDict(frozen=True)

    object: Literal["model"] = "model"
    id: str = Field(description="Neutral id shown to the agent, e.g. 'm3f2a…' or 'base'")
    path: str = Field(description="Local Hugging Face directory holding the weights")
    fingerprint: str = Field(description="Content identity; the spec hash for produced models")
    parents: tuple[str, ...] = ()
    action: str | None = Field(default=None, description="Action type that produced it; None for a base")
    name: str | None = Field(default=None, description="User-facing name of an initial model")


class DatasetRef(BaseModel):
    """A dataset in the pool, materialised as a JSONL file in the run directory."""

    model_config = ConfigDict(frozen=True)

    object: Literal["dataset"] = "dataset"
    id: str
    kind: Literal["sft", "preference"]
    path: str
    fingerprint: str
    rows: int
    description: str = ""


class ActionSpec(BaseModel):
    """One concrete action: a type, its filled object slots and its parameters.

    `fingerprints` pins the content of every input (dataset bytes, base weights), so a spec that hashes
    equal really would compute the same model.
    """

    model_config = ConfigDict(frozen=True)

    action: str
    inputs: Mapping[str, SlotValue] = Field(description="slot name -> object id (a tuple for multi-model slots)")
    params: Mapping[str, Any] = Field(default_factory=FrozenDict)
    fingerprints: Mapping[str, str] = Field(default_factory=FrozenDict, description="object id -> fingerprint")

    @field_validator("inputs", mode="before")
    @classmethod
    def _tuple_lists(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: v if isinstance(v, str) else tuple(v) for k, v in value.items()}
        return value

    @field_validator("inputs", "params", "fingerprints", mode="after")
    @classmethod
    def _freeze(cls, value: Mapping[str, Any]) -> FrozenDict:
        return FrozenDict(value)

    def spec_hash(self) -> str:
        return content_hash(self.model_dump(mode="json"))

    def model_id(self) -> str:
        """Id of the model this spec produces: content-addressed, so re-running it is a cache hit."""
        return "m" + self.spec_hash()[:11]

    def input_ids(self) -> tuple[str, ...]:
        """Every object id the spec reads (models and datasets), slot by slot."""
        return tuple(i for v in self.inputs.values() for i in as_ids(v))

    def __hash__(self) -> int:
        return hash(self.spec_hash())


def fmt_value(value: Any) -> str:
    """A value as a person or an agent must copy it back: JSON, so 1e-05 and "a" round-trip."""
    return value if isinstance(value, str) else json.dumps(value)


def spec_text(spec: ActionSpec, shown_params: Iterable[str] = ()) -> str:
    """`sft(model=base, data=tool_sft; learning_rate=0.0001)`: inputs, then the chosen parameters."""
    args = ", ".join(f"{k}={v if isinstance(v, str) else '[' + ', '.join(v) + ']'}" for k, v in spec.inputs.items())
    params = ", ".join(f"{k}={fmt_value(spec.params[k])}" for k in shown_params if k in spec.params)
    return f"{spec.action}({args}{'; ' + params if params else ''})"


class TaskSpec(BaseModel):
    """A task to score: its name in the run, where it comes from, and the source's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source: str = Field(description="builtin:tool_use, bfcl, ifeval, gsm8k, lm_eval:<task>, or a task YAML file")
    options: dict[str, Any] = Field(default_factory=dict)


class EvalSettings(BaseModel):
    """How models are scored: batch size and an optional cap on items per task and split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(
        default=16,
        ge=1,
        description="prompts generated together (of up to 256 tokens; shorter ones share larger batches)",
    )
    limit: int | None = Field(default=None, ge=1, description="at most this many items per task and split")
    test: Literal["final", "every"] = Field(
        default="final",
        description="final: trials are scored on validation, the test split once at the end for the best few "
        "(cheaper, and the search never sees test); every: each trial on both splits",
    )
    final_top_k: int = Field(default=3, ge=0, description="with test: final, how many best models get test scores")
