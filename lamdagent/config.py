"""The run configuration: pydantic models of the YAML. With no file, the embedded demo runs.

Every model forbids unknown keys, so a typo becomes a one-line error naming the key instead of being ignored.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lamdagent.errors import LamdagentError, one_line
from lamdagent.models.embedded import EMBEDDED_NAME
from lamdagent.spec import EvalSettings, TaskSpec


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


class TaskConfig(TaskSpec):
    """A task of the run: what `TaskSpec` says, and its weight in the objective."""

    weight: float = Field(default=1.0, ge=0)


def check_task(task: TaskSpec) -> None:
    """A task's source exists and its options fit the source's options model (lm-eval and YAML tasks are
    checked when they are built, since that reads their files)."""
    from lamdagent.evaluation.tasks import LM_EVAL_PREFIX, SHARED_OPTIONS, YAML_SUFFIXES, known_sources
    from lamdagent.evaluation.tasks import TASKS as SOURCES

    if task.source.startswith(LM_EVAL_PREFIX) or task.source.lower().endswith(YAML_SUFFIXES):
        return
    if task.source not in SOURCES:
        raise LamdagentError(
            f"tasks.{task.name}.source: unknown source {task.source!r}; known: {', '.join(known_sources())}"
        )
    options = {k: v for k, v in task.options.items() if k not in SHARED_OPTIONS}
    SOURCES.options(task.source, options, f"tasks.{task.name}.options")


class ConstraintConfig(_Strict):
    task: str
    min_delta: float | None = Field(default=None, description="may not drop more than this below the base model")
    min: float | None = Field(default=None, ge=0, le=1, description="absolute lower bound")


class PluginSection(BaseModel):
    """A config section that names a plug-in; its other keys are the plug-in's options, checked against the
    options model the plug-in declares (see `lamdagent.registry`) when the whole config is validated."""

    model_config = ConfigDict(extra="allow")

    def options(self) -> dict[str, Any]:
        """The section without the plug-in's name: what the plug-in's options model receives."""
        return dict(self.model_extra or {})


class PolicyConfig(PluginSection):
    name: str = Field(default="llm", description="llm, random, greedy, fixed, ... (`lamdagent plugins`)")


class BudgetConfig(_Strict):
    iterations: int | None = Field(default=6, ge=1)
    wall_clock_s: float | None = Field(default=None, gt=0)
    llm_tokens: int | None = Field(default=None, ge=1)


class ExecutorConfig(PluginSection):
    kind: str = Field(default="local", description="local or ray (`lamdagent plugins`)")


EvalConfig = EvalSettings


class RunConfig(_Strict):
    base_models: list[str] = Field(default_factory=lambda: [EMBEDDED_NAME], min_length=1)
    datasets: list[DatasetConfig]
    tasks: list[TaskConfig] = Field(min_length=1)
    constraints: list[ConstraintConfig] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=lambda: ["sft", "dpo", "linear", "ties", "slerp"])
    grids: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="fixed params per action")
    max_depth: int | None = Field(
        default=None, ge=1, description="deepest pipeline: a model made by this many actions is no action's input"
    )
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
        try:
            # the sections hold every option, defaults filled in, so `lamdagent config` shows what will run
            policy = self.policy_options().model_dump(mode="json")
            executor = self.executor_options().model_dump(mode="json")
            for task in self.tasks:
                check_task(task)
        except LamdagentError as exc:
            raise ValueError(str(exc)) from None
        self.policy = PolicyConfig(name=self.policy.name, **policy)
        self.executor = ExecutorConfig(kind=self.executor.kind, **executor)
        return self

    def policy_options(self) -> Any:
        """The policy's options, typed by the model the policy declares."""
        from lamdagent.policies import policy_options

        return policy_options(self.policy.name, self.policy.options())

    def executor_options(self) -> Any:
        """The executor's options, typed by the model the executor declares."""
        from lamdagent.execution import EXECUTORS

        return EXECUTORS.options(self.executor.kind, self.executor.options(), "executor")


