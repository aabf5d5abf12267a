"""The job a worker runs and the result it returns: typed models that travel as JSON between processes.

Both sides validate the same classes, so a worker never re-parses a dict by guesswork: inputs are model or
dataset references told apart by their `object` field, the spec is an `ActionSpec`, tasks are `TaskSpec`s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from lamdagent.evaluation.base import SPLITS, Split
from lamdagent.io import write_json_atomic
from lamdagent.spec import ActionSpec, DatasetRef, EvalSettings, ModelRef, TaskSpec

Ref = Annotated[ModelRef | DatasetRef, Field(discriminator="object")]
SlotInput = Ref | tuple[ModelRef, ...]


class Job(BaseModel):
    """Make (or reuse) one model and evaluate it. `spec` is None for evaluating an initial model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trial_id: int | None
    job_dir: str
    store_root: str
    spec: ActionSpec | None
    model_id: str
    inputs: dict[str, SlotInput] = Field(default_factory=dict)  # slot -> ref (a tuple of them for lists)
    tasks: tuple[TaskSpec, ...] = ()
    eval: EvalSettings = Field(default_factory=EvalSettings)
    model_path: str | None = None  # for evaluation-only jobs
    splits: tuple[Split, ...] = SPLITS
    data_dir: str | None = None

    def parents(self) -> list[ModelRef]:
        """The input models, each once, in slot order (a merge's lineage)."""
        out: list[ModelRef] = []
        for value in self.inputs.values():
            for ref in value if isinstance(value, tuple) else (value,):
                if isinstance(ref, ModelRef) and ref.id not in {p.id for p in out}:
                    out.append(ref)
        return out

    def write(self) -> Path:
        path = Path(self.job_dir) / "job.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, self.model_dump(mode="json"))
        return path

    @classmethod
    def read(cls, job_dir: str | Path) -> Job:
        return cls.model_validate_json((Path(job_dir) / "job.json").read_text())


class JobResult(BaseModel):
    """What a worker reports: the model it made (or reused) and its scores, or the error's first line."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    output_model: str | None = None
    output_path: str | None = None
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict)
    test_metrics: dict[str, dict[str, float]] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    reused_model: bool = False

    def write(self, job_dir: str | Path) -> None:
        write_json_atomic(Path(job_dir) / "result.json", self.model_dump(mode="json"))

    @classmethod
    def read(cls, job_dir: str | Path) -> JobResult | None:
        path = Path(job_dir) / "result.json"
        if not path.is_file():
            return None
        return cls.model_validate(json.loads(path.read_text()))
