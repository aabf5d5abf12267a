"""Plug-ins (action types, policies, executors, task sources, LLM backends) are found by name in a registry.

A plug-in may declare a typed options model (`Options`, a pydantic model whose fields carry descriptions and
bounds); `Registry.options()` checks a config section against it when the config is loaded, so a typo or a
bad value fails before anything runs, with the same one-line error for every kind of plug-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from lamdagent.errors import LamdagentError, one_line

T = TypeVar("T")
O = TypeVar("O", bound=BaseModel)  # noqa: E741 - the options type


class PluginOptions(BaseModel):
    """Base of every plug-in's options: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_options(model: type[O], raw: Mapping[str, Any] | None, where: str) -> O:
    """Validate `raw` against `model`; the error names `where.<field>` and, for a typo, the accepted keys."""
    try:
        return model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise LamdagentError(one_line(exc, where, list(model.model_fields))) from None


class Registry(Generic[T]):
    """Maps names to plug-ins; an unknown name raises an error that lists the known ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise LamdagentError(f"{self.kind} {name!r} is registered twice; pick another name")
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        """Register with `@registry.decorator("name")`."""
        return lambda item: self.register(name, item)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise LamdagentError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def options_model(self, name: str) -> type[BaseModel]:
        """The plug-in's declared options model (`Options`, or `Params` for action types)."""
        item = self.get(name)
        model = getattr(item, "Options", None) or getattr(item, "Params", None)
        if model is None:
            raise LamdagentError(f"{self.kind} {name!r} declares no options model")
        return model

    def options(self, name: str, raw: Mapping[str, Any] | None, where: str) -> BaseModel:
        """Check a config section against the named plug-in's options model."""
        return parse_options(self.options_model(name), raw, where)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