def _demo_dict() -> dict[str, Any]:
    """The embedded demo, sized from measurements on idle 2-core CPUs (docs/demo.md): two epochs on the top 15
    of the model's 30 blocks is the cheapest training that moved tool use on the test split. On the slower of
    the machines measured one fine-tune and the evaluations fill the 15-minute clock, so the first trial is the
    result; the mixed set (128 tool-use + 40 instruction rows, the token count of the 144 tool-use rows it
    replaced) keeps instruction following where tool-use rows alone lost it on test. A faster machine also fits
    a second fine-tune or a merge (the loop offers only what fits)."""
    return {
        "base_models": [EMBEDDED_NAME],
        "data_scale": 1.0,
        "datasets": [
            {
                "name": "tool_use_sft",
                "kind": "sft",
                "source": "builtin:tool_use",
                "size": 128,
                "description": "function calls in the <tool_call> format",
            },
            {
                "name": "instruction_sft",
                "kind": "sft",
                "source": "builtin:instruction_following",
                "size": 40,
                "description": "answers that follow verifiable format instructions",
            },
            {
                # Named for both skills: the embedded agent ranks a dataset by how likely its name is as the
                # answer, and "mixed_sft" lost to "tool_use_sft" whatever its description said (docs/demo.md).
                "name": "tool_use_and_instruction_sft",
                "kind": "sft",
                "mix": ["tool_use_sft", "instruction_sft"],
                "description": "function calls and instruction-following answers, both SFT sets mixed",
            },
        ],
        "tasks": [
            {
                "name": "tool_use",
                "source": "builtin:tool_use",
                "weight": 1.0,
                # 48 items a split: one item is 0.021, and a gain of 0.15 takes 8 items.
                "options": {"val_size": 48, "test_size": 48, "max_new_tokens": 120},
            },
            {
                "name": "instruction_following",
                "source": "builtin:instruction_following",
                # Half the weight of tool use: where two models tie on tool use within an item, the one that
                # kept more instruction following wins (docs/demo.md).
                "weight": 0.5,
                # 96 prompts a split (about 190 instructions, 35-40 s a split): on 32 the base scored 0.305 on
                # validation and 0.441 on test, and every change of it scored below 0.441 on test.
                "options": {"val_size": 96, "test_size": 96, "max_new_tokens": 128},
            },
        ],
        "constraints": [{"task": "instruction_following", "min_delta": -0.01}],
        "actions": ["sft", "linear", "slerp"],
        "params": {
            # Full fine-tuning of the top 15 blocks (the embeddings, the tied head and the lower blocks frozen):
            # twice the tokens a second of every block, and the same test gain (docs/demo.md, "Training the top
            # blocks only"). One row per pass, 8 accumulated: the optimiser steps of batch 8 at 2-4 GB.
            "sft": {
                "lora_r": 0,
                "batch_size": 1,
                "gradient_accumulation_steps": 8,
                "max_length": 512,
                "max_steps": -1,
                "num_epochs": 2,
                "train_layers": 15,
            },
        },
        # One learning rate: on the top 10 blocks 1e-4 lost tool use on test where 3e-4 gained (docs/demo.md).
        "grids": {
            "sft": {"learning_rate": [3e-4]},
            "linear": {"weight": [0.3, 0.5, 0.7]},
            "slerp": {"t": [0.3, 0.5]},
        },
        "policy": {"name": "llm", "llm": {"backend": "local", "model": EMBEDDED_NAME, "temperature": 0.0}},
        "budget": {"iterations": 4, "wall_clock_s": 900},
        # The test split scores the chosen model only: its test evaluation is what the clock keeps time for.
        "eval": {"batch_size": 16, "final_top_k": 1},
    }


