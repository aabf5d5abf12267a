"""The action-type contract: named plug-ins with declared object slots and a frozen parameter model."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from lamdagent.errors import LamdagentError, one_line
from lamdagent.registry import Registry
from lamdagent.spec import DatasetRef, ModelRef, ObjectKind

# A parameter field marked with this (json_schema_extra={OMIT_AT_DEFAULT: True}) is left out of a spec while it
# holds its default: options added after ledgers and benchmark tables were written keep their signatures valid.
OMIT_AT_DEFAULT = "omit_at_default"


class ActionParams(BaseModel):
    """Base of every action's parameters: frozen, no unknown keys, every field described."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse, at import, a parameter model that would let a config pass unknown keys or remote code through."""
        super().__pydantic_init_subclass__(**kwargs)
        if cls.model_config.get("extra") != "forbid" or "trust_remote_code" in cls.model_fields:
            raise TypeError(
                f"{cls.__name__}: action parameters must forbid unknown keys and may not declare trust_remote_code"
            )


@dataclass(frozen=True)
class Slot:
    """An object slot of an action type: which pool objects may fill it."""

    name: str
    kind: ObjectKind
    description: str
    count: int = 1  # >1: the slot takes that many distinct objects (a list)
    ancestor_of: str | None = None  # a model slot whose model must be an ancestor of that slot's models


@dataclass
class ActionContext:
    """What a worker hands to `ActionType.run`: resolved inputs, validated params, where to write."""

    inputs: dict[str, ModelRef | DatasetRef | list[ModelRef]]
    params: ActionParams
    output_dir: Path
    device: str = "cpu"
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("lamdagent.action"))
    timings: dict[str, float] = field(default_factory=dict)  # filled by run(): load_s, train_s, save_s
    stats: dict[str, Any] = field(default_factory=dict)  # e.g. train_tokens, steps


class ActionType(ABC):
    """An operation that turns pool objects into a new full model directory (safetensors)."""

    name: ClassVar[str]
    description: ClassVar[str]
    relation: ClassVar[str]  # model-card base_model_relation: "finetune" or "merge"
    slots: ClassVar[tuple[Slot, ...]]
    Params: ClassVar[type[ActionParams]]

    @abstractmethod
    def run(self, ctx: ActionContext) -> None:
        """Write the produced model (weights, config, tokenizer) into `ctx.output_dir`."""

    @classmethod
    def mix_weights(cls, params: Mapping[str, Any]) -> tuple[float, ...] | None:
        """Each input model's share of the result where it is (about) a weighted average of its model slot's
        models, as for a linear or SLERP merge; None for every other action (the agent's briefing uses it)."""
        return None

    @classmethod
    def parse_params(cls, params: Mapping[str, Any]) -> ActionParams:
        """Validate raw params; a bad value becomes a one-line error naming the field and its bounds."""
        try:
            return cls.Params(**params)
        except ValidationError as exc:
            where = f"action {cls.name!r}: params"
            raise LamdagentError(f"{one_line(exc, where)}; see `lamdagent actions` for valid values") from None

    @classmethod
    def spec_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validated params as a spec stores them: every option with its value, defaults filled in, except the
        options marked `OMIT_AT_DEFAULT` that hold their default (the worker fills those in again)."""
        parsed = cls.parse_params(params)
        out = parsed.model_dump(mode="json")
        for name, info in cls.Params.model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get(OMIT_AT_DEFAULT) and getattr(parsed, name) == info.default:
                out.pop(name, None)
        return out

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The stable JSON shape printed by `lamdagent actions --json` and shown to the agent."""
        schema = cls.Params.model_json_schema()
        params = {}
        for pname, prop in schema.get("properties", {}).items():
            params[pname] = {
                k: prop[k]
                for k in (
                    "type",
                    "description",
                    "default",
                    "minimum",
                    "maximum",
                    "exclusiveMinimum",
                    "exclusiveMaximum",
                    "enum",
                    "anyOf",
                )
                if k in prop
            }
        return {
            "name": cls.name,
            "description": cls.description,
            "relation": cls.relation,
            "slots": [
                {"name": s.name, "kind": s.kind, "count": s.count, "description": s.description} for s in cls.slots
            ],
            "params": params,
        }


ACTIONS: Registry[type[ActionType]] = Registry("action type")
