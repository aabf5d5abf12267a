"""Turn a config task entry (name, source, options) into a `Task`.

A source is a registered task (`builtin:tool_use`, `bfcl`, `ifeval`, `gsm8k`, ...), `lm_eval:<task>` for
lm-evaluation-harness, or the path of a user task YAML file. The domain modules register their tasks when
imported, so this module imports them all: whoever builds a task sees every registered source.
"""

from __future__ import annotations

import inspect
from typing import Any

from lamdagent.errors import LamdagentError

# Importing a domain module registers its tasks: builtin:tool_use and bfcl, builtin:instruction_following and
# ifeval, builtin:math and gsm8k, judge.
from lamdagent.evaluation import instruction_following, judge, math, tool_use  # noqa: F401
from lamdagent.evaluation.base import TASKS, Task

# Options a run passes to every task (the benchmarks folder); a task that takes none does without them.
SHARED_OPTIONS = ("data_dir",)
LM_EVAL_PREFIX = "lm_eval:"
YAML_SUFFIXES = (".yaml", ".yml")


def known_sources() -> list[str]:
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
    if source not in TASKS:
        raise LamdagentError(f"task {name!r}: unknown source {source!r}; known: {', '.join(known_sources())}")
    factory = TASKS.get(source)
    fields = TASKS.options_model(source).model_fields
    options.update({k: v for k, v in shared.items() if k in fields})
    checked = TASKS.options(source, options, f"task {name!r} ({source}) options")
    kwargs = checked.model_dump(exclude_unset=True, exclude_none=True)
    # max_new_tokens works for every task: set on the task when its factory does not take it
    own = "max_new_tokens" not in inspect.signature(factory).parameters
    max_new_tokens = kwargs.pop("max_new_tokens", None) if own else None
    task = factory(**kwargs)
    task.name = name
    if max_new_tokens is not None:
        task.max_new_tokens = int(max_new_tokens)
    return task
