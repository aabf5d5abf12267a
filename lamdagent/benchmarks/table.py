"""The pipeline table: one JSON line per pipeline of a space, keyed by its canonical signature.

File layout (`.jsonl`, or `.jsonl.gz` whose appends are extra gzip members, which every gzip reader joins):

- line 1, the header: `{"header": {"format": 1, "name": ..., "space": <run config>, "primary_metrics": ...}}`;
  the space is the run config the rows were built under (base model, datasets, tasks, actions, grids), so a
  table alone says how to run a search on it;
- then one row per pipeline: `{"signature", "parents", "depth", "action", "params", "scores": {"validation":
  {task: {metric: value}}, "test": ...}, "items": {"validation": {task: [0/1, ...]}, ...}, "seconds":
  {"action": s, "eval": s}, "peak_rss_mb", "versions"}`. Depth-0 rows are the initial models.

Every write replaces the file atomically (old bytes plus the new rows, then a rename), so a builder killed at
any moment leaves a valid table with whole rows only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lamdagent.errors import LamdagentError, one_line
from lamdagent.io import write_atomic

FORMAT = 1
Split = Literal["validation", "test"]
SPLITS: tuple[Split, ...] = ("validation", "test")
DEFAULT_METRIC = "accuracy"  # a task's primary metric when the header does not name one (as in evaluation)


class TableHeader(BaseModel):
    """What the rows were built under: the space (a run config) and each task's primary metric."""

    model_config = ConfigDict(extra="forbid")

    format: int = Field(default=FORMAT, ge=1, le=FORMAT, description="Table format version")
    name: str = Field(default="", description="A name for people, e.g. pipebench-smollm2")
    space: dict[str, Any] = Field(default_factory=dict, description="The run config the pipelines were built under")
    primary_metrics: dict[str, str] = Field(default_factory=dict, description="task -> its primary metric")
    max_depth: int | None = Field(default=None, ge=0, description="Deepest pipeline enumerated")
    notes: str = ""


class TableRow(BaseModel):
    """One pipeline: its signature, lineage, scores, per-item correctness, and what it cost."""

    model_config = ConfigDict(extra="forbid")

    signature: str = Field(min_length=1)
    parents: list[str] = Field(default_factory=list, description="The input models' signatures")
    depth: int = Field(ge=0, description="0 for an initial model; 1 + the deepest parent otherwise")
    action: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    scores: dict[Split, dict[str, dict[str, float]]]
    items: dict[Split, dict[str, list[float]]] = Field(default_factory=dict)
    seconds: dict[str, float] = Field(default_factory=dict, description="'action' and 'eval' seconds")
    peak_rss_mb: float | None = Field(default=None, ge=0)
    versions: dict[str, str] = Field(default_factory=dict)

    @field_validator("seconds")
    @classmethod
    def _seconds(cls, value: dict[str, float]) -> dict[str, float]:
        for key, s in value.items():
            if not math.isfinite(s) or s < 0:
                raise ValueError(f"seconds.{key} is {s}; give a finite number >= 0")
        return value

    @field_validator("items")
    @classmethod
    def _items(cls, value: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, list[float]]]:
        for split, tasks in value.items():
            for task, values in tasks.items():
                if any(not 0.0 <= v <= 1.0 for v in values):
                    raise ValueError(f"items.{split}.{task}: per-item values must lie in [0, 1]")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TableRow:
        if (self.depth == 0) != (self.action is None) or (self.depth == 0 and self.parents):
            raise ValueError("a depth-0 row (an initial model) has no action and no parents, and only it")
        for split, tasks in self.items.items():
            missing = set(tasks) - set(self.scores.get(split, {}))
            if missing:
                raise ValueError(f"items.{split} names tasks without scores: {sorted(missing)}")
        return self

    def action_seconds(self) -> float:
        return float(self.seconds.get("action", 0.0))

    def eval_seconds(self) -> float:
        return float(self.seconds.get("eval", 0.0))


