"""Evaluate one model on several tasks: load it once, generate per task, score, time everything.

Tasks that drive the model themselves (the lm-eval adapter) implement `run_model` and bypass the
generation step; every other task goes through `generation.generate_with_stats`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import Split, Task
from lamdagent.evaluation.generation import generate_with_stats


@dataclass
class Sample:
    """One answer kept for the report, so a reader sees what the numbers mean."""

    id: str
    prompt: str
    output: str
    reference: Any
    correct: bool | None


@dataclass
class TaskResult:
    """Metrics of one task on one split, with what they cost."""

    name: str
    metrics: dict[str, float]
    primary_metric: str
    items: int
    seconds: float
    new_tokens: int = 0
    prompt_tokens: int = 0
    samples: list[Sample] = field(default_factory=list)
    # Every item's `score_one` verdict in item order, or empty unless the task judged every item: what a table
    # of outcomes resamples to show evaluation noise.
    verdicts: list[bool] = field(default_factory=list)
    # Figures that are not rates and so not metrics (an LLM judge's agreement, calls, tokens, seconds).
    info: dict[str, float] = field(default_factory=dict)

    @property
    def primary(self) -> float:
        return self.metrics[self.primary_metric]

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class EvalReport:
    """Everything one `evaluate_detailed` call measured."""

    model: str
    split: str
    device: str
    load_seconds: float
    tasks: dict[str, TaskResult]

    def metrics(self) -> dict[str, dict[str, float]]:
        return {name: dict(r.metrics) for name, r in self.tasks.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (references that are not JSON are written as their repr)."""
        out = asdict(self)
        for name, r in self.tasks.items():
            out["tasks"][name]["tokens_per_second"] = r.tokens_per_second
        return json.loads(json.dumps(out, default=repr))


@runtime_checkable
class RunsModel(Protocol):
    """A task that evaluates the loaded model by its own means (e.g. through lm-evaluation-harness)."""

    def run_model(
        self, model: Any, tokenizer: Any, split: Split, limit: int | None, batch_size: int, progress: bool
    ) -> TaskResult: ...


def load_model(model: str | Path, device: str | None = None) -> tuple[Any, Any]:
    """Model and left-padding tokenizer from a name or directory: safetensors only, fp32 on CPU, bf16 on GPU."""
    from lamdagent.hardware import precision
    from lamdagent.models.loading import load_causal_lm, load_tokenizer, resolve_model

    path = resolve_model(str(model))
    prec = precision(device)
    loaded = load_causal_lm(path, dtype=prec.dtype).to(prec.device)
    loaded.eval()
    return loaded, load_tokenizer(path, padding_side="left")


def _tokenizer_for(model: Any) -> Any:
    from lamdagent.models.loading import load_tokenizer

    source = getattr(model, "name_or_path", "") or ""
    if not source or not (Path(source) / "config.json").is_file():
        raise LamdagentError(
            "evaluate: the model was given as an object whose directory is unknown; pass tokenizer=..."
        )
    return load_tokenizer(source, padding_side="left")


def check_metrics(task: str, metrics: dict[str, float], primary: str) -> dict[str, float]:
    """Metrics as plain floats in [0, 1], the primary one included: the objective relies on both."""
    if primary not in metrics:
        raise LamdagentError(
            f"task {task!r} did not report its primary metric {primary!r} (got: {', '.join(metrics) or 'none'})"
        )
    out = {}
    for key, value in metrics.items():
        v = float(value)
        if math.isnan(v) or not 0.0 <= v <= 1.0:
            raise LamdagentError(f"task {task!r} reported {key}={value}, outside [0, 1]; metrics must be rates")
        out[key] = v
    return out


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return str(users[-1] if users else messages[-1].get("content", "")) if messages else ""


def run_task(
    model: Any,
    tokenizer: Any,
    task: Task,
    split: Split,
    limit: int | None = None,
    batch_size: int = 16,
    progress: bool = True,
    samples: int = 3,
) -> TaskResult:
    """Generate and score one task; times the whole of it, scoring included."""
    if isinstance(task, RunsModel):
        result = task.run_model(model, tokenizer, split, limit, batch_size, progress)
        result.metrics = check_metrics(task.name, result.metrics, result.primary_metric)
        return result
    start = time.perf_counter()
    items = task.items(split, limit)
    if not items:
        raise LamdagentError(f"task {task.name!r} has no {split} items; check its data and split settings")
    tools = [it.tools for it in items] if any(it.tools for it in items) else None
    outputs, stats = generate_with_stats(
        model,
        tokenizer,
        [it.messages for it in items],
        task.max_new_tokens,
        batch_size=batch_size,
        tools=tools,
        progress=progress,
        description=f"{task.name} ({split})",
    )
    metrics = check_metrics(task.name, task.score(items, outputs), task.primary_metric)
    verdicts = [task.score_one(it, out) for it, out in zip(items, outputs, strict=True)]
    kept = [
        Sample(it.id, _prompt_text(it.messages), out, it.reference, verdict)
        for it, out, verdict in zip(items[:samples], outputs[:samples], verdicts[:samples], strict=True)
    ]
    return TaskResult(
        name=task.name,
        metrics=metrics,
        primary_metric=task.primary_metric,
        items=len(items),
        seconds=time.perf_counter() - start,
        new_tokens=stats.new_tokens,
        prompt_tokens=stats.prompt_tokens,
        samples=kept,
        verdicts=[bool(v) for v in verdicts] if all(v is not None for v in verdicts) else [],
    )


def evaluate_detailed(
    model: str | Path | Any,
    tasks: list[Task],
    split: Split,
    limit: int | None = None,
    batch_size: int = 16,
    tokenizer: Any = None,
    progress: bool = True,
    samples: int = 3,
    device: str | None = None,
) -> EvalReport:
    """Evaluate on every task with the model loaded once; metrics, timings and a few sample answers."""
    if split not in ("validation", "test"):
        raise LamdagentError(f"split must be 'validation' or 'test', got {split!r}")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise LamdagentError(f"task names must be unique; got {names}")
    start = time.perf_counter()
    if isinstance(model, str | Path):
        label = str(model)
        model, loaded_tok = load_model(model, device)
        tokenizer = tokenizer or loaded_tok
    else:
        label = getattr(model, "name_or_path", "") or type(model).__name__
        tokenizer = tokenizer or _tokenizer_for(model)
    load_seconds = time.perf_counter() - start
    results = {t.name: run_task(model, tokenizer, t, split, limit, batch_size, progress, samples) for t in tasks}
    device_name = str(next(model.parameters()).device)
    return EvalReport(model=label, split=split, device=device_name, load_seconds=load_seconds, tasks=results)


def evaluate(
    model: str | Path | Any,
    tasks: list[Task],
    split: Split,
    limit: int | None = None,
    batch_size: int = 16,
    tokenizer: Any = None,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Task name -> metrics in [0, 1] (see `evaluate_detailed` for timings and samples)."""
    report = evaluate_detailed(
        model, tasks, split, limit=limit, batch_size=batch_size, tokenizer=tokenizer, progress=progress
    )
    return report.metrics()
