"""Helpers of the pipeline-table tests: a fake base model directory, a small space, a synthetic table.

The table's scores are made up (a hash of the signature, with a little structure so a search can learn):
they test the machinery (signing, lookup, the arena's bookkeeping), never a claim about real pipelines.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from lamdagent.benchmarks.space import Pipeline, enumerate_pipelines
from lamdagent.benchmarks.table import TableHeader, TableRow, append_rows

BASE_SIGNATURE = "tiny-base"
PRIMARY = {"tool_use": "accuracy", "instruction_following": "inst_level_loose_acc"}
N_ITEMS = 20


def fake_model_dir(root: Path) -> Path:
    """A directory the pool accepts as a base model (config and a safetensors file); nothing ever loads it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text('{"model_type": "llama"}')
    (root / "model.safetensors").write_bytes(b"not weights: the table answers every job")
    return root


def space_config(base: Path, **over: Any) -> dict[str, Any]:
    """The tiny run config over the fake base with two tasks, SFT, DPO and linear merges."""
    from lamdagent.models.tiny import tiny_run_config

    cfg = tiny_run_config(
        base,
        tasks=[
            {"name": "tool_use", "source": "builtin:tool_use", "options": {"val_size": 4, "test_size": 4}},
            {
                "name": "instruction_following",
                "source": "builtin:instruction_following",
                "weight": 0.5,
                "options": {"val_size": 4, "test_size": 4},
            },
        ],
        actions=["sft", "dpo", "linear"],
        params={"sft": {"max_steps": 1}, "dpo": {"max_steps": 1}},
        grids={"sft": {"learning_rate": [1e-4, 1e-3]}, "linear": {"weight": [0.3, 0.7]}},
        budget={"iterations": 4},
    )
    cfg.update(over)
    return cfg


def _unit(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _items(value: float, salt: str) -> list[float]:
    """N_ITEMS 0/1 values whose mean is `value` rounded to the grid, in a scrambled order."""
    ones = round(value * N_ITEMS)
    order = sorted(range(N_ITEMS), key=lambda i: _unit(f"{salt}{i}"))
    return [1.0 if order.index(i) < ones else 0.0 for i in range(N_ITEMS)]


def synthetic_row(p: Pipeline) -> TableRow:
    """Scores that rise with SFT at the larger learning rate and with depth, plus hash noise."""
    boost = 0.15 * p.signature.count("learning_rate=0.001") + 0.05 * p.depth
    scores: dict[str, Any] = {}
    items: dict[str, Any] = {}
    for split in ("validation", "test"):
        tool = min(1.0, 0.2 + boost + 0.2 * _unit(split + p.signature))
        follow = min(1.0, 0.5 + 0.3 * _unit("if" + split + p.signature))
        tool_items, follow_items = _items(tool, split + p.signature), _items(follow, "if" + split + p.signature)
        scores[split] = {
            "tool_use": {"accuracy": sum(tool_items) / N_ITEMS, "parse_rate": 1.0},
            "instruction_following": {"inst_level_loose_acc": sum(follow_items) / N_ITEMS},
        }
        items[split] = {"tool_use": tool_items, "instruction_following": follow_items}
    return TableRow(
        signature=p.signature,
        parents=list(p.parents),
        depth=p.depth,
        action=p.action,
        params=p.params,
        scores=scores,
        items=items,
        seconds={"action": 0.0 if p.depth == 0 else 60.0 + 30 * p.depth, "eval": 20.0},
        peak_rss_mb=900.0,
        versions={"lamdagent": "test"},
    )


def write_synthetic_table(path: Path, cfg: dict[str, Any], max_depth: int = 2) -> list[Pipeline]:
    """Every pipeline of `cfg`'s space to `max_depth`, with made-up scores; the header holds the space."""
    pipelines = enumerate_pipelines(
        [BASE_SIGNATURE],
        {d["name"]: d["kind"] for d in cfg["datasets"]},
        cfg["actions"],
        cfg.get("grids"),
        cfg.get("params"),
        max_depth=max_depth,
    )
    header = TableHeader(name="synthetic", space=cfg, primary_metrics=PRIMARY, max_depth=max_depth)
    append_rows(path, [synthetic_row(p) for p in pipelines[:1]], header)
    append_rows(path, [synthetic_row(p) for p in pipelines[1:]])  # a second gzip member, as a builder appends
    return pipelines
