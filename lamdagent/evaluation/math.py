"""Math tasks: the built-in word problems and GSM8K, both zero-shot chat prompts asking for `#### N`.

Primary metric: `exact_match_flexible`. A 135M model often gets the number right without keeping the
`####` format, so strict matching sits near zero and hides real arithmetic gains; flexible uses the `####`
answer when given and otherwise the last number, so it is never below strict (both are reported).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lamdagent.checkers.numeric import extract_strict, match_flexible, match_strict
from lamdagent.data.builtin.math import generate as generate_math
from lamdagent.data.builtin.math import math_user_message
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import TASKS, EvalItem, FileHalves, GeneratedSplits, Task
from lamdagent.io import read_jsonl_numbered


class _MathScoring(Task):
    """Scoring shared by both math tasks; `reference` is the final number as text."""

    primary_metric: ClassVar[str] = "exact_match_flexible"

    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        if len(items) != len(outputs):
            raise ValueError(f"{len(items)} items but {len(outputs)} outputs")
        strict = [match_strict(o, i.reference) for i, o in zip(items, outputs, strict=True)]
        flexible = [match_flexible(o, i.reference) for i, o in zip(items, outputs, strict=True)]
        n = len(items)
        metrics = {
            "exact_match_strict": sum(strict) / n if n else 0.0,
            "exact_match_flexible": sum(flexible) / n if n else 0.0,
        }
        groups: dict[str, list[bool]] = {}
        for item, ok in zip(items, flexible, strict=True):
            if item.extra.get("heldout"):
                groups.setdefault("exact_match_flexible_heldout", []).append(ok)
            if item.category:
                groups.setdefault(f"exact_match_flexible_{item.category}", []).append(ok)
        metrics.update({name: sum(oks) / len(oks) for name, oks in sorted(groups.items())})
        return metrics

    def score_one(self, item: EvalItem, output: str) -> bool:
        return match_flexible(output, item.reference)


class BuiltinMathTask(GeneratedSplits, _MathScoring):
    """The offline math suite: generated 2-4 step integer word problems."""

    name = "math"
    generator = staticmethod(generate_math)
    default_max_new_tokens = 160


class GSM8KTask(FileHalves, _MathScoring):
    """GSM8K's test problems (`gsm8k/test.jsonl`), split by seed into validation and test halves."""

    name = "gsm8k"
    FILE = Path("gsm8k") / "test.jsonl"
    default_max_new_tokens = 200

    def read_items(self) -> list[EvalItem]:
        items = []
        for number, row in read_jsonl_numbered(self.path):
            question, answer = row.get("question"), row.get("answer")
            reference = extract_strict(answer) if isinstance(answer, str) else None
            if not isinstance(question, str) or reference is None:
                raise LamdagentError(
                    f"{self.path}:{number}: each row needs 'question' and an 'answer' ending in '#### <number>'"
                )
            items.append(
                EvalItem(
                    id=f"gsm8k-{number}",
                    messages=[math_user_message(question)],
                    reference=reference,
                )
            )
        return items


TASKS.register("builtin:math", BuiltinMathTask)
TASKS.register("gsm8k", GSM8KTask)
