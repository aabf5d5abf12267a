"""Running actions: one isolated worker per trial, behind an executor interface (local processes or Ray).

Importing this package registers the built-in executors in `EXECUTORS` (Ray itself loads only when used).
"""

from lamdagent.execution import ray, table  # noqa: F401 - registers the ray and table executors
from lamdagent.execution.executor import EXECUTORS, Executor, ExecutorOptions, LocalExecutor

__all__ = ["EXECUTORS", "Executor", "ExecutorOptions", "LocalExecutor"]