def default_config() -> RunConfig:
    return RunConfig.model_validate(_demo_dict())


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML config (or the demo default), apply dotted CLI overrides, validate."""
    if path is None:
        raw = _demo_dict()
        where = "default config"
    else:
        p = Path(path)
        if not p.is_file():
            raise LamdagentError(f"config file {p} not found; pass a YAML file or omit it to run the embedded demo")
        raw = read_yaml(p)
        if not isinstance(raw, dict):
            raise LamdagentError(f"{p}: the top level must be a mapping of settings")
        where = str(p)
    file_policy = raw.get("policy", {}).get("name", "llm") if isinstance(raw.get("policy"), dict) else None
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for depth, key in enumerate(parents):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                at = ".".join(parents[: depth + 1])
                raise LamdagentError(f"{where}: {at} must be a mapping to set {dotted}; fix it in the config")
        node[leaf] = value
    if file_policy is not None and raw["policy"].get("name", "llm") != file_policy:
        _drop_other_policy_options(raw["policy"])
    check_secrets(raw, where)  # before anything else reads, prints or stores the config
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise LamdagentError(one_line(exc, where)) from None
    check_dataset_names(cfg, where)
    check_actions(cfg, where)
    return cfg


def _drop_other_policy_options(section: dict[str, Any]) -> None:
    """After `--policy NAME` switched the policy: drop the options that only the file's policy declares. A
    `lamdagent config` copy lists every option of its policy (`mode` of `llm`), and `--policy random` on it
    would otherwise be refused; the options both declare (`llm`, `screen`) stay."""
    from lamdagent.policies import POLICIES

    if section.get("name") not in POLICIES:
        return  # validation names the unknown policy
    declared = POLICIES.options_model(section["name"]).model_fields
    for key in [k for k in section if k != "name" and k not in declared]:
        del section[key]


# ------------------------------------------------------------------ checks beyond the models' own
class DuplicateKeyError(yaml.YAMLError):
    """A mapping that repeats a key: YAML would silently keep the last value, hiding the first."""

    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(f"key {key!r} on line {line} repeats the one on line {first}")
        self.key, self.line, self.first = key, line, first


class UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a repeated key in one mapping (merge keys `<<` may still be overridden)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKeyError(key, line, seen[key])
                seen[key] = line
            except TypeError:  # an unhashable key: the base class reports it
                continue
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """A YAML file's contents; a syntax error or a repeated key is one line naming the file, the line and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LamdagentError(f"{path}: not UTF-8 text; save the config as UTF-8") from None
    except OSError as exc:
        raise LamdagentError(f"{path}: cannot be read ({exc.strerror}); check the path and its permissions") from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader) or {}  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise LamdagentError(
            f"{path} line {exc.line}: key {exc.key!r} appears twice in the same mapping (also on line {exc.first}); "
            "keep one"
        ) from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" line {line + 1}" if line is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LamdagentError(f"{path}{at}: not valid YAML ({problem}); fix the syntax there") from None


_CREDENTIAL_WORDS = frozenset({"token", "password", "passwd", "passphrase", "secret", "authorization", "apikey"})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USE_ENV = "put the key in an environment variable and name that variable with api_key_env"


