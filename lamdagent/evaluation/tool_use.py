"""Tool-use tasks: the built-in suite (generated offline) and BFCL v4 (public files), judged by one AST checker.

Both show the offered functions in a system message (`tools_system_message`) and expect `<tool_call>` lines;
the schemas also ride in `EvalItem.extra["functions"]` for the checker. `EvalItem.tools` stays empty so a
chat template that renders tools itself does not list them a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from lamdagent.checkers.function_call import check_tool_calls
from lamdagent.data.builtin.tool_use import generate
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import (
    SPLITS,
    TASKS,
    EvalItem,
    GeneratedSplits,
    Split,
    Task,
    TaskOptions,
    check_size,
    check_split,
    seeded_split,
)
from lamdagent.io import read_jsonl
from lamdagent.paths import benchmarks_dir
from lamdagent.toolcall import tools_system_message

BFCL_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
# BFCL's Python-flavoured type names and their JSON-schema equivalents; None: any type.
_BFCL_TYPES: dict[str, str | None] = {"dict": "object", "float": "number", "tuple": "array", "any": None}


def judge(item: EvalItem, output: str) -> bool:
    """Whether one answer makes exactly the reference's calls (or none, for irrelevance)."""
    return check_tool_calls(output, item.reference, item.extra.get("functions")).correct


def score_tool_calls(items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
    """`accuracy` over all items, `accuracy_<category>` per category, `accuracy_heldout` where items are held out."""
    if len(items) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs for {len(items)} items")
    groups: dict[str, list[bool]] = {"accuracy": []}
    for item, output in zip(items, outputs, strict=True):
        right = judge(item, output)
        groups["accuracy"].append(right)
        if item.category:
            groups.setdefault(f"accuracy_{item.category}", []).append(right)
        if item.extra.get("heldout"):
            groups.setdefault("accuracy_heldout", []).append(right)
    return {name: sum(v) / len(v) if v else 0.0 for name, v in groups.items()}


class BuiltinToolUseTask(GeneratedSplits):
    """The offline suite of `lamdagent.data.builtin.tool_use`: seeded, with a held-out part in `test`."""

    name = "tool_use"
    generator = staticmethod(generate)
    default_sizes = (64, 128)
    default_max_new_tokens = 160

    def item_extra(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"functions": row["tools"], "heldout": row["heldout"]}

    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        return score_tool_calls(items, outputs)

    def score_one(self, item: EvalItem, output: str) -> bool:
        return judge(item, output)


def bfcl_dir(data_dir: str | Path | None = None) -> Path:
    """The folder with the BFCL files: `data_dir/bfcl` (the benchmarks root) or `data_dir` itself."""
    root = benchmarks_dir(data_dir)
    for candidate in (root / "bfcl", root):
        if candidate.is_dir() and any(candidate.glob("BFCL_v4_*.json")):
            return candidate
    raise LamdagentError(
        f"BFCL files not found in {root / 'bfcl'} (BFCL_v4_<category>.json); "
        "set the task's data_dir option or LAMDAGENT_BENCHMARKS to the benchmarks folder"
    )


def bfcl_to_json_schema(node: Any) -> Any:
    """A BFCL function doc with JSON-schema type names (`dict` -> object, `float` -> number, `tuple` -> array,
    `any` -> no type), so the prompt speaks one schema language."""
    if isinstance(node, list):
        return [bfcl_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, str) and value in _BFCL_TYPES:
            if _BFCL_TYPES[value] is not None:
                out[key] = _BFCL_TYPES[value]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: bfcl_to_json_schema(prop) for name, prop in value.items()}
        elif key in ("items", "parameters"):
            out[key] = bfcl_to_json_schema(value)
        else:
            out[key] = value
    return out


class BFCLOptions(TaskOptions):
    """Options of the `bfcl` task source."""

    data_dir: str | None = Field(default=None, description="Folder holding bfcl/; unset: $LAMDAGENT_BENCHMARKS")
    categories: list[str] | str | None = Field(
        default=None, description="BFCL categories (a list or a comma-separated string); unset: all single-turn"
    )
    limit_per_category: int | None = Field(default=None, ge=1, description="Items per category and split")


