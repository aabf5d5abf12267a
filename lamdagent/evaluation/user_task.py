"""User tasks described in a YAML file: a data file, which fields hold the prompt and the reference, a checker.

```yaml
name: capitals                 # optional: the run config's entry name wins
data: capitals.jsonl           # JSONL, JSON, CSV or Parquet; relative to this YAML file
prompt_field: question         # a string (one user turn) or a list of chat messages
reference_field: answer        # what the checker compares against (optional for regex with a pattern, ifeval)
system: Answer in one word.    # optional system prompt
checker: exact                 # exact | contains | regex | numeric | json | function_call | ifeval
checker_options: {}            # see CHECKERS below
max_new_tokens: 64
splits: {validation: 0.5, seed: 0}   # a fraction of the rows, or the list of validation ids (id_field)
```

The rows not in the validation split form the test split. A task entry's options override these keys.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import EvalItem, Split, Task, seeded_split

CheckerName = Literal["exact", "contains", "regex", "numeric", "json", "function_call", "ifeval"]
# A checker: (answer, reference, options) -> right or wrong.
CheckFn = Callable[[str, Any, dict[str, Any]], bool]
CHECKER_OPTIONS: dict[str, tuple[str, ...]] = {
    "exact": ("case_sensitive",),
    "contains": ("case_sensitive", "all"),
    "regex": ("pattern", "ignore_case", "fullmatch"),
    "numeric": ("strict",),
    "json": ("compare",),
    "function_call": (),
    "ifeval": ("loose",),
}


class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validation: float | list[str | int] = Field(
        default=0.5, description="Fraction of the rows (0 < f < 1) or the ids of the validation rows."
    )
    seed: int = Field(default=0, description="Seed of the shuffle that picks the validation fraction.")

    @field_validator("validation")
    @classmethod
    def _fraction(cls, v: float | list[str | int]) -> float | list[str | int]:
        if isinstance(v, float) and not 0.0 < v < 1.0:
            raise ValueError("a fraction must be between 0 and 1 (exclusive)")
        return v


class UserTaskConfig(BaseModel):
    """The YAML schema of a user task."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    data: str = Field(description="Data file, relative to the YAML file.")
    prompt_field: str = "prompt"
    reference_field: str | None = None
    id_field: str | None = Field(default=None, description="Row id field; default: the row number.")
    tools_field: str | None = Field(default=None, description="Field with the function schemas (function_call).")
    system: str | None = None
    checker: CheckerName
    checker_options: dict[str, Any] = Field(default_factory=dict)
    max_new_tokens: int = Field(default=128, ge=1)
    splits: SplitConfig = Field(default_factory=SplitConfig)

    @field_validator("checker_options")
    @classmethod
    def _known_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        checker = info.data.get("checker")
        allowed = CHECKER_OPTIONS.get(checker, ()) if checker else ()
        for key in options:
            if checker and key not in allowed:
                raise ValueError(
                    f"{key!r} is not an option of the {checker} checker (options: {', '.join(allowed) or 'none'})"
                )
        return options


# ---------------------------------------------------------------- checkers


def normalize(text: str, case_sensitive: bool = False) -> str:
    """Unicode-normalised, whitespace collapsed, outer quotes and final punctuation dropped."""
    text = " ".join(unicodedata.normalize("NFKC", text).split()).strip().strip("\"'`").rstrip(".!?;:").strip()
    return text if case_sensitive else text.casefold()


def _alternatives(reference: Any) -> list[str]:
    return [str(r) for r in reference] if isinstance(reference, list) else [str(reference)]


def check_exact(answer: str, reference: Any, options: dict[str, Any]) -> bool:
    """The answer equals the reference (or one of a list of references) after `normalize`."""
    cs = bool(options.get("case_sensitive", False))
    return normalize(answer, cs) in {normalize(r, cs) for r in _alternatives(reference)}


def check_contains(answer: str, reference: Any, options: dict[str, Any]) -> bool:
    """The reference (or any of a list; all of them with `all: true`) appears in the answer."""
    cs = bool(options.get("case_sensitive", False))
    text = normalize(answer, cs)
    found = [normalize(r, cs) in text for r in _alternatives(reference)]
    return all(found) if options.get("all", False) else any(found)


