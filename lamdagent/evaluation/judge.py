"""Open-ended tasks scored by an LLM judge (source `judge`), designed after what the judge-design study found
reliable (arXiv 2506.13639):

- explicit criteria with score descriptions (the lowest and the highest score described: nearly as good as
  describing all of them), and the reference answer shown when there is one;
- several sampled judgments per answer, averaged, instead of one greedy judgment; no chain of thought asked
  (it adds little when the criteria are explicit), one line of verdict;
- agreement measured with Krippendorff's alpha across the samples; a judge below `alpha_threshold` is flagged.

`mode: single` scores each answer from 1 to `scale`; `mode: pairwise` compares it with the reference answer in
both orders (position bias) and counts a win only when both orders agree, a tie otherwise. Questions come from
the built-in chat set (`lamdagent.data.builtin.chat`) or a user's MT-Bench-style JSONL file (`question_id`,
`category`, `turns`, optional `reference`); a second turn is asked with the model's first answer in the chat.

The judge is any agent LLM backend (`judge: {backend: openai, base_url: ..., api_key_env: NAME}`); its key is
read from the named variable and never written. Judgments are cached by (judge settings, prompt, answer,
sample) in `$LAMDAGENT_CACHE/judge.sqlite`, so a re-run or a replay asks nothing twice. A judge that fails or
answers without a verdict never stops a run: the sample counts as a parse failure (reported), and the item's
score is the mean of its valid samples.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from lamdagent.data.builtin.chat import CHAT_QUESTIONS
from lamdagent.errors import LamdagentError
from lamdagent.evaluation.base import TASKS, EvalItem, SizedTaskOptions, Split, Task, check_split, seeded_split
from lamdagent.evaluation.evaluator import TaskResult
from lamdagent.evaluation.generation import generate_with_stats
from lamdagent.io import read_jsonl
from lamdagent.paths import cache_dir

DEFAULT_CRITERIA = (
    "Helpfulness (does it do what was asked, completely), correctness (no false statements or wrong "
    "arithmetic), and clarity (well organised, no rambling or repetition)."
)
LOWEST = "the answer ignores the request, is wrong, or is unreadable"
HIGHEST = "the answer fully does what was asked, is correct, and is clear and concise"
SYSTEM = "You are a strict and fair grader of assistant answers. Follow the grading instructions exactly."
SINGLE = """[Conversation]
{conversation}

[Answer to grade]
{answer}
{reference}
[Criteria]
{criteria}

Grade the answer from 1 to {scale}. 1 means {lowest}. {scale} means {highest}.
Reply with the score only: "Score: N", where N is an integer from 1 to {scale} (or {{"score": N}} when asked
for JSON)."""
PAIR = """[Conversation]
{conversation}

[Answer A]
{first}

[Answer B]
{second}

[Criteria]
{criteria}

