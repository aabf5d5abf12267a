"""Instruction-following tasks: the built-in IFEval-style suite and the real IFEval prompts.

Both are scored by the offline IFEval checkers with IFEval's four metrics. The built-in task's primary metric
is instruction-level loose accuracy: every instruction counts on its own, a smoother signal than all-or-nothing
prompts on a few dozen items (SmolLM2-135M-Instruct: 0.43 instruction-level, 0.22 prompt-level on 32 test
prompts), and a preamble or sign-off line is forgiven. The real IFEval keeps its usual headline,
prompt-level strict accuracy, so its numbers compare with published ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lamdagent.checkers.ifeval import (
    INSTRUCTIONS,
    follows_loose,
    follows_strict,
    ifeval_metrics,
    instruction_family,
)
from lamdagent.data.builtin.instruction_following import generate as generate_if
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import TASKS, EvalItem, FileHalves, GeneratedSplits, Task
from lamdagent.io import read_jsonl_numbered


class _IFScoring(Task):
    """Scoring shared by both instruction-following tasks; `reference` = {instruction_id_list, kwargs}."""

    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        if len(items) != len(outputs):
            raise ValueError(f"{len(items)} items but {len(outputs)} outputs")
        strict, loose = [], []
        for item, output in zip(items, outputs, strict=True):
            ids, kwargs = item.reference["instruction_id_list"], item.reference["kwargs"]
            strict.append(follows_strict(output, ids, kwargs))
            loose.append(follows_loose(output, ids, kwargs))
        metrics = ifeval_metrics(strict, loose)
        held = [i for i, item in enumerate(items) if item.extra.get("heldout")]
        if held:
            sub = ifeval_metrics([strict[i] for i in held], [loose[i] for i in held])
            metrics[f"{self.primary_metric}_heldout"] = sub[self.primary_metric]
        # Per instruction family (`keywords`, `change_case`, ...), over every instruction of that family.
        families: dict[str, list[bool]] = {}
        for item, followed in zip(items, loose, strict=True):
            for instruction, ok in zip(item.reference["instruction_id_list"], followed, strict=True):
                families.setdefault(instruction_family([instruction]), []).append(ok)
        for family, oks in sorted(families.items()):
            metrics[f"inst_level_loose_acc_{family}"] = sum(oks) / len(oks)
        return metrics

    def score_one(self, item: EvalItem, output: str) -> bool:
        """Every instruction followed, strictly."""
        ref = item.reference
        return all(follows_strict(output, ref["instruction_id_list"], ref["kwargs"]))


class BuiltinIFTask(GeneratedSplits, _IFScoring):
    """The offline instruction-following suite: generated prompts with one to three verifiable instructions."""

    name = "instruction_following"
    primary_metric: ClassVar[str] = "inst_level_loose_acc"
    generator = staticmethod(generate_if)
    default_max_new_tokens = 200


class IFEvalTask(FileHalves, _IFScoring):
    """Google's IFEval prompts (`ifeval/input_data.jsonl`), split by seed into validation and test halves."""

    name = "ifeval"
    primary_metric: ClassVar[str] = "prompt_level_strict_acc"
    FILE = Path("ifeval") / "input_data.jsonl"
    default_max_new_tokens = 256

    def read_items(self) -> list[EvalItem]:
        items = []
        for number, row in read_jsonl_numbered(self.path):
            ids, kwargs = row.get("instruction_id_list"), row.get("kwargs")
            if not isinstance(row.get("prompt"), str) or not isinstance(ids, list) or not isinstance(kwargs, list):
                raise LamdagentError(
                    f"{self.path}:{number}: each row needs 'prompt', 'instruction_id_list' and 'kwargs'"
                )
            if len(ids) != len(kwargs):
                raise LamdagentError(f"{self.path}:{number}: 'instruction_id_list' and 'kwargs' differ in length")
            unknown = [i for i in ids if i not in INSTRUCTIONS]
            if unknown:
                raise LamdagentError(
                    f"{self.path}:{number}: instruction {unknown[0]!r} is not supported; "
                    f"known: {', '.join(INSTRUCTIONS.names())}"
                )
            items.append(
                EvalItem(
                    id=str(row.get("key", number)),
                    messages=[{"role": "user", "content": row["prompt"]}],
                    reference={"instruction_id_list": ids, "kwargs": [k or {} for k in kwargs]},
                    category=instruction_family(ids),
                )
            )
        return items


TASKS.register("builtin:instruction_following", BuiltinIFTask)
TASKS.register("ifeval", IFEvalTask)
