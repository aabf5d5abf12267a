"""Turn a config task entry (name, source, options) into a `Task`.

A source is a registered task (`builtin:tool_use`, `bfcl`, `ifeval`, `gsm8k`, ...), `lm_eval:<task>` for
lm-evaluation-harness, or the path of a user task YAML file. The domain modules register their tasks when
imported, so they are imported here, on first use, rather than at package import (they pull in data code).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import TASKS, Task

# Modules whose import registers tasks, and the sources each one provides.
DOMAIN_MODULES: dict[str, tuple[str, ...]] = {
    "lamdagent.evaluation.tool_use": ("builtin:tool_use", "bfcl"),
    "lamdagent.evaluation.instruction_following": ("builtin:instruction_following", "ifeval"),
    "lamdagent.evaluation.math": ("builtin:math", "gsm8k"),
}
# Options a run passes to every task (the benchmarks folder); a task that takes none does without them.
SHARED_OPTIONS = ("data_dir",)
LM_EVAL_PREFIX = "lm_eval:"
YAML_SUFFIXES = (".yaml", ".yml")


def load_domain_tasks() -> dict[str, str]:
    """Import the domain modules; returns the ones that are missing, with the reason."""
    missing = {}
    for module in DOMAIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the module exists but one of its own imports failed: a real error
                raise
            missing[module] = str(exc)
    return missing


def known_sources() -> list[str]:
    load_domain_tasks()
    return [*TASKS.names(), f"{LM_EVAL_PREFIX}<task>", "<path to a task .yaml>"]


def build_task(name: str, source: str, options: dict[str, Any] | None = None) -> Task:
    """The task for one config entry; its `name` is the entry's name whatever the source calls it."""
    options = dict(options or {})
    shared = {k: options.pop(k) for k in SHARED_OPTIONS if k in options}
    if source.startswith(LM_EVAL_PREFIX):
        from lamdagent.evaluation.lm_eval import LmEvalTask

        return LmEvalTask(name, source[len(LM_EVAL_PREFIX) :], **options)
    if source.lower().endswith(YAML_SUFFIXES):
        from lamdagent.evaluation.user_task import load_user_task

        return load_user_task(source, name=name, options=options)
    missing = load_domain_tasks()
    if source not in TASKS:
        for module, sources in DOMAIN_MODULES.items():
            if source in sources and module in missing:
                raise LamdagentError(
                    f"task {name!r}: source {source!r} is provided by {module}, which is not installed "
                    f"({missing[module]})"
                )
        raise LamdagentError(f"task {name!r}: unknown source {source!r}; known: {', '.join(known_sources())}")
    factory = TASKS.get(source)
    params = inspect.signature(factory).parameters
    options.update({k: v for k, v in shared.items() if k in params})
    # max_new_tokens works for every task: set on the task when its factory does not take it.
    max_new_tokens = (
        options.pop("max_new_tokens") if "max_new_tokens" in options and "max_new_tokens" not in params else None
    )
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        accepted = [p for p in params if p not in ("self", "args", "kwargs")]
        raise LamdagentError(
            f"task {name!r} ({source}): {exc}; accepted options: {', '.join(accepted) or 'none'}"
        ) from None
    task = factory(**options)
    task.name = name
    if max_new_tokens is not None:
        task.max_new_tokens = int(max_new_tokens)
    return task
