"""Frozen descriptions of pool objects and actions; the canonical JSON hash of a spec is its cache key."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ObjectKind = Literal["model", "sft_data", "pref_data"]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces, so equal values always hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


class ModelRef(BaseModel):
    """A model in the pool: an initial (base) model or one an action produced."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Neutral id shown to the agent, e.g. 'm3f2a…' or 'base'")
    path: str = Field(description="Local Hugging Face directory holding the weights")
    fingerprint: str = Field(description="Content identity; the spec hash for produced models")
    parents: tuple[str, ...] = ()
    action: str | None = Field(default=None, description="Action type that produced it; None for a base")
    name: str | None = Field(default=None, description="User-facing name of an initial model")


class DatasetRef(BaseModel):
    """A dataset in the pool, materialised as a JSONL file in the run directory."""

    model_config = ConfigDict(frozen=True)

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
    inputs: dict[str, str | list[str]] = Field(description="slot name -> object id (a list for multi-model slots)")
    params: dict[str, Any] = Field(default_factory=dict)
    fingerprints: dict[str, str] = Field(default_factory=dict, description="object id -> content fingerprint")

    def spec_hash(self) -> str:
        return content_hash(self.model_dump(mode="json"))

    def model_id(self) -> str:
        """Id of the model this spec produces: content-addressed, so re-running it is a cache hit."""
        return "m" + self.spec_hash()[:11]

    def __hash__(self) -> int:
        return hash(self.spec_hash())