def check_regex(answer: str, reference: Any, options: dict[str, Any]) -> bool:
    """`pattern` (option, else the reference) found in the answer; `fullmatch: true` for the whole answer."""
    pattern = options.get("pattern", reference)
    flags = re.IGNORECASE if options.get("ignore_case", False) else 0
    try:
        regex = re.compile(str(pattern), flags | re.DOTALL)
    except re.error as exc:
        raise LamdagentError(f"regex checker: pattern {pattern!r} is not a valid regular expression ({exc})") from None
    text = answer.strip()
    return bool(regex.fullmatch(text) if options.get("fullmatch", False) else regex.search(text))


_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)


def check_json(answer: str, reference: Any, options: dict[str, Any]) -> bool:
    """The answer is valid JSON (a ``` fence allowed); equal to the reference too, unless `compare: false`."""
    text = answer.strip()
    fenced = _FENCE.match(text)
    try:
        value = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError:
        return False
    if reference is None or not options.get("compare", True):
        return True
    if isinstance(reference, str):
        with contextlib.suppress(json.JSONDecodeError):
            reference = json.loads(reference)
    return value == reference


def check_numeric(answer: str, reference: Any, options: dict[str, Any]) -> bool:
    """The answer's `####` number, else its last number, equals the reference; `strict: true` needs `####`."""
    from lamdagent.checkers.numeric import match_flexible, match_strict

    return (match_strict if options.get("strict", False) else match_flexible)(answer, reference)


def check_function_call(answer: str, reference: Any, options: dict[str, Any]) -> bool:
    """The answer makes exactly the expected tool calls (BFCL's AST rules, see `checkers.function_call`)."""
    from lamdagent.checkers.function_call import check_tool_calls

    return check_tool_calls(answer, reference, options.get("functions")).correct


def check_ifeval(answer: str, reference: Any, options: dict[str, Any]) -> bool:
    """Every IFEval instruction of the reference is followed (strictly; `loose: true` for IFEval's loose)."""
    from lamdagent.checkers.ifeval import follows_loose, follows_strict

    if not isinstance(reference, dict) or "instruction_id_list" not in reference:
        raise LamdagentError(
            "ifeval checker: the reference must hold 'instruction_id_list' and 'kwargs' (IFEval's row format)"
        )
    ids = reference["instruction_id_list"]
    kwargs = reference.get("kwargs") or [{} for _ in ids]
    follows = follows_loose if options.get("loose", False) else follows_strict
    return all(follows(answer, ids, kwargs))


CHECKERS: dict[str, CheckFn] = {
    "exact": check_exact,
    "contains": check_contains,
    "regex": check_regex,
    "numeric": check_numeric,
    "json": check_json,
    "function_call": check_function_call,
    "ifeval": check_ifeval,
}
# Checkers that can run without a reference field (json: validity only; ifeval: the row's own fields).
_NO_REFERENCE_NEEDED = {"json", "ifeval"}


# ---------------------------------------------------------------- the task


