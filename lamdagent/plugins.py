"""Every plug-in registry in one place: which kinds of plug-in exist, and what options each one declares.

A new action, policy, executor, task source or LLM backend registers itself in its kind's registry; this
module is how the CLI (`lamdagent plugins`) and the conformance tests find all of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from lamdagent.registry import Registry

SCHEMA_KEYS = ("type", "description", "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum")


def registries() -> dict[str, Registry[Any]]:
    """Each plug-in kind's registry, with the built-in plug-ins registered."""
    import lamdagent.actions  # noqa: F401 - registers the action types
    from lamdagent.actions.base import ACTIONS
    from lamdagent.evaluation.tasks import TASKS
    from lamdagent.execution import EXECUTORS
    from lamdagent.llm import LLM_BACKENDS
    from lamdagent.policies import POLICIES

    return {
        "action": ACTIONS,
        "policy": POLICIES,
        "executor": EXECUTORS,
        "llm backend": LLM_BACKENDS,
        "task source": TASKS,
    }


def describe_options(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Option name -> its JSON-schema facts (type, description, default, bounds)."""
    schema = model.model_json_schema()
    out = {}
    for name, prop in schema.get("properties", {}).items():
        out[name] = {k: prop[k] for k in SCHEMA_KEYS if k in prop}
        if name in schema.get("required", []):
            out[name]["required"] = True
    return out


def describe_plugins() -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """Kind -> plug-in name -> its options, as `lamdagent plugins --json` prints them."""
    return {
        kind: {name: describe_options(registry.options_model(name)) for name in registry.names()}
        for kind, registry in registries().items()
    }
