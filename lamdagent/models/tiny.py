"""A tiny random Llama that shares the embedded model's tokenizer and chat template.

It trains, merges and generates in seconds on a CPU, so tests and benchmarks that measure the machinery
(executors, caching, process handling) rather than model quality use it in place of a real base model.
Its answers are noise; never report its scores as results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def make_tiny_llama(out: str | Path, tokenizer_dir: str | Path | None = None, seed: int = 0) -> Path:
    """Write a 2-layer, 32-wide random Llama with the tokenizer of `tokenizer_dir` (default: the embedded
    model) to `out`; the same seed gives the same weights. Returns `out`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from lamdagent.models.embedded import embedded_model_dir
    from lamdagent.models.loading import load_tokenizer

    out = Path(out)
    tok = load_tokenizer(Path(tokenizer_dir) if tokenizer_dir else embedded_model_dir())
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def tiny_run_config(base: Path, **over: Any) -> dict[str, Any]:
    """A run config that takes seconds per trial on the tiny random Llama (tests and benches): SFT and
    preference data from the built-in tool-use suite, one optimiser step, four evaluation items per split;
    `over` replaces top-level keys."""
    cfg: dict[str, Any] = {
        "base_models": [str(base)],
        "datasets": [
            {"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": 8},
            {"name": "tool_pref", "kind": "preference", "source": "builtin:tool_use", "size": 8},
        ],
        "tasks": [
            {
                "name": "tool_use",
                "source": "builtin:tool_use",
                "weight": 1.0,
                "options": {"val_size": 4, "test_size": 4, "max_new_tokens": 8},
            },
        ],
        "actions": ["sft", "linear"],
        "params": {"sft": {"max_steps": 1, "batch_size": 4, "max_length": 256}},
        "grids": {"sft": {"learning_rate": [1e-4, 1e-3]}, "linear": {"weight": [0.3, 0.5, 0.7]}},
        "policy": {"name": "random"},
        "budget": {"iterations": 2},
        "eval": {"batch_size": 8},
    }
    cfg.update(over)
    return cfg
