"""The run's datasets: every configured set written once as canonical JSONL in the run, mixes interleaved.

The pool's dataset objects are these files, so a run never reads a user's file again after it started: a
change to the source cannot change what a finished trial was trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from lamdagent.errors import LamdagentError
from lamdagent.io import write_atomic
from lamdagent.spec import DatasetRef


class DatasetEntry(Protocol):
    """What a config's dataset entry provides (see `lamdagent.config.DatasetConfig`)."""

    name: str
    kind: Any
    source: str | None
    mix: list[str] | None
    format: str
    size: int | None
    split: str | None
    description: str


def read_datasets(
    entries: Sequence[DatasetEntry], seed: int = 0, data_scale: float = 1.0, benchmarks_dir: str | None = None
) -> dict[str, list[Any]]:
    """Every plain entry's canonical rows, with all checks; writes nothing, so a run can refuse a bad dataset
    before it creates its directory."""
    from lamdagent.data.formats import dataset_rows

    rows: dict[str, list[Any]] = {}
    for d in entries:
        if d.mix is None:
            source = d.source or ""
            if "{data_dir}" in source:
                if not benchmarks_dir:
                    raise LamdagentError(
                        f"dataset {d.name!r}: its source uses {{data_dir}}; set data_dir in the config"
                    )
                source = source.replace("{data_dir}", benchmarks_dir)
            rows[d.name] = dataset_rows(
                source, d.kind, d.name, d.format, size=d.size, seed=seed, data_scale=data_scale, split=d.split
            )
    return rows


def write_datasets(
    entries: Sequence[DatasetEntry], rows: dict[str, list[Any]], data_dir: Path
) -> dict[str, DatasetRef]:
    """Write the rows `read_datasets` returned as `data_dir/<name>.jsonl`, then the mixes; in config order."""
    from lamdagent.data.formats import write_dataset

    refs: dict[str, DatasetRef] = {}
    for d in entries:
        if d.mix is None:
            refs[d.name] = write_dataset(rows[d.name], d.kind, data_dir, d.name, d.source or "", d.description)
    for d in entries:
        if d.mix is not None:
            refs[d.name] = mix(d.name, d.kind, [refs[m] for m in d.mix], data_dir, d.description)
    return {d.name: refs[d.name] for d in entries}


def materialise_datasets(
    entries: Sequence[DatasetEntry],
    data_dir: Path,
    seed: int = 0,
    data_scale: float = 1.0,
    benchmarks_dir: str | None = None,
) -> dict[str, DatasetRef]:
    """Check and write every entry (`read_datasets`, then `write_datasets`)."""
    return write_datasets(entries, read_datasets(entries, seed, data_scale, benchmarks_dir), data_dir)


def mix(name: str, kind: Any, parts: list[DatasetRef], data_dir: Path, description: str) -> DatasetRef:
    """Interleave the parts row by row, so every prefix holds a share of each."""
    rows_by_part = [Path(p.path).read_text().splitlines() for p in parts]
    lines = [rows[i] for i in range(max(map(len, rows_by_part))) for rows in rows_by_part if i < len(rows)]
    data = ("\n".join(lines) + "\n").encode()
    path = data_dir / f"{name}.jsonl"
    write_atomic(path, data)
    return DatasetRef(
        id=name,
        kind=kind,
        path=str(path),
        fingerprint=hashlib.sha256(data).hexdigest()[:16],
        rows=len(lines),
        description=description or "mix of " + ", ".join(p.id for p in parts),
    )
