"""Helpers for the action tests: tiny JSONL datasets, crafted model dirs and running an action in-process."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamdagent.actions import ACTIONS, ActionContext
from lamdagent.spec import ModelRef


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sft_rows(n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        user = {"role": "user", "content": f"What is {i} plus {i}?"}
        answer = {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."}
        rows.append({"messages": [user, answer]} if i % 4 == 3 else {"prompt": [user], "completion": [answer]})
    return rows


def pref_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "prompt": [{"role": "user", "content": f"Name the number after {i}."}],
            "chosen": [{"role": "assistant", "content": f"{i + 1}"}],
            "rejected": [{"role": "assistant", "content": f"I do not know what comes after {i}."}],
        }
        for i in range(n)
    ]


def model_ref(path: Path, model_id: str, name: str | None = None) -> ModelRef:
    return ModelRef(id=model_id, path=str(path), fingerprint=f"fp-{model_id}", name=name)


def load_weights(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    out: dict[str, Any] = {}
    for file in sorted(path.glob("*.safetensors")):
        out.update(load_file(file))
    return out


def crafted_model(src: Path, dst: Path, transform: Callable[[str, Any], Any]) -> Path:
    """A copy of `src` whose every tensor is `transform(name, tensor)` (tokenizer and config kept)."""
    from safetensors.torch import save_file

    shutil.copytree(src, dst)
    weights = load_weights(src)
    for file in dst.glob("*.safetensors"):
        file.unlink()
    save_file(
        {k: transform(k, v).contiguous() for k, v in weights.items()},
        dst / "model.safetensors",
        metadata={"format": "pt"},
    )
    return dst


def run_action(name: str, inputs: dict[str, Any], params: dict[str, Any], out: Path) -> ActionContext:
    action_type = ACTIONS.get(name)
    ctx = ActionContext(inputs=inputs, params=action_type.parse_params(params), output_dir=out)
    action_type().run(ctx)
    return ctx
