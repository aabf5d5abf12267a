"""Hugging Face model cards: the names a card gives to base models, its front matter, and the card of a
model in the store. `lamdagent export` writes a richer card for the chosen model, with the same front matter.

There is one rule for `base_model_relation`, so a model's card in the run and its exported card always agree:
a model made by merging several distinct base models is a `merge`; anything else, including a LoRA whose
adapter was merged back into the weights, is a `finetune` of its one base model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lamdagent.models.embedded import EMBEDDED_NAME
from lamdagent.spec import ModelRef

CARD_FILE = "README.md"
EMBEDDED_CARD_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the embedded GGUF was converted from
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def card_name(ref: ModelRef) -> str:
    """The name a model card lists for a parent: its hub id when it has one, else its pool id."""
    if ref.name == EMBEDDED_NAME:
        return EMBEDDED_CARD_NAME
    if ref.name and _HUB_ID.match(ref.name) and not Path(ref.name).expanduser().exists():
        return ref.name
    return ref.id


def base_model_relation(base_models: Sequence[str], merged: bool) -> str:
    """`merge` when a merge combined several distinct base models, else `finetune` (see the module docstring).

    The Hub reads `merge` as "made from all the listed base models"; a merge of a model with itself, or of
    two fine-tunes listed by their one common base, is not that."""
    return "merge" if merged and len(set(base_models)) > 1 else "finetune"


def front_matter(base_models: Sequence[str], merged: bool, tags: Sequence[str] = ()) -> str:
    """The card's YAML front matter block (with its `---` fences): base models, relation, library, tags."""
    names = list(dict.fromkeys(base_models))
    front = {
        "base_model": names[0] if len(names) == 1 else names,
        "base_model_relation": base_model_relation(names, merged),
        "library_name": "transformers",
        "tags": ["lamdagent", *tags],
    }
    return f"---\n{yaml.safe_dump(front, sort_keys=False).rstrip()}\n---"


def render_card(meta: dict[str, Any]) -> str:
    """The card of a model in the store, from its `lamdagent.json`: the action that made it, its parameters,
    its parents and, once evaluated, its scores."""
    names: list[str] = meta["parent_names"]
    spec = meta["spec"]
    lines = [
        front_matter(names, merged=meta["relation"] == "merge"),
        "",
        f"# {meta['model_id']}",
        "",
        f"Produced by lamdagent with the action `{spec['action']}` ({meta['relation']}) on {meta['created_at']}.",
        "",
        "## Parameters",
        "",
    ]
    params = spec.get("params") or {}
    if params:
        lines += ["| parameter | value |", "|---|---|"]
        lines += [f"| `{k}` | `{json.dumps(v)}` |" for k, v in sorted(params.items())]
    else:
        lines.append("None.")
    lines += ["", "## Lineage", ""]
    by_id = dict(zip(meta["parents"], names, strict=True))
    for slot, ids in spec["inputs"].items():
        shown = [f"`{i}`" + (f" ({by_id[i]})" if by_id.get(i, i) != i else "") for i in _as_list(ids)]
        lines.append(f"- {slot}: {', '.join(shown)}")
    lines += ["", f"Spec hash: `{meta['spec_hash']}`.", "", "## Scores", ""]
    scores = meta.get("scores")
    if not scores:
        lines.append("Not evaluated yet.")
    else:
        lines += [f"Objective: **{scores['score']:.4f}**", "", "| split | metric | value |", "|---|---|---|"]
        for split in ("validation", "test"):
            for metric, value in sorted((scores.get(split) or {}).items()):
                cell = f"{value:.4f}" if isinstance(value, int | float) else json.dumps(value)
                lines.append(f"| {split} | {metric} | {cell} |")
    return "\n".join(lines) + "\n"


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]