Which answer is better by the criteria? Reply with the verdict only: "Winner: A", "Winner: B" or "Winner: tie"
(or {{"winner": "A"}}, "B" or "tie", when asked for JSON)."""
_SCORE = re.compile(r"score\s*[:=]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_WINNER = re.compile(r"winner\s*[:=]?\s*(a|b|tie)\b", re.IGNORECASE)


class JudgeOptions(SizedTaskOptions):
    prompts: str | None = Field(
        default=None,
        description="MT-Bench-style question file (JSONL: question_id, category, turns, optional reference); "
        "unset: the built-in chat set",
    )
    criteria: str = Field(default=DEFAULT_CRITERIA, description="What the judge grades by")
    judge: dict[str, Any] = Field(
        default_factory=lambda: {"backend": "llamacpp"},
        description="The judge LLM, as an agent LLM config (backend and its settings; a key by api_key_env only)",
    )
    samples: int = Field(default=3, ge=1, le=16, description="Sampled judgments per answer, averaged")
    temperature: float = Field(default=0.7, ge=0, le=2, description="The judge's sampling temperature")
    scale: int = Field(default=10, ge=2, le=100, description="Scores run from 1 to this (single mode)")
    mode: Literal["single", "pairwise"] = Field(
        default="single", description="single: a score per answer; pairwise: against the reference, both orders"
    )
    use_reference: bool = Field(default=True, description="Show the reference answer to the judge (single mode)")
    alpha_threshold: float = Field(
        default=0.4, ge=-1, le=1, description="Krippendorff's alpha below this flags the judge as unreliable"
    )
    judge_max_tokens: int = Field(default=16, ge=4, le=4096, description="Tokens a judgment may take")


def krippendorff_alpha(units: list[list[float]]) -> float | None:
    """Krippendorff's alpha (interval metric) over units rated by several raters (here: sampled judgments).

    Units with fewer than two ratings are left out. None when fewer than two ratings can be paired, and when
    every rating is the same: a judge that gives one score to everything agrees with itself perfectly and
    says nothing, so it is flagged rather than called reliable.
    """
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    if n < 2:
        return None
    observed = sum(sum((a - b) ** 2 for a in u for b in u) / (len(u) - 1) for u in units) / n
    expected = sum((a - b) ** 2 for a in values for b in values) / (n * (n - 1))
    if expected == 0:
        return None
    return 1.0 - observed / expected


class JudgeCache:
    """Judgments by key in a small SQLite file (WAL: parallel workers may share it)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "judge.sqlite"
        self._conn = sqlite3.connect(self.path, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, text TEXT, tokens INTEGER)")

    def get(self, key: str) -> tuple[str, int] | None:
        row = self._conn.execute("SELECT text, tokens FROM judgments WHERE key = ?", (key,)).fetchone()
        return (row[0], int(row[1])) if row else None

    def put(self, key: str, text: str, tokens: int) -> None:
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO judgments VALUES (?, ?, ?)", (key, text, tokens))

    def close(self) -> None:
        self._conn.close()


