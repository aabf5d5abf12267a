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


TOP_BLOCK = re.compile(r"^model\.(layers\.1\.|norm\.)")  # the tiny model has 2 blocks and a tied head


@pytest.mark.parametrize(("action", "extra"), [("sft", {}), ("dpo", {"lora_r": 0})])
def test_train_layers_trains_the_top_blocks_only(
    action: str, extra: dict, tiny_model_dir: Path, sft_data: DatasetRef, pref_data: DatasetRef, tmp_path: Path
) -> None:
    data = sft_data if action == "sft" else pref_data
    params = {**FAST, **extra, "train_layers": 1}
    ctx = run_action(action, {"model": model_ref(tiny_model_dir, "base"), "data": data}, params, tmp_path / "out")
    before = load_weights(tiny_model_dir)
    assert changed(before, load_weights(tmp_path / "out")) == {k for k in before if TOP_BLOCK.search(k)}
    top = sum(v.numel() for k, v in before.items() if TOP_BLOCK.search(k))
    assert ctx.stats["trainable_params"] == top


def test_train_layers_puts_lora_on_the_top_blocks(tiny_model_dir: Path, sft_data: DatasetRef, tmp_path: Path) -> None:
    out = tmp_path / "out"
    params = {**FAST, "lora_r": 4, "train_layers": 1}
    run_action("sft", {"model": model_ref(tiny_model_dir, "base"), "data": sft_data}, params, out)
    before = load_weights(tiny_model_dir)
    adapted = {k for k in before if LORA_TARGETS.search(k) and ".layers.1." in k}
    assert len(adapted) == 7
    assert changed(before, load_weights(out)) == adapted


def test_train_layers_at_the_depth_or_more_trains_everything(
    tiny_model_dir: Path, sft_data: DatasetRef, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_action("sft", {"model": model_ref(tiny_model_dir, "base"), "data": sft_data}, {**FAST, "train_layers": 5}, out)
    before = load_weights(tiny_model_dir)
    assert changed(before, load_weights(out)) == set(before)


def test_specs_leave_train_layers_out_at_its_default() -> None:
    """Signatures written before the option existed (ledgers, benchmark tables) must stay the same."""
    from lamdagent.actions import ACTIONS

    sft = ACTIONS.get("sft")
    assert "train_layers" not in sft.spec_params({"learning_rate": 1e-4})
    assert sft.spec_params({"train_layers": 10})["train_layers"] == 10
    assert sft.parse_params(sft.spec_params({})).train_layers == 0  # the worker fills the default back in


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
        ("sft", {"train_layers": -1}, "train_layers"),
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


def test_answer_head_loss_is_the_models_own_loss(tiny_model_dir: Path) -> None:
    """The CPU loss scores only answer positions; it must equal the model's mean NLL over those tokens."""
    from trl import SFTTrainer

    from lamdagent.actions.sft import answer_head_trainer
    from lamdagent.models.loading import load_causal_lm

    model = load_causal_lm(tiny_model_dir, dtype=torch.float32)
    torch.manual_seed(0)
    ids = torch.randint(3, model.config.vocab_size, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0  # the second row is right-padded
    labels = ids.clone()
    labels[:, :7] = -100  # prompts
    labels[1, 9:] = -100
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    expected = model(**inputs).loss
    compute_loss = answer_head_trainer(SFTTrainer).compute_loss
    assert torch.allclose(compute_loss(None, model, dict(inputs)), expected, atol=1e-5)
    answers = int((labels[:, 1:] != -100).sum())
    summed = compute_loss(None, model, dict(inputs), num_items_in_batch=2 * answers)  # accumulation: a larger count
    assert torch.allclose(summed, expected / 2, atol=1e-5)
