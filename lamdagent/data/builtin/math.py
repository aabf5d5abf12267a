"""Seeded multi-step integer word problems (2 to 4 steps) with GSM8K-style worked solutions ending `#### N`.

A template is a question and a short program of arithmetic steps; the solution is the program's trace, so it
is right by construction. A `preference` pair's rejected answer runs the same program with one realistic
mistake (a slip in one result, the wrong operation, or the last step forgotten), carried through to a wrong
final number. Numbers stay small so a 135M model gets some right. Splits are disjoint by a hash of the
template and its numbers; a third of `test` uses templates never seen in the other splits (`"heldout": true`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lamdagent.data.builtin import BUILTIN_DATA, BuiltinSplit, HashSplits
from lamdagent.errors import LamdagentError

MATH_INSTRUCTION = (
    "Solve the problem step by step. Then write the final answer as a number on the last line in the form: "
    "#### <number>"
)


def math_user_message(question: str) -> dict[str, str]:
    """The one prompt shape used to train and to evaluate math (built-in and GSM8K alike)."""
    return {"role": "user", "content": f"{question.strip()}\n{MATH_INSTRUCTION}"}


@dataclass(frozen=True)
class Step:
    """One line of the solution: `text` holds `{expr}` (operands and operator) and `{result}` (the result)."""

    text: str
    op: str
    args: tuple[str | int, ...]
    out: str


@dataclass(frozen=True)
class Template:
    name: str
    question: str
    ranges: dict[str, Sequence[int]]
    steps: tuple[Step, ...]


NAMES = (
    ("Mia", "she", "her"), ("Tom", "he", "his"), ("Ava", "she", "her"), ("Leo", "he", "his"),
    ("Zoe", "she", "her"), ("Sam", "he", "his"), ("Nora", "she", "her"), ("Ben", "he", "his"),
    ("Lily", "she", "her"), ("Omar", "he", "his"), ("Ivy", "she", "her"), ("Raj", "he", "his"),
)  # fmt: skip
MAX_VALUE = 1000

TEMPLATES = (
    Template(
        "shopping",
        "{Name} buys {a} notebooks at ${p} each and {b} pens at ${q} each. {He} pays with a ${bill} bill. "
        "How much change does {he} get in dollars?",
        {"a": range(2, 6), "p": range(2, 7), "b": range(2, 6), "q": range(1, 4), "bill": (20, 50)},
        (
            Step("The notebooks cost {expr} = ${result}.", "*", ("a", "p"), "x"),
            Step("The pens cost {expr} = ${result}.", "*", ("b", "q"), "y"),
            Step("Together they cost {expr} = ${result}.", "+", ("x", "y"), "z"),
            Step("The change is {expr} = ${result}.", "-", ("bill", "z"), "ans"),
        ),
    ),
    Template(
        "travel",
        "A train travels at {s} miles per hour for {h} hours and then at {s2} miles per hour for {h2} more "
        "hours. How many miles does it travel in total?",
        {"s": range(10, 60, 10), "h": range(2, 5), "s2": range(10, 60, 10), "h2": range(2, 4)},
        (
            Step("First it travels {expr} = {result} miles.", "*", ("s", "h"), "d1"),
            Step("Then it travels {expr} = {result} miles.", "*", ("s2", "h2"), "d2"),
            Step("In total it travels {expr} = {result} miles.", "+", ("d1", "d2"), "ans"),
        ),
    ),
    Template(
        "ages",
        "{Name} is {a} years old. {His} brother is {d} years older. How old will they be together in {n} years?",
        {"a": range(3, 16), "d": range(2, 8), "n": range(2, 6)},
        (
            Step("{His} brother is {expr} = {result} years old.", "+", ("a", "d"), "b"),
            Step("Together they are {expr} = {result} years old now.", "+", ("a", "b"), "now"),
            Step("In {n} years each is {n} years older, so they gain {expr} = {result} years.", "*", ("n", 2), "g"),
            Step("Together they will be {expr} = {result} years old.", "+", ("now", "g"), "ans"),
        ),
    ),
    Template(
        "sharing",
        "{Name} bakes {b} batches of {c} cookies. {He} eats {e} of them and shares the rest equally among "
        "{f} friends. How many cookies does each friend get?",
        {"b": range(2, 5), "c": range(4, 11), "e": range(1, 7), "f": range(2, 6)},
        (
            Step("{He} bakes {expr} = {result} cookies.", "*", ("b", "c"), "t"),
            Step("After eating some, {expr} = {result} cookies are left.", "-", ("t", "e"), "left"),
            Step("Each friend gets {expr} = {result} cookies.", "/", ("left", "f"), "ans"),
        ),
    ),
    Template(
        "savings",
        "{Name} has ${s}. {He} saves ${w} every week for {n} weeks and then spends ${x} on a game. "
        "How many dollars does {he} have now?",
        {"s": range(5, 31), "w": range(2, 11), "n": range(2, 6), "x": range(5, 21)},
        (
            Step("{He} saves {expr} = ${result}.", "*", ("w", "n"), "g"),
            Step("Then {he} has {expr} = ${result}.", "+", ("s", "g"), "t"),
            Step("After the game {he} has {expr} = ${result}.", "-", ("t", "x"), "ans"),
        ),
    ),
    Template(
        "factory",
        "A machine makes {r} toys every hour. It runs for {h} hours a day for {d} days. If {k} of the toys "
        "are broken, how many good toys are there?",
        {"r": range(2, 10), "h": range(2, 7), "d": range(2, 5), "k": range(2, 11)},
        (
            Step("Each day it makes {expr} = {result} toys.", "*", ("r", "h"), "day"),
            Step("In {d} days it makes {expr} = {result} toys.", "*", ("day", "d"), "total"),
            Step("The good toys are {expr} = {result}.", "-", ("total", "k"), "ans"),
        ),
    ),
    Template(
        "reading",
        "A book has {p} pages. {Name} reads {r} pages every day for {d} days. How many pages are left to read?",
        {"p": range(50, 160, 10), "r": range(5, 20, 5), "d": range(2, 7)},
        (
            Step("{He} reads {expr} = {result} pages.", "*", ("r", "d"), "read"),
            Step("There are {expr} = {result} pages left.", "-", ("p", "read"), "ans"),
        ),
    ),
    Template(
        "garden",
        "A garden has {r} rows with {c} plants in each row. {Name} plants {a} more rows of the same size. "
        "How many plants are in the garden now?",
        {"r": range(2, 9), "c": range(2, 10), "a": range(2, 5)},
        (
            Step("There are {expr} = {result} rows now.", "+", ("r", "a"), "rows"),
            Step("There are {expr} = {result} plants.", "*", ("rows", "c"), "ans"),
        ),
    ),
    Template(
        "harvest",
        "A farmer picks {a} apples on Monday and twice as many on Tuesday. He packs all the apples into bags "
        "of {b}. How many bags does he fill?",
        {"a": range(5, 31), "b": range(2, 7)},
        (
            Step("On Tuesday he picks {expr} = {result} apples.", "*", ("a", 2), "t"),
            Step("In total he picks {expr} = {result} apples.", "+", ("a", "t"), "all"),
            Step("He fills {expr} = {result} bags.", "/", ("all", "b"), "ans"),
        ),
    ),
    Template(
        "tickets",
        "Adult tickets cost ${a} and child tickets cost ${c}. A family buys {n} adult tickets and {m} child "
        "tickets. How many dollars do they pay in total?",
        {"a": range(5, 13), "c": range(2, 7), "n": range(2, 5), "m": range(2, 5)},
        (
            Step("The adult tickets cost {expr} = ${result}.", "*", ("n", "a"), "x"),
            Step("The child tickets cost {expr} = ${result}.", "*", ("m", "c"), "y"),
            Step("In total they pay {expr} = ${result}.", "+", ("x", "y"), "ans"),
        ),
    ),
    Template(
        "stickers",
        "{Name} has {a} stickers. {He} buys {b} packs with {c} stickers in each pack and then gives {g} "
        "stickers to a friend. How many stickers does {he} have now?",
        {"a": range(3, 21), "b": range(2, 6), "c": range(2, 9), "g": range(2, 11)},
        (
            Step("The packs hold {expr} = {result} stickers.", "*", ("b", "c"), "packs"),
            Step("Then {he} has {expr} = {result} stickers.", "+", ("a", "packs"), "t"),
            Step("After giving some away {he} has {expr} = {result} stickers.", "-", ("t", "g"), "ans"),
        ),
    ),
    Template(
        "apples",
        "{Name} has {a} apples. {He} buys {b} more and then eats {c} of them. How many apples does {he} have now?",
        {"a": range(2, 13), "b": range(2, 13), "c": range(1, 6)},
        (
            Step("After buying {he} has {expr} = {result} apples.", "+", ("a", "b"), "t"),
            Step("After eating {he} has {expr} = {result} apples.", "-", ("t", "c"), "ans"),
        ),
    ),
    Template(
        "bus",
        "A bus has {a} passengers. At the first stop {b} people get off and {c} people get on. How many "
        "passengers are on the bus now?",
        {"a": range(8, 31), "b": range(2, 8), "c": range(2, 10)},
        (
            Step("After {b} get off there are {expr} = {result} passengers.", "-", ("a", "b"), "t"),
            Step("After {c} get on there are {expr} = {result} passengers.", "+", ("t", "c"), "ans"),
        ),
    ),
    Template(
        "pencils",
        "There are {a} boxes with {b} pencils in each box. {Name} takes {c} pencils. How many pencils are left?",
        {"a": range(2, 7), "b": range(3, 11), "c": range(2, 8)},
        (
            Step("There are {expr} = {result} pencils.", "*", ("a", "b"), "t"),
            Step("After {Name} takes some, {expr} = {result} pencils are left.", "-", ("t", "c"), "ans"),
        ),
    ),
    Template(
        "pool",
        "A hose fills a pool with {r} liters of water every minute for {m} minutes. Then {x} liters leak out. "
        "How many liters of water are in the pool?",
        {"r": range(2, 11), "m": range(2, 11), "x": range(2, 21)},
        (
            Step("The hose adds {expr} = {result} liters.", "*", ("r", "m"), "added"),
            Step("After the leak there are {expr} = {result} liters.", "-", ("added", "x"), "ans"),
        ),
    ),
)
HELDOUT_TEMPLATES = (
    Template(
        "elevator",
        "An elevator starts on floor {f}. It goes up {u} floors, then down {d} floors, then up {v} floors. "
        "On which floor is it now?",
        {"f": range(1, 11), "u": range(2, 15), "d": range(2, 10), "v": range(2, 10)},
        (
            Step("After going up it is on floor {expr} = {result}.", "+", ("f", "u"), "x"),
            Step("After going down it is on floor {expr} = {result}.", "-", ("x", "d"), "y"),
            Step("Finally it is on floor {expr} = {result}.", "+", ("y", "v"), "ans"),
        ),
    ),
    Template(
        "pizza",
        "{n} pizzas are each cut into {s} slices. {p} people eat {e} slices each. How many slices are left?",
        {"n": range(2, 6), "s": range(4, 10, 2), "p": range(2, 7), "e": range(2, 4)},
        (
            Step("There are {expr} = {result} slices.", "*", ("n", "s"), "total"),
            Step("The people eat {expr} = {result} slices.", "*", ("p", "e"), "eaten"),
            Step("There are {expr} = {result} slices left.", "-", ("total", "eaten"), "ans"),
        ),
    ),
    Template(
        "recipe",
        "A recipe uses {f} cups of flour for every {b} muffins. {Name} wants to bake {m} muffins. How many "
        "cups of flour does {he} need?",
        {"f": range(2, 5), "b": range(2, 7, 2), "m": range(6, 49, 6)},
        (
            Step("{He} bakes {expr} = {result} batches.", "/", ("m", "b"), "k"),
            Step("{He} needs {expr} = {result} cups of flour.", "*", ("k", "f"), "ans"),
        ),
    ),
)
# A (template, question) pair's hash fixes its split: 50% sft, 20% preference, 15% + 15%.
BUCKETS = HashSplits("math", {"sft": 10, "preference": 4, "validation": 3, "test": 3})
_SYMBOLS = {"+": "+", "-": "-", "*": "*", "/": "/"}
_WRONG_OP = {"+": "-", "-": "+", "*": "+", "/": "*"}


@dataclass(frozen=True)
class MathExample:
    """One problem with its right solution and, for preference rows, a solution with one mistake."""

    id: str
    template: str
    question: str
    answer: int
    solution: str
    rejected: str | None = None
    rejected_answer: int | None = None
    heldout: bool = False

    @property
    def messages(self) -> list[dict[str, str]]:
        return [math_user_message(self.question)]


def _apply(op: str, a: int, b: int) -> int | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a // b if b and a % b == 0 else None


def _trace(
    template: Template, values: dict[str, Any], mistake: tuple[str, int, int] | None = None
) -> tuple[list[str], int] | None:
    """Run the steps and write the solution lines; None when a value is negative, fractional or too large.

    `mistake` is (kind, step index, slip): `slip` adds to that step's result, `op` swaps its operation,
    `skip` stops before that step (the answer is the previous result).
    """
    env = dict(values)
    lines: list[str] = []
    result = 0
    for index, step in enumerate(template.steps):
        if mistake and mistake[0] == "skip" and index == mistake[1]:
            break
        operands = [env[a] if isinstance(a, str) else a for a in step.args]
        op = _WRONG_OP[step.op] if mistake and mistake[0] == "op" and index == mistake[1] else step.op
        computed = _apply(op, *operands)
        if computed is None:
            return None
        if mistake and mistake[0] == "slip" and index == mistake[1]:
            computed += mistake[2]
        if not 0 <= computed <= MAX_VALUE:
            return None
        result = env[step.out] = computed
        expr = f" {_SYMBOLS[op]} ".join(str(x) for x in operands)
        lines.append(_render(step.text, env, expr=expr, result=computed))
    return lines, result


def _render(text: str, env: dict[str, Any], **extra: Any) -> str:
    out = text.format(**env, **extra)
    return out[:1].upper() + out[1:]


def _solution(lines: list[str], answer: int) -> str:
    return "\n".join(lines) + f"\n#### {answer}"


def _sample_values(template: Template, rng: random.Random) -> dict[str, Any]:
    name, he, his = rng.choice(NAMES)
    values: dict[str, Any] = {k: rng.choice(v) for k, v in sorted(template.ranges.items())}
    return {**values, "Name": name, "he": he, "He": he.capitalize(), "His": his.capitalize()}


def _mistake(template: Template, values: dict[str, Any], answer: int, rng: random.Random) -> tuple[list[str], int]:
    """A solution with one realistic error and a wrong final number (always exists for these templates)."""
    options = [("slip", i, d) for i in range(len(template.steps)) for d in (-10, -2, -1, 1, 2, 10)]
    options += [("op", i, 0) for i in range(len(template.steps))]
    options += [("skip", len(template.steps) - 1, 0)]
    rng.shuffle(options)
    for mistake in options:
        traced = _trace(template, values, mistake)
        if traced is not None and traced[1] != answer:
            return traced
    raise AssertionError(f"template {template.name} has no wrong solution for {values}")


def examples(split: BuiltinSplit, n: int, seed: int) -> list[MathExample]:
    """`n` distinct problems of a split; every third `test` row comes from a held-out template."""
    BUCKETS.check(split)
    if not isinstance(n, int) or n < 0:
        raise LamdagentError(f"built-in dataset size n={n!r} is invalid; give a non-negative integer")
    rng = random.Random(f"math:{split}:{seed}")
    out: list[MathExample] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * (n + 10):
            raise LamdagentError(f"math: cannot draw {n} distinct {split!r} rows; ask for fewer")
        heldout = split == "test" and len(out) % 3 == 0
        template = rng.choice(HELDOUT_TEMPLATES if heldout else TEMPLATES)
        values = _sample_values(template, rng)
        question = _render(template.question, values)
        if question in seen or (not heldout and BUCKETS.split_of([template.name, question]) != split):
            continue
        traced = _trace(template, values)
        if traced is None:
            continue
        lines, answer = traced
        rejected = rejected_answer = None
        if split == "preference":
            wrong_lines, rejected_answer = _mistake(template, values, answer, rng)
            rejected = _solution(wrong_lines, rejected_answer)
        seen.add(question)
        out.append(
            MathExample(
                id=f"math-{split}-{len(out):05d}",
                template=template.name,
                question=question,
                answer=answer,
                solution=_solution(lines, answer),
                rejected=rejected,
                rejected_answer=rejected_answer,
                heldout=heldout,
            )
        )
    return out


def generate(split: BuiltinSplit, n: int, seed: int) -> list[dict[str, Any]]:
    """Rows of the split in the canonical formats (see `lamdagent.data.builtin`)."""
    rows: list[dict[str, Any]] = []
    for ex in examples(split, n, seed):
        if split == "sft":
            rows.append({"prompt": ex.messages, "completion": [{"role": "assistant", "content": ex.solution}]})
        elif split == "preference":
            rows.append(
                {
                    "prompt": ex.messages,
                    "chosen": [{"role": "assistant", "content": ex.solution}],
                    "rejected": [{"role": "assistant", "content": ex.rejected}],
                }
            )
        else:
            rows.append(
                {
                    "id": ex.id,
                    "messages": ex.messages,
                    "reference": str(ex.answer),
                    "category": ex.template,
                    "heldout": ex.heldout,
                }
            )
    return rows


_ANNOTATION = re.compile(r"<<[^<>]*>>")


def gsm8k_to_sft(row: dict[str, Any]) -> dict[str, Any]:
    """A GSM8K row `{question, answer}` as a prompt/completion SFT row in the evaluation's prompt shape.

    The `<<48/2=24>>` calculator annotations are removed: the model is never asked to write them.
    """
    for key in ("question", "answer"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise LamdagentError(f"gsm8k row has no text in {key!r}; each row needs 'question' and 'answer'")
    answer = _ANNOTATION.sub("", row["answer"]).strip()
    if not re.search(r"####\s*\S+\s*$", answer):
        raise LamdagentError("gsm8k row 'answer' does not end with '#### <number>'; fix the row or drop it")
    return {
        "prompt": [math_user_message(row["question"])],
        "completion": [{"role": "assistant", "content": answer}],
    }


BUILTIN_DATA.register("math", generate)
