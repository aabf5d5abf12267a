"""SFT and DPO on the tiny random Llama: every trained weight moves, outputs are full models, runs repeat."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from action_helpers import load_weights, model_ref, run_action, write_jsonl

from lamdagent.actions.common import preference_rows, sft_rows
from lamdagent.errors import LamdagentError
from lamdagent.spec import DatasetRef

FAST = {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3, "warmup_ratio": 0.0}
LORA_TARGETS = re.compile(r"\.(q|k|v|o|gate|up|down)_proj\.weight$")


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    assert set(before) == set(after), "the output must hold exactly the input's tensors"
    return {k for k in before if not torch.equal(before[k], after[k])}


def check_full_model(out: Path) -> None:
    """The output is a plain HF dir with safetensors, a chat template and a pad token."""
    from lamdagent.models.loading import load_tokenizer

    assert list(out.glob("*.safetensors")) and not list(out.glob("*.bin"))
    assert not list(out.glob("adapter_*")), "LoRA must be merged back, not saved as an adapter"
    tok = load_tokenizer(out)
    assert tok.chat_template and tok.pad_token == "<|im_end|>"


def test_sft_full_changes_every_parameter(tiny_model_dir: Path, sft_data: DatasetRef, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ctx = run_action("sft", {"model": model_ref(tiny_model_dir, "base"), "data": sft_data}, FAST, out)
    before, after = load_weights(tiny_model_dir), load_weights(out)
    assert changed(before, after) == set(before)
    assert ctx.stats["steps"] == 2 and ctx.stats["train_tokens"] > 0
    assert set(ctx.timings) == {"load_s", "train_s", "save_s"}
    check_full_model(out)


def test_sft_lora_merges_into_the_adapted_weights(tiny_model_dir: Path, sft_data: DatasetRef, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_action("sft", {"model": model_ref(tiny_model_dir, "base"), "data": sft_data}, {**FAST, "lora_r": 4}, out)
    before = load_weights(tiny_model_dir)
    adapted = {k for k in before if LORA_TARGETS.search(k)}
    assert len(adapted) == 14  # 7 projections x 2 layers
    assert changed(before, load_weights(out)) == adapted  # norms and embeddings stay frozen
    check_full_model(out)


def test_sft_is_deterministic_with_its_seed(tiny_model_dir: Path, sft_data: DatasetRef, tmp_path: Path) -> None:
    inputs = {"model": model_ref(tiny_model_dir, "base"), "data": sft_data}
    run_action("sft", inputs, FAST, tmp_path / "a")
    run_action("sft", inputs, FAST, tmp_path / "b")
    a, b = load_weights(tmp_path / "a"), load_weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_dpo_lora_changes_the_adapted_weights(tiny_model_dir: Path, pref_data: DatasetRef, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ctx = run_action("dpo", {"model": model_ref(tiny_model_dir, "base"), "data": pref_data}, FAST, out)
    before = load_weights(tiny_model_dir)
    assert changed(before, load_weights(out)) == {k for k in before if LORA_TARGETS.search(k)}
    assert ctx.stats["steps"] == 2 and ctx.stats["train_tokens"] > 0
    check_full_model(out)


def test_dpo_full_changes_every_parameter(tiny_model_dir: Path, pref_data: DatasetRef, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_action("dpo", {"model": model_ref(tiny_model_dir, "base"), "data": pref_data}, {**FAST, "lora_r": 0}, out)
    before = load_weights(tiny_model_dir)
    assert changed(before, load_weights(out)) == set(before)


def test_messages_rows_become_prompt_and_completion(tmp_path: Path) -> None:
    user = {"role": "user", "content": "hi"}
    answer = {"role": "assistant", "content": "hello"}
    rows = sft_rows(write_jsonl(tmp_path / "d.jsonl", [{"messages": [user, answer]}]))
    assert rows == [{"prompt": [user], "completion": [answer]}]


GOOD_SFT = {"prompt": [{"role": "user", "content": "a"}], "completion": [{"role": "assistant", "content": "b"}]}
GOOD_PREF = {
    "prompt": [{"role": "user", "content": "a"}],
    "chosen": [{"role": "assistant", "content": "b"}],
    "rejected": [{"role": "assistant", "content": "c"}],
}


@pytest.mark.parametrize(
    ("line", "reader", "needle"),
    [
        ("{not json", sft_rows, ":2: not valid JSON"),
        ('{"text": "x"}', sft_rows, ":2: an SFT row needs"),
        ('{"messages": [{"role": "user", "content": "x"}]}', sft_rows, ":2: 'messages' must end"),
        ('{"prompt": "x", "completion": [{"role": "assistant", "content": "y"}]}', sft_rows, ":2: 'prompt' must"),
        ('{"prompt": [{"role": "user", "content": "x"}], "chosen": []}', preference_rows, ":2: a preference row"),
    ],
)
def test_bad_rows_name_the_file_and_line(tmp_path: Path, line: str, reader: Callable, needle: str) -> None:
    good = GOOD_PREF if reader is preference_rows else GOOD_SFT
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(LamdagentError, match=re.escape(needle)) as exc:
        reader(path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


@pytest.mark.parametrize(
    ("action", "params", "field"),
    [
        ("sft", {"learning_rate": -1.0}, "learning_rate"),
        ("sft", {"max_steps": 0}, "max_steps"),
        ("sft", {"lora_r": 1000}, "lora_r"),
        ("sft", {"warmup_ratio": 1.0}, "warmup_ratio"),
        ("sft", {"epochs": 3}, "epochs"),
        ("dpo", {"loss_type": "magic"}, "loss_type"),
        ("dpo", {"beta": 0.0}, "beta"),
    ],
)
def test_out_of_bounds_parameter_names_it(action: str, params: dict, field: str) -> None:
    from lamdagent.actions import ACTIONS

    with pytest.raises(LamdagentError, match=rf"params.{field}:") as exc:
        ACTIONS.get(action).parse_params(params)
    assert "\n" not in str(exc.value)