def _credential_key(key: str) -> bool:
    """Whether a key's name says it holds a credential (`api_key`, `hf_token`, `clientSecret`, ...).

    Whole words only, so `max_tokens` or `tokenizer` pass; a key ending in `_env` names a variable instead.
    """
    if key.lower().endswith("_env"):
        return False
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()) if w]
    pairs = {a + b for a, b in zip(words, words[1:], strict=False)}
    return bool(_CREDENTIAL_WORDS & (set(words) | pairs))


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, key, value) of every node below `value`; paths read `policy.llm.base_url`, `datasets[2].name`."""
    if isinstance(value, dict):
        for key, child in value.items():
            here = f"{path}.{key}" if path else str(key)
            yield here, key, child
            yield from _walk(child, here)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            here = f"{path}[{i}]"
            yield here, None, child
            yield from _walk(child, here)


def check_secrets(raw: Any, where: str = "config") -> None:
    """Refuse a config that holds a credential, or that turns on code execution from a model repository.

    Keys are read from the environment variable a config names, never from the config itself: a config is
    copied into the run directory and the ledger, shown to the agent and printed by `lamdagent config`.
    """
    from lamdagent.secrets import has_userinfo, looks_like_key

    for path, key, value in _walk(raw):
        if isinstance(key, str) and key.lower() == "trust_remote_code" and value is not False:
            raise LamdagentError(
                f"{where}: {path}: lamdagent never runs code from a model repository; remove trust_remote_code"
            )
        if isinstance(key, str) and _credential_key(key):
            raise LamdagentError(f"{where}: {path}: a config may not hold a credential; {_USE_ENV}")
        if not isinstance(value, str):
            continue
        if has_userinfo(value):
            raise LamdagentError(
                f"{where}: {path}: the URL carries a user name or password; drop it from the URL and {_USE_ENV}"
            )
        if looks_like_key(value):
            raise LamdagentError(f"{where}: {path}: the value looks like an API key or token; {_USE_ENV}")
        if isinstance(key, str) and key.lower().endswith("_env") and not _ENV_NAME.fullmatch(value):
            raise LamdagentError(
                f"{where}: {path}: {value[:40]!r} is not an environment variable name; give the NAME of the "
                "variable that holds the key"
            )


def check_dataset_names(cfg: RunConfig, where: str = "config") -> None:
    """Dataset names become file names in the run (`RUN/data/<name>.jsonl`): refuse any that could escape it."""
    from lamdagent.data.formats import NAME_RULE, valid_name

    for i, d in enumerate(cfg.datasets):
        if not valid_name(d.name):
            raise LamdagentError(f"{where}: datasets[{i}].name {d.name!r} is not a valid dataset name; {NAME_RULE}")


MAX_GRID_COMBINATIONS = 100_000  # beyond this, each value is still checked alone, but not every combination


def check_actions(cfg: RunConfig, where: str = "config") -> None:
    """Check `actions`, `params` and `grids` against each action type's parameter model, so a bad value fails
    when the config loads rather than trials later: every name enabled and known, every grid a non-empty list
    of distinct valid values, and every combination of the fixed params with one value per grid parameter
    accepted by the model."""
    import lamdagent.actions  # noqa: F401 - registers the built-in action types
    from lamdagent.actions.base import ACTIONS

    known = ACTIONS.names()
    for i, name in enumerate(cfg.actions):
        if name not in known:
            raise LamdagentError(f"{where}: actions[{i}]: unknown action {name!r}; known: {', '.join(known)}")
        if cfg.actions.index(name) != i:
            raise LamdagentError(f"{where}: actions[{i}]: {name!r} is listed twice; keep one")
    for section, entries in (("params", cfg.params), ("grids", cfg.grids)):
        for action in entries:
            if action not in cfg.actions:
                raise LamdagentError(
                    f"{where}: {section}.{action}: action {action!r} is not enabled; add it to `actions` or remove "
                    "this entry"
                )
    for action in cfg.actions:
        model = ACTIONS.get(action).Params
        fields = sorted(model.model_fields)
        fixed = dict(cfg.params.get(action, {}))
        grid = dict(cfg.grids.get(action, {}))
        for section, names in (("params", fixed), ("grids", grid)):
            for pname in names:
                if pname not in model.model_fields:
                    raise LamdagentError(
                        f"{where}: {section}.{action}.{pname}: {action!r} has no parameter {pname!r}; valid: "
                        f"{', '.join(fields)}"
                    )
        try:
            model.model_validate(fixed)
        except ValidationError as exc:
            raise LamdagentError(f"{where}: {one_line(exc, f'params.{action}')}; see `lamdagent actions`") from None
        for pname, values in grid.items():
            if pname in fixed:
                raise LamdagentError(
                    f"{where}: grids.{action}.{pname}: also fixed in params.{action}; keep it in one of the two"
                )
            if not values:
                raise LamdagentError(
                    f"{where}: grids.{action}.{pname}: the list of values is empty; give at least one or remove it"
                )
            parsed: list[Any] = []
            for k, value in enumerate(values):
                try:
                    checked = getattr(model.model_validate({**fixed, pname: value}), pname)
                except ValidationError as exc:
                    # only the value's own errors here; checks across fields come with the combinations below
                    own = [e for e in exc.errors() if tuple(e["loc"][:1]) == (pname,)]
                    if own:
                        msg = str(own[0]["msg"]).removeprefix("Value error, ")
                        raise LamdagentError(
                            f"{where}: grids.{action}.{pname}[{k}]: {value!r} is not valid: {msg}; "
                            "see `lamdagent actions`"
                        ) from None
                    checked = value
                if checked in parsed:
                    raise LamdagentError(
                        f"{where}: grids.{action}.{pname}[{k}]: {value!r} repeats an earlier value; list each once"
                    )
                parsed.append(checked)
        if not grid or math.prod(len(v) for v in grid.values()) > MAX_GRID_COMBINATIONS:
            continue
        keys = list(grid)
        for combo in itertools.product(*(grid[n] for n in keys)):
            chosen = dict(zip(keys, combo, strict=True))
            try:
                model.model_validate({**fixed, **chosen})
            except ValidationError as exc:
                shown = ", ".join(f"{n}={v!r}" for n, v in chosen.items())
                raise LamdagentError(
                    f"{where}: grids.{action}: the combination {shown} with params.{action} is not valid: "
                    f"{one_line(exc, '')}; change a grid value or a fixed parameter"
                ) from None