@dataclass
class Table:
    """A loaded table: its header and its rows by signature."""

    path: Path
    header: TableHeader
    rows: dict[str, TableRow] = field(default_factory=dict)
    # What the table holds, whatever the order of its rows or its gzip members: results replayed from two tables
    # are comparable only when this matches (the arena's journal keys on it).
    digest: str = ""

    def row(self, signature: str) -> TableRow | None:
        return self.rows.get(signature)

    def base_rows(self) -> list[TableRow]:
        return [r for r in self.rows.values() if r.depth == 0]

    def primary_metric(self, task: str, metrics: Mapping[str, float] | None = None) -> str:
        """The metric a task's objective term uses: the header's, else `accuracy`, else the first one."""
        if task in self.header.primary_metrics:
            return self.header.primary_metrics[task]
        if metrics and DEFAULT_METRIC not in metrics:
            return sorted(metrics)[0]
        return DEFAULT_METRIC

    def metrics(
        self, row: TableRow, split: Split, tasks: Sequence[str] | None = None, seed: int | None = None
    ) -> dict[str, dict[str, float]]:
        """A row's metrics on a split (only `tasks`, when given).

        With a `seed`, each task's primary metric is moved by a bootstrap of its per-item values: the items are
        drawn with replacement (the draw fixed by seed, signature, split and task, so one model always scores
        the same within a seed), and the metric shifts by the resample's mean minus the full mean. The shift
        keeps the recorded value as the centre even where the per-item value is a proxy (prompt-level
        correctness for an instruction-level metric); other metrics stay as recorded.
        """
        scores = row.scores.get(split, {})
        out = {t: dict(m) for t, m in scores.items() if tasks is None or t in tasks}
        if seed is None:
            return out
        for task, metrics in out.items():
            values = row.items.get(split, {}).get(task)
            metric = self.primary_metric(task, metrics)
            if not values or metric not in metrics:
                continue
            rng = random.Random(f"{seed}|{split}|{task}|{row.signature}")
            n = len(values)
            drawn = sum(values[rng.randrange(n)] for _ in range(n)) / n
            metrics[metric] = min(1.0, max(0.0, metrics[metric] + drawn - sum(values) / n))
        return out


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else open(path, encoding="utf-8")


def read_table(path: str | Path) -> Table:
    """Load and validate a table; an error names `FILE:LINE` and what is wrong there."""
    path = Path(path)
    if not path.is_file():
        raise LamdagentError(f"table {path} not found; build one with bench/pipebench_build.py or check the path")
    header: TableHeader | None = None
    rows: dict[str, TableRow] = {}
    canonical: list[str] = []
    try:
        with _open_text(path) as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LamdagentError(f"{where}: not JSON ({exc.msg}); the table is damaged") from None
                canonical.append(json.dumps(raw, sort_keys=True, ensure_ascii=False))
                if isinstance(raw, dict) and set(raw) == {"header"}:
                    if header is not None or rows:
                        raise LamdagentError(f"{where}: a header after the first line; keep one header, first")
                    header = _validate(TableHeader, raw["header"], where)
                    continue
                row = _validate(TableRow, raw, where)
                if row.signature in rows:
                    raise LamdagentError(f"{where}: signature repeats an earlier row; keep one row per pipeline")
                rows[row.signature] = row
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise LamdagentError(f"{path}: cannot be read ({exc}); the file is damaged or not gzip") from None
    digest = hashlib.sha256("\n".join(sorted(canonical)).encode("utf-8")).hexdigest()[:12]
    return Table(path, header or TableHeader(), rows, digest)


def _validate(model: type[Any], raw: Any, where: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise LamdagentError(f"{where}: {one_line(exc, '')}") from None


def _encode(lines: Iterable[dict[str, Any]], gz: bool) -> bytes:
    text = "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines).encode("utf-8")
    return gzip.compress(text, mtime=0) if gz else text


def append_rows(path: str | Path, rows: Iterable[TableRow], header: TableHeader | None = None) -> None:
    """Add rows at the end (and a header first, when the file is new); the file is replaced atomically.

    A gzip table gets a new gzip member per call, so nothing already written is decompressed or rewritten.
    """
    path = Path(path)
    gz = path.name.endswith(".gz")
    old = path.read_bytes() if path.is_file() else b""
    new = [r.model_dump(mode="json") for r in rows]
    if old and not new:
        return
    lines = new if old else [{"header": (header or TableHeader()).model_dump(mode="json")}, *new]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, old + _encode(lines, gz))


def write_header(path: str | Path, header: TableHeader) -> None:
    """Start a new table (an existing file is left alone: its header stays the first line)."""
    if not Path(path).is_file():
        append_rows(path, [], header)