class JudgeTask(Task):
    """Questions answered by the model under evaluation, graded by an LLM judge; see the module docstring."""

    name = "judge"
    primary_metric: ClassVar[str] = "score"
    Options: ClassVar[type[JudgeOptions]] = JudgeOptions
    max_new_tokens = 256

    def __init__(self, **options: Any) -> None:
        self.options = JudgeOptions(**options)
        if self.options.max_new_tokens:
            self.max_new_tokens = self.options.max_new_tokens
        questions = self._questions()
        halves = seeded_split(len(questions), f"judge:{self.options.seed}", fraction=0.5)
        sizes = {"validation": self.options.val_size, "test": self.options.test_size}
        self._splits = {
            split: [questions[i] for i in sorted(idx)][: sizes[split]]
            for split, idx in zip(("validation", "test"), halves, strict=True)
        }
        self._client: Any = None
        self._cache: JudgeCache | None = None

    def _questions(self) -> list[dict[str, Any]]:
        if self.options.prompts is None:
            rows = CHAT_QUESTIONS
        else:
            path = Path(self.options.prompts).expanduser()
            if not path.is_file():
                raise LamdagentError(f"judge: prompts file {path} not found; give an MT-Bench-style JSONL file")
            rows = read_jsonl(path)
        out = []
        for k, row in enumerate(rows, 1):
            turns = row.get("turns") if isinstance(row, dict) else None
            if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
                where = self.options.prompts or "the built-in chat set"
                raise LamdagentError(f"judge: {where} question {k}: `turns` must be a list of non-empty strings")
            reference = row.get("reference")
            refs = [reference] if isinstance(reference, str) else list(reference or [])
            if self.options.mode == "pairwise" and len(refs) < len(turns):
                raise LamdagentError(
                    f"judge: question {row.get('question_id', k)} lacks a reference answer per turn, which "
                    "pairwise mode compares against; add `reference` or use mode: single"
                )
            out.append(
                {"id": str(row.get("question_id", k)), "category": row.get("category"), "turns": turns, "refs": refs}
            )
        if len(out) < 2:
            raise LamdagentError("judge: at least two questions are needed (one for validation, one for test)")
        return out

    # -- the Task contract ----------------------------------------------------------------------------
    def items(self, split: Split, limit: int | None = None) -> list[EvalItem]:
        check_split(self.name, split)
        return [
            EvalItem(
                id=q["id"],
                messages=[{"role": "user", "content": q["turns"][0]}],
                reference=q["refs"],
                category=q["category"],
                extra={"turns": q["turns"]},
            )
            for q in self._splits[split][:limit]
        ]

    def score(self, items: list[EvalItem], outputs: list[str]) -> dict[str, float]:
        """Single-turn answers judged (the first turn of each item); `run_model` handles second turns."""
        result = self.judge([(it, [it.messages[0]["content"]], [out]) for it, out in zip(items, outputs, strict=True)])
        return result["metrics"]

    def run_model(
        self, model: Any, tokenizer: Any, split: Split, limit: int | None, batch_size: int, progress: bool
    ) -> TaskResult:
        """Answer every turn (a second turn sees the model's first answer), then judge each answer."""
        start = time.perf_counter()
        items = self.items(split, limit)
        chats = [list(it.messages) for it in items]
        answers: list[list[str]] = [[] for _ in items]
        new_tokens = prompt_tokens = 0
        for turn in range(max(len(it.extra["turns"]) for it in items)):
            todo = [k for k, it in enumerate(items) if len(it.extra["turns"]) > turn]
            if turn > 0:
                for k in todo:
                    chats[k] += [
                        {"role": "assistant", "content": answers[k][-1]},
                        {"role": "user", "content": items[k].extra["turns"][turn]},
                    ]
            outputs, stats = generate_with_stats(
                model,
                tokenizer,
                [chats[k] for k in todo],
                self.max_new_tokens,
                batch_size=batch_size,
                progress=progress,
                description=f"{self.name} ({split}) turn {turn + 1}",
            )
            new_tokens += stats.new_tokens
            prompt_tokens += stats.prompt_tokens
            for k, out in zip(todo, outputs, strict=True):
                answers[k].append(out)
        judged = self.judge([(it, it.extra["turns"], answers[k]) for k, it in enumerate(items)])
        return TaskResult(
            name=self.name,
            metrics=judged["metrics"],
            primary_metric=self.primary_metric,
            items=len(items),
            seconds=time.perf_counter() - start,
            new_tokens=new_tokens,
            prompt_tokens=prompt_tokens,
            info=judged["info"],
        )

    # -- judging ----------------------------------------------------------------------------------------
    def judge(self, answered: list[tuple[EvalItem, list[str], list[str]]]) -> dict[str, Any]:
        """Every answer of every item judged `samples` times: metrics (rates) and info (alpha, cost, flags)."""
        t0 = time.perf_counter()
        tokens = asked = failed = 0
        item_scores: list[float] = []
        units: list[list[float]] = []
        for item, turns, answers in answered:
            per_turn: list[float] = []
            for turn, answer in enumerate(answers):
                conversation = _conversation(turns[: turn + 1], answers[:turn])
                ref = item.reference[turn] if turn < len(item.reference) else None
                values = []
                for sample in range(self.options.samples):
                    value, used, fresh = self._one(conversation, answer, ref, sample)
                    tokens += used
                    asked += fresh
                    if value is None:
                        failed += 1
                    else:
                        values.append(value)
                if values:
                    per_turn.append(statistics.fmean(values))
                    units.append(values)
            if per_turn:
                item_scores.append(statistics.fmean(per_turn))
        total = sum(len(a) for _, _, a in answered) * self.options.samples
        alpha = krippendorff_alpha(units)
        metrics = {
            "score": statistics.fmean(item_scores) if item_scores else 0.0,
            "parse_failure_rate": failed / total if total else 0.0,
        }
        info = {
            "alpha": alpha if alpha is not None else float("nan"),
            "unreliable": float(alpha is None or alpha < self.options.alpha_threshold),
            "judge_tokens": float(tokens),
            "judge_calls": float(asked),
            "judge_seconds": round(time.perf_counter() - t0, 3),
            "judged_items": float(len(item_scores)),
        }
        return {"metrics": metrics, "info": info}

    def _one(self, conversation: str, answer: str, reference: str | None, sample: int) -> tuple[float | None, int, int]:
        """One sampled judgment, normalised to [0, 1] (pairwise: both orders, 1 win, 0.5 tie, 0 loss):
        (value or None, tokens, fresh calls)."""
        o = self.options
        if o.mode == "single":
            ref = f"\n[Reference answer]\n{reference}\n" if reference and o.use_reference else ""
            prompt = SINGLE.format(
                conversation=conversation, answer=answer, reference=ref, criteria=o.criteria, scale=o.scale,
                lowest=LOWEST, highest=HIGHEST,
            )  # fmt: skip
            schema = _object("score", {"type": "integer", "enum": list(range(1, o.scale + 1))})
            text, used, fresh = self._ask(prompt, sample, schema)
            value = _verdict(text, "score", _SCORE)
            try:
                score = float(value) if value is not None else None
            except ValueError:
                score = None
            if score is None or not 1 <= score <= o.scale:
                return None, used, fresh
            return (score - 1) / (o.scale - 1), used, fresh
        outcomes, used_all, fresh_all = [], 0, 0
        pair_schema = _object("winner", {"type": "string", "enum": ["A", "B", "tie"]})
        for first, second, mine in ((answer, reference or "", "a"), (reference or "", answer, "b")):
            prompt = PAIR.format(conversation=conversation, first=first, second=second, criteria=o.criteria)
            text, used, fresh = self._ask(prompt, sample, pair_schema)
            used_all, fresh_all = used_all + used, fresh_all + fresh
            winner = _verdict(text, "winner", _WINNER)
            if winner is None or str(winner).lower() not in ("a", "b", "tie"):
                return None, used_all, fresh_all
            outcomes.append("tie" if str(winner).lower() == "tie" else str(winner).lower() == mine)
        if outcomes == [True, True]:
            return 1.0, used_all, fresh_all
        if outcomes == [False, False]:
            return 0.0, used_all, fresh_all
        return 0.5, used_all, fresh_all  # a tie, or the orders disagree (position bias)

    def _ask(self, prompt: str, sample: int, schema: dict[str, Any] | None = None) -> tuple[str, int, int]:
        """The judge's answer to a prompt (cached); a failed call is an empty answer, never an error. The
        `schema` of the verdict is enforced where the backend can (a llama.cpp grammar, structured output), so
        even a small judge answers in form; elsewhere the one-line verdict is parsed from the text."""
        from lamdagent.llm.base import LLMError, make_client

        settings = {k: v for k, v in sorted(self.options.judge.items()) if v is not None}
        o = self.options
        asked = [settings, o.temperature, o.judge_max_tokens, schema, prompt, sample]
        key = hashlib.sha256(json.dumps(asked).encode()).hexdigest()
        if self._cache is None:
            self._cache = JudgeCache()
        hit = self._cache.get(key)
        if hit is not None:
            return hit[0], 0, 0
        try:
            if self._client is None:
                self._client = make_client(self.options.judge)
            answer = self._client.complete(
                [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
                max_tokens=self.options.judge_max_tokens,
                temperature=self.options.temperature,
                schema=schema,
                seed=self.options.seed * 1000 + sample,  # each sample its own draw, the same one on a re-run
            )
        except (LLMError, LamdagentError) as exc:
            return f"(judge failed: {exc})", 0, 1
        self._cache.put(key, answer.text, answer.tokens)
        return answer.text, answer.tokens, 1


def _object(key: str, value_schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {key: value_schema}, "required": [key], "additionalProperties": False}


def _verdict(text: str, key: str, line: re.Pattern[str]) -> Any:
    """The verdict in an answer: `{"key": value}` JSON (a constrained judge) or the one-line form; None if neither."""
    start = text.find("{")
    if start != -1:
        try:
            obj = json.JSONDecoder().raw_decode(text, start)[0]
            if isinstance(obj, dict) and key in obj:
                return obj[key]
        except ValueError:
            pass
    match = line.search(text)
    return match.group(1) if match else None


def _conversation(turns: list[str], answers: list[str]) -> str:
    """The chat up to the turn being graded: each user turn, with the model's earlier answers between them."""
    lines = []
    for k, turn in enumerate(turns):
        lines.append(f"User: {turn}")
        if k < len(answers):
            lines.append(f"Assistant: {answers[k]}")
    return "\n".join(lines)


TASKS.register("judge", JudgeTask)
