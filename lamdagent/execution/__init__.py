"""Running actions: one isolated worker per trial, behind an executor interface (local processes, Ray, or a
benchmark table).

Importing this package registers the built-in executors in `EXECUTORS` (Ray itself loads only when used).
"""

from lamdagent.execution import table  # noqa: F401 - registers the table executor
from lamdagent.execution.executor import EXECUTORS, Executor, ExecutorOptions, LocalExecutor
from lamdagent.execution.ray import RayExecutor

# Registered here, not by a decorator in ray.py: that module also runs as a script (the reaper of a local Ray
# instance), and registering again there would stop the reaper at import, leaving Ray's processes behind.
EXECUTORS.register("ray", RayExecutor)

__all__ = ["EXECUTORS", "Executor", "ExecutorOptions", "LocalExecutor", "RayExecutor"]
