"""The job a worker runs and the result it returns: plain JSON, so any executor can carry them."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Job:
    """Make (or reuse) one model and evaluate it. `spec` is None for evaluating an initial model."""

    trial_id: int | None
    job_dir: str
    store_root: str
    spec: dict[str, Any] | None
    model_id: str
    inputs: dict[str, Any]  # slot -> ModelRef/DatasetRef dict (a list of them for multi-model slots)
    tasks: list[dict[str, Any]]  # TaskConfig dicts
    eval: dict[str, Any]
    model_path: str | None = None  # for evaluation-only jobs
    splits: list[str] = field(default_factory=lambda: ["validation", "test"])
    data_dir: str | None = None

    def write(self) -> Path:
        path = Path(self.job_dir) / "job.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, asdict(self))
        return path

    @classmethod
    def read(cls, job_dir: str | Path) -> Job:
        return cls(**json.loads((Path(job_dir) / "job.json").read_text()))


@dataclass
class JobResult:
    ok: bool
    output_model: str | None = None
    output_path: str | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    test_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    reused_model: bool = False

    def write(self, job_dir: str | Path) -> None:
        write_json_atomic(Path(job_dir) / "result.json", asdict(self))

    @classmethod
    def read(cls, job_dir: str | Path) -> JobResult | None:
        path = Path(job_dir) / "result.json"
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text()))


def write_json_atomic(path: Path, value: Any) -> None:
    """Write then rename, so a reader never sees half a file even if the writer is killed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(value, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