class UserTask(Task):
    """A task read from a user YAML file; accuracy = share of answers the checker accepts."""

    def __init__(self, config: UserTaskConfig, source: Path, name: str | None = None) -> None:
        self.config = config
        self.source = source
        self.name = name or config.name or source.stem
        self.max_new_tokens = config.max_new_tokens
        self._check = CHECKERS[config.checker]
        self._rows = self._load_rows()
        self._splits = self._split_ids()

    def _load_rows(self) -> list[EvalItem]:
        from lamdagent.data.formats import read_located

        cfg = self.config
        data = Path(cfg.data).expanduser()
        if not data.is_absolute():
            data = self.source.parent / data
        if (
            cfg.reference_field is None
            and cfg.checker not in _NO_REFERENCE_NEEDED
            and not (cfg.checker == "regex" and "pattern" in cfg.checker_options)
        ):
            raise LamdagentError(f"{self.source}: key 'reference_field' is required by the {cfg.checker} checker")
        located = read_located(str(data))
        if not located:
            raise LamdagentError(f"{data}: no rows; the task {self.name!r} needs at least two")
        items = []
        for number, (where, row) in enumerate(located):
            for key, field in (
                ("prompt_field", cfg.prompt_field),
                ("reference_field", cfg.reference_field),
                ("id_field", cfg.id_field),
                ("tools_field", cfg.tools_field),
            ):
                if field is not None and field not in row:
                    raise LamdagentError(
                        f"{data} {where}: no field {field!r} (named by {key} in {self.source}); "
                        f"the row has: {', '.join(row) or 'nothing'}"
                    )
            item_id = str(row[cfg.id_field]) if cfg.id_field else str(number)
            tools = row[cfg.tools_field] if cfg.tools_field else None
            if isinstance(tools, str):
                try:
                    tools = json.loads(tools)
                except json.JSONDecodeError:
                    raise LamdagentError(f"{data} {where}: field {cfg.tools_field!r} is not valid JSON") from None
            # Without a reference field, ifeval reads IFEval's own row fields and json checks validity only.
            reference: Any = row if cfg.checker == "ifeval" else None
            if cfg.reference_field:
                reference = row[cfg.reference_field]
            items.append(
                EvalItem(
                    id=item_id,
                    messages=self._messages(row[cfg.prompt_field], tools, f"{data} {where}"),
                    reference=reference,
                    extra={"functions": tools} if tools else {},
                )
            )
        return items

    def _messages(self, prompt: Any, tools: list[dict[str, Any]] | None, where: str) -> list[dict[str, Any]]:
        from lamdagent.toolcall import tools_system_message

        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, list) and prompt and all(isinstance(m, dict) and "role" in m for m in prompt):
            messages = [dict(m) for m in prompt]
        else:
            raise LamdagentError(
                f"{where}: field {self.config.prompt_field!r} must be a string or a non-empty list of chat messages"
            )
        system = [self.config.system] if self.config.system else []
        if tools:
            system.append(tools_system_message(tools)["content"])
        if messages[0].get("role") == "system":
            system.append(str(messages.pop(0).get("content", "")))
        return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + messages

    def _split_ids(self) -> dict[str, list[int]]:
        spec = self.config.splits
        n = len(self._rows)
        if isinstance(spec.validation, list):
            wanted = {str(v) for v in spec.validation}
            unknown = wanted - {it.id for it in self._rows}
            if unknown:
                raise LamdagentError(
                    f"{self.source}: key 'splits.validation' names ids not in the data: {sorted(unknown)[:5]}"
                )
            val = [i for i, it in enumerate(self._rows) if it.id in wanted]
        else:
            if n < 2:
                raise LamdagentError(f"{self.source}: the data has {n} row; a validation/test split needs two")
            val = sorted(seeded_split(n, spec.seed, fraction=spec.validation)[0])
        chosen = set(val)
        return {"validation": val, "test": [i for i in range(n) if i not in chosen]}

    def items(self, split: Split, limit: int | None = None) -> list[EvalItem]:
        picked = [self._rows[i] for i in self._splits[split]]
        return picked if limit is None else picked[:limit]

    def score_one(self, item: EvalItem, output: str) -> bool:
        options = dict(self.config.checker_options)
        if self.config.checker == "function_call" and "functions" in item.extra:
            options.setdefault("functions", item.extra["functions"])
        return bool(self._check(output, item.reference, options))

    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        right = [self.score_one(it, out) for it, out in zip(items, outputs, strict=True)]
        return {"accuracy": sum(right) / len(right) if right else 0.0}


# ---------------------------------------------------------------- loading


def load_user_task(path: str | Path, name: str | None = None, options: dict[str, Any] | None = None) -> UserTask:
    """Read and validate a task YAML; `options` (from the run config's entry) override its keys."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise LamdagentError(f"task file {source} does not exist; check the task's `source` path")
    text = source.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise LamdagentError(f"{source}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise LamdagentError(f"{source}: a task file must be a mapping with keys data, prompt_field, checker, ...")
    merged = {**raw, **(options or {})}
    try:
        config = UserTaskConfig(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        origin = " (from the task entry's options)" if loc and loc[0] in (options or {}) else _line(text, loc)
        message = err["msg"].removeprefix("Value error, ")
        raise LamdagentError(f"{source}{origin}: key {key!r}: {message}") from None
    return UserTask(config, source, name=name)


def _line(text: str, loc: list[str]) -> str:
    """' line N' of the deepest YAML key along `loc`, or '' where it cannot be found."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return ""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return f" line {line}" if line else ""
