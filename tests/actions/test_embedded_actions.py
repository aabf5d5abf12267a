"""End to end on the real SmolLM2-135M-Instruct: train, merge, load and generate (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from action_helpers import model_ref, run_action

from lamdagent.spec import DatasetRef

pytestmark = pytest.mark.slow


def generate(path: Path) -> str:
    import torch

    from lamdagent.models.loading import load_causal_lm, load_tokenizer

    model, tok = load_causal_lm(path), load_tokenizer(path, padding_side="left")
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 2?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    return tok.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)


def test_sft_then_ties_on_the_embedded_model(embedded_dir: Path, sft_data: DatasetRef, tmp_path: Path) -> None:
    base = model_ref(embedded_dir, "base", name="smollm2-135m-instruct")
    fast = {"max_steps": 2, "batch_size": 4, "max_length": 128, "warmup_ratio": 0.0}
    full = tmp_path / "full"
    ctx = run_action("sft", {"model": base, "data": sft_data}, fast, full)
    assert ctx.stats["steps"] == 2
    assert generate(full).strip()
    lora = tmp_path / "lora"
    run_action("sft", {"model": base, "data": sft_data}, {**fast, "lora_r": 8, "learning_rate": 2e-4}, lora)
    merged = tmp_path / "ties"
    inputs = {"models": [model_ref(full, "mfull"), model_ref(lora, "mlora")], "base": base}
    run_action("ties", inputs, {"density": 0.5}, merged)
    assert generate(merged).strip()
