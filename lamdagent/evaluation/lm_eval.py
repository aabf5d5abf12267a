"""Standard benchmarks through lm-evaluation-harness (0.4.13), run on the model already in memory.

A config entry `source: lm_eval:<task or group>` becomes an `LmEvalTask`. The evaluator hands it the loaded
model, which is wrapped in lm-eval's `HFLM` (no second load). With `include_path` (a folder of custom task
YAMLs, or one such file) only that folder is indexed, which skips a 9 s scan of the built-in tasks; relative
`data_files` in those YAMLs are resolved next to the YAML when the file is there, so a task folder can be
moved as a whole. Nothing is downloaded by lamdagent: data comes from local files or the datasets cache.

Splits: a task with both a validation and a test split uses them as such. A task with one evaluation split
(most) has it partitioned by a seeded shuffle: `validation_fraction` of the documents are the validation
split, the rest the test split, so the agent never sees the test documents.

Metrics: lm-eval's `metric,filter` keys become `metric` (filter `none`) or `metric/filter`; only
higher-is-better metrics within [0, 1] are kept. `accuracy`, the primary metric, repeats the metric named by
the `metric` option, by default the first one the task lists.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lamdagent.errors import LamdagentError, one_line
from lamdagent.evaluation.base import EvalItem, Split, Task, seeded_split
from lamdagent.evaluation.evaluator import Sample, TaskResult

INSTALL_HINT = "pip install 'lamdagent[lmeval]'"


class LmEvalOptions(BaseModel):
    """Options of an `lm_eval:` task entry."""

    model_config = ConfigDict(extra="forbid")

    include_path: str | None = Field(default=None, description="Folder (or one YAML file) of custom lm-eval tasks.")
    include_defaults: bool | None = Field(
        default=None, description="Also index lm-eval's built-in tasks; default: only when include_path is unset."
    )
    metric: str | None = Field(default=None, description="Metric reported as `accuracy`, e.g. 'acc_norm'.")
    apply_chat_template: bool = Field(default=True, description="Wrap prompts in the model's chat template.")
    fewshot_as_multiturn: bool = Field(default=True, description="Few-shot examples as chat turns.")
    num_fewshot: int | None = Field(default=None, ge=0, description="Few-shot examples; default: the task's.")
    system_instruction: str | None = Field(default=None, description="System prompt added to every request.")
    max_new_tokens: int | None = Field(default=None, ge=1, description="Cap on generated tokens (generate_until).")
    validation_fraction: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="Share of a single-split task used as the validation split."
    )
    seed: int = Field(default=0, description="Seed of the validation/test partition and of few-shot sampling.")


class LmEvalTask(Task):
    """A task (or group) of lm-evaluation-harness; the evaluator calls `run_model` instead of generating."""

    def __init__(self, name: str, lm_task: str, **options: Any) -> None:
        try:
            self.options = LmEvalOptions(**options)
        except ValidationError as exc:
            raise LamdagentError(one_line(exc, f"task {name!r} (lm_eval:{lm_task}): option")) from None
        if not lm_task:
            raise LamdagentError(f"task {name!r}: write the lm-eval task after the colon, e.g. 'lm_eval:arc_easy'")
        self.name = name
        self.lm_task = lm_task
        if self.options.max_new_tokens:
            self.max_new_tokens = self.options.max_new_tokens

    def items(self, split: Split, limit: int | None = None) -> list[EvalItem]:
        raise LamdagentError(f"task {self.name!r} is scored by lm-evaluation-harness; evaluate it with evaluate()")

    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        raise LamdagentError(f"task {self.name!r} is scored by lm-evaluation-harness; evaluate it with evaluate()")

    # ---------------------------------------------------------------- running

    def run_model(
        self, model: Any, tokenizer: Any, split: Split, limit: int | None, batch_size: int, progress: bool
    ) -> TaskResult:
        """Evaluate the loaded model on `split` (at most `limit` documents per lm-eval task)."""
        start = time.perf_counter()
        try:
            from lm_eval.evaluator import evaluate as lm_evaluate
            from lm_eval.models.huggingface import HFLM
        except ImportError:
            raise LamdagentError(f"task {self.name!r} needs lm-evaluation-harness; run `{INSTALL_HINT}`") from None
        opts = self.options
        with _quiet():
            loaded = self._load_tasks()
            samples = {}
            for task_name, task in loaded["tasks"].items():
                samples[task_name] = self._select(task, split, limit)
                if task.get_config("output_type") == "generate_until" and opts.max_new_tokens:
                    task.set_config("generation_kwargs", {"max_gen_toks": opts.max_new_tokens}, update=True)
                if opts.num_fewshot is not None and task.get_config("num_fewshot") != 0:
                    task.set_config("num_fewshot", opts.num_fewshot)
                elif task.get_config("num_fewshot") is None:
                    task.set_config("num_fewshot", 0)
                task.set_fewshot_seed(seed=opts.seed)
            device = next(model.parameters()).device
            lm = HFLM(
                pretrained=model,
                tokenizer=tokenizer,
                device="cuda" if device.type == "cuda" else "cpu",
                batch_size=batch_size,
            )
            chat = opts.apply_chat_template and bool(getattr(tokenizer, "chat_template", None))
            res = lm_evaluate(
                lm=lm,
                task_dict=loaded,
                samples=samples,
                bootstrap_iters=0,
                log_samples=True,
                system_instruction=opts.system_instruction,
                apply_chat_template=chat,
                fewshot_as_multiturn=chat and opts.fewshot_as_multiturn,
            )
        metrics = self._metrics(res, list(loaded["tasks"]))
        logged = [s for name in loaded["tasks"] for s in (res.get("samples") or {}).get(name, [])]
        return TaskResult(
            name=self.name,
            metrics=metrics,
            primary_metric=self.primary_metric,
            items=sum(len(v) for v in samples.values()),
            seconds=time.perf_counter() - start,
            new_tokens=_generated_tokens(tokenizer, logged),
            samples=[_sample(s) for s in logged[:3]],
        )

    def _load_tasks(self) -> dict[str, Any]:
        from lm_eval.tasks import TaskManager

        opts = self.options
        include: Path | None = None
        if opts.include_path:
            include = Path(opts.include_path).expanduser()
            if not include.exists():
                raise LamdagentError(f"task {self.name!r}: include_path {opts.include_path!r} does not exist")
            include = include.parent if include.is_file() else include
        defaults = opts.include_defaults if opts.include_defaults is not None else include is None
        manager = TaskManager(include_path=str(include) if include else None, include_defaults=defaults)
        if self.lm_task not in manager.all_tasks:
            where = f"in {include}" if include else "among lm-eval's tasks"
            known = ", ".join(manager.all_tasks[:12]) if include else "see `lm-eval ls tasks`"
            raise LamdagentError(f"task {self.name!r}: no lm-eval task {self.lm_task!r} {where} (known: {known})")
        try:
            return manager.load([self._spec(manager)])
        except LamdagentError:
            raise
        except Exception as exc:  # noqa: BLE001 - dataset and config failures become one clear line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise LamdagentError(
                f"task {self.name!r}: lm-eval could not load {self.lm_task!r} ({first}); "
                "check the task YAML and that its data is local or in the datasets cache"
            ) from None

    def _spec(self, manager: Any) -> str | dict[str, Any]:
        """The task's name, or its full config with `data_files` made absolute when they sit beside the YAML."""
        entry = manager.task_index.get(self.lm_task)
        yaml_path = getattr(entry, "yaml_path", None)
        cfg = getattr(entry, "cfg", None) or {}
        if yaml_path is None or "task" not in cfg:
            return self.lm_task
        files = (cfg.get("dataset_kwargs") or {}).get("data_files")
        resolved = _resolve_files(files, Path(yaml_path).parent)
        if resolved == files:
            return self.lm_task
        # lm-eval resolves data_files against the working directory; a config dict lets us fix them first.
        from lm_eval.tasks._yaml_loader import load_yaml

        full = load_yaml(Path(yaml_path), resolve_func=True)
        full["dataset_kwargs"] = {**(full.get("dataset_kwargs") or {}), "data_files": resolved}
        return full

    def _select(self, task: Any, split: Split, limit: int | None) -> list[int]:
        """Indices (into lm-eval's evaluation documents) that make up our split."""
        own_split = task.has_validation_docs() and task.has_test_docs()
        if own_split and task.get_config("validation_split") != task.get_config("test_split"):
            if split == "validation":
                task.set_config("test_split", None)  # eval_docs then falls back to the validation docs
            indices = list(range(len(task.eval_docs)))
        else:
            halves = seeded_split(
                len(task.eval_docs),
                f"{self.options.seed}:{task.config.task}",
                fraction=self.options.validation_fraction,
            )
            indices = sorted(halves[0] if split == "validation" else halves[1])
        if limit is not None:
            indices = indices[:limit]
        if not indices:  # lm-eval reads an empty selection as "all documents"
            raise LamdagentError(
                f"task {self.name!r}: lm-eval task {task.config.task!r} has no {split} documents to evaluate"
            )
        return indices

    def _metrics(self, res: dict[str, Any], leaves: list[str]) -> dict[str, float]:
        table = {**(res.get("groups") or {}), **(res.get("results") or {})}
        better = res.get("higher_is_better") or {}
        key = self.lm_task if self.lm_task in table else None
        if key is None and len(leaves) == 1:
            key = leaves[0]
        if key is not None:
            metrics = _bounded(table[key], better.get(key, {}))
        else:  # a group without aggregate metrics: average its tasks
            per_task = [_bounded(table[t], better.get(t, {})) for t in leaves if t in table]
            common = set.intersection(*(set(m) for m in per_task)) if per_task else set()
            metrics = {m: sum(p[m] for p in per_task) / len(per_task) for m in sorted(common)}
        if not metrics:
            raise LamdagentError(
                f"task {self.name!r}: lm-eval reported no higher-is-better metric in [0, 1] for {self.lm_task!r}"
            )
        chosen = self.options.metric or next(iter(metrics))
        if chosen not in metrics:
            raise LamdagentError(
                f"task {self.name!r}: option 'metric' is {chosen!r}, not among {', '.join(metrics)}; pick one of those"
            )
        return {self.primary_metric: metrics[chosen], **metrics}


