"""The run configuration: pydantic models of the YAML. With no file, the embedded demo runs.

Every model forbids unknown keys, so a typo becomes a one-line error naming the key instead of being ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lamdagent.errors import LamdagentError
from lamdagent.models.embedded import EMBEDDED_NAME


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetConfig(_Strict):
    name: str = Field(description="Identifier shown to the agent, e.g. tool_use_sft")
    kind: Literal["sft", "preference"]
    source: str | None = Field(
        default=None,
        description="builtin:<name>, a JSONL/JSON/CSV/Parquet file, a datasets directory or a hub id",
    )
    mix: list[str] | None = Field(default=None, description="names of other datasets of the same kind to concatenate")
    format: str = Field(
        default="auto", description="auto, messages, prompt_completion, preference, sharegpt, alpaca, …"
    )
    size: int | None = Field(
        default=None, ge=1, description="rows before data_scale; builtin sources generate this many"
    )
    split: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        if (self.source is None) == (self.mix is None):
            raise ValueError("give exactly one of 'source' or 'mix'")
        return self


class TaskConfig(_Strict):
    name: str
    source: str = Field(description="builtin:tool_use, bfcl, ifeval, gsm8k, lm_eval:<task>, or a task YAML file")
    weight: float = Field(default=1.0, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)


class ConstraintConfig(_Strict):
    task: str
    min_delta: float | None = Field(default=None, description="may not drop more than this below the base model")
    min: float | None = Field(default=None, ge=0, le=1, description="absolute lower bound")


class LLMConfig(BaseModel):
    """The agent LLM. Backend-specific keys (retries, structured_output, n_threads, device, …) pass through and
    are checked by the backend itself when the run starts (see lamdagent/llm/)."""

    model_config = ConfigDict(extra="allow")

    backend: Literal["local", "openai", "llamacpp"] = "local"
    model: str = EMBEDDED_NAME
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, description="NAME of the environment variable holding the key")
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=256, ge=16)
    timeout_s: float = Field(default=120, gt=0)


class PolicyConfig(_Strict):
    name: str = "llm"
    llm: LLMConfig = Field(default_factory=LLMConfig)
    max_retries: int = Field(default=2, ge=0, le=10)
    pipeline: list[dict[str, Any]] | None = Field(default=None, description="steps for the `fixed` policy")
    mode: Literal["auto", "json", "choose"] | None = Field(
        default=None, description="llm policy: auto (constrained when the backend can), json, or choose"
    )
    memory_max_chars: int | None = Field(default=None, ge=100, description="llm policy: memory length cap")
    history_limit: int | None = Field(default=None, ge=0, description="llm policy: trials shown in prompts")

    def options(self) -> dict[str, Any]:
        """What a policy factory receives: the keys that were set (each policy checks the ones it takes)."""
        return self.model_dump(mode="json", exclude_none=True)


class BudgetConfig(_Strict):
    iterations: int | None = Field(default=6, ge=1)
    wall_clock_s: float | None = Field(default=None, gt=0)
    llm_tokens: int | None = Field(default=None, ge=1)


class ExecutorConfig(_Strict):
    kind: Literal["local", "ray"] = "local"
    parallel: int = Field(default=1, ge=1)
    timeout_s: float = Field(default=3600, gt=0)
    ray_address: str | None = None
    cpus_per_trial: float = Field(default=1, gt=0)
    gpus_per_trial: float = Field(default=0, ge=0)


class EvalConfig(_Strict):
    batch_size: int = Field(default=16, ge=1)
    limit: int | None = Field(default=None, ge=1, description="at most this many items per task and split")


class RunConfig(_Strict):
    base_models: list[str] = Field(default_factory=lambda: [EMBEDDED_NAME], min_length=1)
    datasets: list[DatasetConfig]
    tasks: list[TaskConfig] = Field(min_length=1)
    constraints: list[ConstraintConfig] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=lambda: ["sft", "dpo", "linear", "ties", "slerp"])
    grids: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="fixed params per action")
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    data_scale: float = Field(default=1.0, gt=0, le=1)
    seed: int = 0
    data_dir: str | None = Field(default=None, description="where benchmark files live (tasks may use it)")

    @field_validator("datasets")
    @classmethod
    def _unique_datasets(cls, v: list[DatasetConfig]) -> list[DatasetConfig]:
        names = [d.name for d in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"dataset names must be unique; repeated: {sorted(dup)}")
        return v

    @model_validator(mode="after")
    def _references(self) -> RunConfig:
        names = {d.name: d for d in self.datasets}
        for d in self.datasets:
            for m in d.mix or []:
                if m not in names or names[m].mix is not None:
                    raise ValueError(f"dataset {d.name!r}: mix entry {m!r} is not a plain dataset of this config")
                if names[m].kind != d.kind:
                    raise ValueError(f"dataset {d.name!r}: cannot mix {names[m].kind} data {m!r} into {d.kind} data")
        tasks = {t.name for t in self.tasks}
        for c in self.constraints:
            if c.task not in tasks:
                raise ValueError(f"constraint on unknown task {c.task!r}; tasks are {sorted(tasks)}")
        return self


def _demo_dict() -> dict[str, Any]:
    """The embedded demo: a 2-core machine finishes it within about 15 minutes."""
    return {
        "base_models": [EMBEDDED_NAME],
        "data_scale": 1.0,
        "datasets": [
            {
                "name": "tool_use_sft",
                "kind": "sft",
                "source": "builtin:tool_use",
                "size": 24,
                "description": "function calls in the <tool_call> format",
            },
            {
                "name": "instruction_sft",
                "kind": "sft",
                "source": "builtin:instruction_following",
                "size": 24,
                "description": "answers that follow verifiable format instructions",
            },
            {
                "name": "mixed_sft",
                "kind": "sft",
                "mix": ["tool_use_sft", "instruction_sft"],
                "description": "both SFT sets mixed",
            },
            {
                "name": "tool_use_pref",
                "kind": "preference",
                "source": "builtin:tool_use",
                "size": 16,
                "description": "correct calls preferred over realistic mistakes",
            },
        ],
        "tasks": [
            {
                "name": "tool_use",
                "source": "builtin:tool_use",
                "weight": 1.0,
                "options": {"val_size": 16, "test_size": 16, "max_new_tokens": 120},
            },
            {
                "name": "instruction_following",
                "source": "builtin:instruction_following",
                "weight": 0.0,
                "options": {"val_size": 12, "test_size": 12, "max_new_tokens": 128},
            },
        ],
        "constraints": [{"task": "instruction_following", "min_delta": -0.01}],
        "actions": ["sft", "dpo", "linear", "ties", "slerp"],
        "params": {
            "sft": {"lora_r": 16, "batch_size": 4, "max_length": 640, "max_steps": -1, "num_epochs": 1},
            "dpo": {
                "lora_r": 16,
                "batch_size": 4,
                "max_length": 640,
                "max_steps": -1,
                "num_epochs": 1,
                "learning_rate": 2e-4,
            },
        },
        "grids": {
            "sft": {"learning_rate": [2e-4, 5e-4]},
            "linear": {"weight": [0.3, 0.5, 0.7]},
            "ties": {"density": [0.3, 0.7]},
            "slerp": {"t": [0.3, 0.5]},
        },
        "policy": {"name": "llm", "llm": {"backend": "local", "model": EMBEDDED_NAME, "temperature": 0.0}},
        "budget": {"iterations": 5, "wall_clock_s": 780},
        "eval": {"batch_size": 16},
    }


def default_config() -> RunConfig:
    return RunConfig.model_validate(_demo_dict())


def _one_line(exc: ValidationError, where: str) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    hint = "; remove it or fix its spelling" if err["type"] == "extra_forbidden" else ""
    return f"{where}: {key}: {msg}{hint}"


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML config (or the demo default), apply dotted CLI overrides, validate."""
    if path is None:
        raw = _demo_dict()
        where = "default config"
    else:
        p = Path(path)
        if not p.is_file():
            raise LamdagentError(f"config file {p} not found; pass a YAML file or omit it to run the embedded demo")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            at = f" line {line + 1}" if line is not None else ""
            raise LamdagentError(f"{p}{at}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
        if not isinstance(raw, dict):
            raise LamdagentError(f"{p}: the top level must be a mapping of settings")
        where = str(p)
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise LamdagentError(_one_line(exc, where)) from None