class BFCLTask(Task):
    """BFCL v4 single-turn categories, each split by a seeded shuffle into validation and test halves.

    `limit_per_category` caps the items of each category in each split. `accuracy` is over all items (micro),
    `accuracy_<category>` per category.
    """

    Options = BFCLOptions

    def __init__(
        self,
        name: str = "bfcl",
        data_dir: str | None = None,
        categories: Sequence[str] | str = BFCL_CATEGORIES,
        limit_per_category: int | None = None,
        seed: int = 0,
        max_new_tokens: int = 256,
    ) -> None:
        self.name = name
        self.seed = seed
        self.dir = bfcl_dir(data_dir)
        if isinstance(categories, str):
            categories = [c.strip() for c in categories.split(",") if c.strip()]
        if not categories:
            raise LamdagentError(f"task {name!r}: option 'categories' is empty; e.g. {', '.join(BFCL_CATEGORIES)}")
        known = sorted(p.name[len("BFCL_v4_") : -len(".json")] for p in self.dir.glob("BFCL_v4_*.json"))
        for category in categories:
            if category not in known:
                raise LamdagentError(
                    f"task {name!r}: no BFCL file for category {category!r} in {self.dir}; known: {', '.join(known)}"
                )
        self.categories = list(categories)
        self.limit_per_category = check_size(name, "limit_per_category", limit_per_category, allow_none=True)
        self.max_new_tokens = check_size(name, "max_new_tokens", max_new_tokens) or 256
        self._splits: dict[str, list[EvalItem]] | None = None

    def items(self, split: Split, limit: int | None = None) -> list[EvalItem]:
        check_split(self.name, split)
        if self._splits is None:
            self._splits = self._load()
        return self._splits[split][:limit]

    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        return score_tool_calls(items, outputs)

    def score_one(self, item: EvalItem, output: str) -> bool:
        return judge(item, output)

    def _load(self) -> dict[str, list[EvalItem]]:
        per_split: dict[str, list[list[EvalItem]]] = {s: [] for s in SPLITS}
        for category in self.categories:
            items = self._category_items(category)
            halves = seeded_split(len(items), f"bfcl:{self.seed}:{category}", count=(len(items) + 1) // 2)
            for split, chosen in zip(SPLITS, halves, strict=True):
                per_split[split].append([items[i] for i in chosen][: self.limit_per_category])
        # Interleave the categories so that any prefix (a `limit`) stays balanced.
        return {split: [it for group in _round_robin(groups) for it in group] for split, groups in per_split.items()}

    def _category_items(self, category: str) -> list[EvalItem]:
        questions = read_jsonl(self.dir / f"BFCL_v4_{category}.json")
        answers: dict[Any, Any] = {}  # keyed by the rows' "id" values as read
        if "irrelevance" not in category:  # irrelevance has no answer file: the right answer is no call
            path = self.dir / "possible_answer" / f"BFCL_v4_{category}.json"
            if not path.is_file():
                raise LamdagentError(f"{path} is missing; BFCL category {category!r} needs its possible answers")
            answers = {row.get("id"): row.get("ground_truth") for row in read_jsonl(path)}
        items = []
        for row in questions:
            qid, turns = row.get("id"), row.get("question")
            if not isinstance(turns, list) or len(turns) != 1 or not isinstance(turns[0], list):
                raise LamdagentError(
                    f"BFCL {category} item {qid!r}: only single-turn questions are supported ('question': [[turns]])"
                )
            if "irrelevance" in category:
                reference: Any = []
            elif qid in answers:
                reference = answers[qid]
            else:
                raise LamdagentError(f"BFCL {category} item {qid!r} has no possible answer in possible_answer/")
            functions = [bfcl_to_json_schema(f) for f in row.get("function", [])]
            items.append(
                EvalItem(
                    id=str(qid),
                    messages=[tools_system_message(functions), *turns[0]],
                    reference=reference,
                    category=category,
                    extra={"functions": functions},
                )
            )
        return items


def _round_robin(groups: list[list[EvalItem]]) -> list[list[EvalItem]]:
    """[[a1, a2], [b1]] -> [[a1, b1], [a2]]: one item of each category in turn."""
    longest = max((len(g) for g in groups), default=0)
    return [[g[i] for g in groups if i < len(g)] for i in range(longest)]


TASKS.register("builtin:tool_use", BuiltinToolUseTask)
TASKS.register("bfcl", BFCLTask)