def _bounded(row: dict[str, Any], higher_is_better: dict[str, bool]) -> dict[str, float]:
    out = {}
    for key, value in row.items():
        metric, _, filt = key.partition(",")
        if not filt or metric.endswith("_stderr") or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not higher_is_better.get(metric, True) or math.isnan(value) or not 0.0 <= value <= 1.0:
            continue
        out[metric if filt == "none" else f"{metric}/{filt}"] = float(value)
    return out


def _resolve_files(files: Any, base: Path) -> Any:
    if isinstance(files, str):
        path = Path(files).expanduser()
        return str((base / path).resolve()) if not path.is_absolute() and (base / path).exists() else files
    if isinstance(files, list):
        return [_resolve_files(f, base) for f in files]
    if isinstance(files, dict):
        return {k: _resolve_files(v, base) for k, v in files.items()}
    return files


def _generated_tokens(tokenizer: Any, logged: list[dict[str, Any]]) -> int:
    """Tokens in the generated answers (lm-eval does not count them); 0 for likelihood tasks."""
    total = 0
    for s in logged:
        args = s.get("arguments") or []
        if args and isinstance(args[0], list | tuple) and len(args[0]) > 1 and isinstance(args[0][1], dict):
            for resp in s.get("resps") or []:
                for text in resp if isinstance(resp, list) else [resp]:
                    if isinstance(text, str):
                        total += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return total


def _sample(s: dict[str, Any]) -> Sample:
    args = [a for a in s.get("arguments") or [] if isinstance(a, list | tuple) and a]
    filtered = s.get("filtered_resps") or [""]
    output: Any = filtered[0]
    if filtered and all(isinstance(f, list | tuple) and f and isinstance(f[0], float) for f in filtered):
        # Likelihood requests: one (log-likelihood, is-greedy) pair per choice; show the likeliest choice.
        best = max(range(len(filtered)), key=lambda i: filtered[i][0])
        output = args[best][1] if best < len(args) and len(args[best]) > 1 else best
    scores = [s[k] for k in s.get("metrics") or [] if isinstance(s.get(k), int | float)]
    return Sample(
        id=str(s.get("doc_id", "")),
        prompt=str(args[0][0]) if args else "",
        output=str(output).strip(),
        reference=s.get("target"),
        correct=bool(scores[0]) if scores else None,
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """lm-eval warns on every call that it was handed a model object; that is how we use it."""
    logger = logging.getLogger("lm_eval")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
