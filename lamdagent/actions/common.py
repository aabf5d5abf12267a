"""What the training actions share: reading the run's JSONL data, loading, TRL settings, saving a full model.

Only `read_jsonl` and the row normalisers are light; everything touching torch imports it inside the function,
so `import lamdagent.actions` stays fast for the CLI and the agent.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from lamdagent.actions.base import OMIT_AT_DEFAULT, ActionContext, ActionParams
from lamdagent.errors import LamdagentError
from lamdagent.hardware import Precision, precision, set_threads
from lamdagent.io import read_jsonl_numbered
from lamdagent.spec import DatasetRef, ModelRef

TOKENIZER_EXTRAS = ("generation_config.json",)


class TrainingParams(ActionParams):
    """Optimiser and schedule settings shared by SFT and DPO; defaults suit a ~135M model on a CPU."""

    learning_rate: float = Field(
        5e-5, gt=0, le=1e-2, description="Peak AdamW learning rate (full fine-tuning ~1e-5..1e-4; LoRA ~1e-4..5e-4)"
    )
    num_epochs: float = Field(1.0, gt=0, le=20, description="Passes over the data; used only when max_steps is -1")
    max_steps: int = Field(
        32, ge=-1, le=100_000, description="Optimiser steps; -1 trains for num_epochs instead (can take long on CPU)"
    )
    batch_size: int = Field(8, ge=1, le=256, description="Examples per device per forward pass")
    gradient_accumulation_steps: int = Field(
        1, ge=1, le=256, description="Forward passes per optimiser step (effective batch = batch_size x this)"
    )
    max_length: int = Field(
        512,
        ge=16,
        le=32_768,
        description="Longest tokenised example kept; longer ones are truncated (cost grows with it)",
    )
    lora_r: int = Field(
        0,
        ge=0,
        le=512,
        description="LoRA rank on all linear layers (merged back into a full model); 0 = full fine-tuning",
    )
    lora_alpha: int = Field(
        32, ge=1, le=1024, description="LoRA scaling numerator (update scale = lora_alpha / lora_r)"
    )
    train_layers: int = Field(
        0,
        ge=0,
        le=1024,
        description=(
            "Train only the top N transformer blocks: the input embeddings (and a head tied to them) and the "
            "blocks below stay frozen, so backward stops early (a third of the blocks: about 2x the tokens/s on a "
            "CPU); with LoRA, adapters go on the top N blocks only; 0 trains every block"
        ),
        json_schema_extra={OMIT_AT_DEFAULT: True},
    )
    warmup_ratio: float = Field(
        0.05, ge=0, lt=1, description="Fraction of the steps spent warming the learning rate up"
    )
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Seed for data order and initialisation (same seed, same model)"
    )

    @field_validator("max_steps")
    @classmethod
    def _steps_not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be -1 (train for num_epochs) or at least 1")
        return value


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a dataset file with their line numbers; an empty file is an error (nothing to train on)."""
    rows = read_jsonl_numbered(path)
    if not rows:
        raise LamdagentError(f"dataset file {path} has no rows, so there is nothing to train on; give it examples")
    return rows


def _messages(value: Any, where: str, field: str) -> list[dict[str, str]]:
    ok = (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
        )
    )
    if not ok:
        raise LamdagentError(f"{where}: {field!r} must be a non-empty list of {{'role', 'content'}} messages")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def sft_rows(path: str | Path) -> list[dict[str, Any]]:
    """SFT rows as prompt/completion pairs, so the loss falls on the answer only.

    A `messages` row whose last turn is the assistant's becomes prompt = the turns before, completion = that
    turn (SmolLM2's template has no generation markers, so TRL's assistant-only loss is not available).
    """
    out = []
    for lineno, row in read_jsonl(path):
        where = f"{path}:{lineno}"
        if "prompt" in row and "completion" in row:
            prompt = _messages(row["prompt"], where, "prompt")
            completion = _messages(row["completion"], where, "completion")
        elif "messages" in row:
            msgs = _messages(row["messages"], where, "messages")
            if msgs[-1]["role"] != "assistant" or len(msgs) < 2:
                raise LamdagentError(f"{where}: 'messages' must end with an assistant turn after at least one other")
            prompt, completion = msgs[:-1], msgs[-1:]
        else:
            raise LamdagentError(f"{where}: an SFT row needs 'prompt' and 'completion', or 'messages'")
        out.append({"prompt": prompt, "completion": completion})
    return out


def preference_rows(path: str | Path) -> list[dict[str, Any]]:
    """Preference rows: prompt messages, a chosen and a rejected assistant answer."""
    out = []
    for lineno, row in read_jsonl(path):
        where = f"{path}:{lineno}"
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
        if missing:
            raise LamdagentError(f"{where}: a preference row needs 'prompt', 'chosen', 'rejected' (missing {missing})")
        out.append({k: _messages(row[k], where, k) for k in ("prompt", "chosen", "rejected")})
    return out


def prompt_lengths(rows: list[dict[str, Any]], tokenizer: Any) -> list[int]:
    """Tokens of each row's prompt as the trainers see it: the chat template with the assistant turn opened."""
    texts = [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in rows]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [len(x) for x in ids]


def keep_answerable(
    rows: list[dict[str, Any]], tokenizer: Any, max_length: int, dataset: str, log: logging.Logger
) -> list[dict[str, Any]]:
    """The rows that keep at least one answer token after truncation to `max_length`.

    The trainers cut each example at `max_length` from the end, so a prompt of `max_length` tokens or more
    leaves no answer to learn from: such rows only cost time, and if all are like that training learns
    nothing (or divides by zero). Dropping them, and saying so, beats a model that silently did not change.
    """
    if not rows:
        raise LamdagentError(f"dataset {dataset!r} has no examples, so there is nothing to train on; give it some")
    lengths = prompt_lengths(rows, tokenizer)
    kept = [r for r, n in zip(rows, lengths, strict=True) if n < max_length]
    if not kept:
        raise LamdagentError(
            f"all {len(rows)} examples of {dataset} lose their answer at max_length {max_length} (the shortest "
            f"prompt is {min(lengths)} tokens): raise max_length or shorten the prompts"
        )
    if len(kept) < len(rows):
        log.warning(
            "%d of %d examples of %s lose their answer at max_length %d (prompt too long); dropped",
            len(rows) - len(kept),
            len(rows),
            dataset,
            max_length,
        )
    return kept


def input_model(ctx: ActionContext, slot: str = "model") -> ModelRef:
    ref = ctx.inputs[slot]
    if not isinstance(ref, ModelRef):
        raise LamdagentError(f"slot {slot!r} must hold one model, got {type(ref).__name__}")
    return ref


def input_dataset(ctx: ActionContext, slot: str = "data") -> DatasetRef:
    ref = ctx.inputs[slot]
    if not isinstance(ref, DatasetRef):
        raise LamdagentError(f"slot {slot!r} must hold a dataset, got {type(ref).__name__}")
    return ref


@contextmanager
def timed(ctx: ActionContext, key: str) -> Iterator[None]:
    """Add the wall time of the block to `ctx.timings[key]`."""
    start = time.perf_counter()
    try:
        yield
    finally:
        ctx.timings[key] = ctx.timings.get(key, 0.0) + time.perf_counter() - start


def prepare(ctx: ActionContext, seed: int) -> Precision:
    """Threads, seeds and quiet libraries before any training; returns the precision for ctx.device."""
    from transformers import set_seed
    from transformers.utils import logging as hf_logging

    set_threads()
    set_seed(seed, deterministic=False)
    hf_logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return precision(ctx.device)


def load_model_and_tokenizer(ref: ModelRef) -> tuple[Any, Any]:
    """Load fp32 weights (bf16 on GPU comes from autocast) and a padded tokenizer with a finite length."""
    import torch

    from lamdagent.models.loading import check_safetensors, load_causal_lm, load_tokenizer

    path = Path(ref.path)
    if not (path / "config.json").is_file():
        raise LamdagentError(f"model {ref.id!r}: {path} is not a model directory (no config.json)")
    check_safetensors(path)
    model = load_causal_lm(path, dtype=torch.float32)
    tokenizer = load_tokenizer(path)
    return model, tokenizer


def trainer_settings(params: Any, prec: Precision, scratch: str) -> dict[str, Any]:
    """TRL config arguments common to SFT and DPO: no checkpoints, no trackers, token counting, quiet logs."""
    return {
        "output_dir": scratch,
        "learning_rate": params.learning_rate,
        "num_train_epochs": params.num_epochs,
        "max_steps": params.max_steps,
        "per_device_train_batch_size": params.batch_size,
        "gradient_accumulation_steps": params.gradient_accumulation_steps,
        "max_length": params.max_length,
        "warmup_steps": params.warmup_ratio,  # transformers 5: a value below 1 is a fraction of the steps
        "seed": params.seed,
        "data_seed": params.seed,
        "save_strategy": "no",
        "report_to": "none",
        "logging_strategy": "steps",
        "logging_steps": 1,
        "log_level": "error",
        "disable_tqdm": False,
        "dataloader_num_workers": 0,
        "include_num_input_tokens_seen": "non_padding",
        **prec.trainer_kwargs(),
    }


def decoder_blocks(model: Any) -> tuple[str, Any]:
    """The model's transformer blocks and their module path: the ModuleList as long as the config's layer count."""
    import torch

    count = model.config.get_text_config().num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return name, module
    raise LamdagentError(
        f"{type(model).__name__}: no list of {count} transformer blocks found, so train_layers cannot pick the top "
        "ones; set train_layers: 0"
    )


def top_blocks(model: Any, params: Any, log: logging.Logger) -> tuple[str, Any, int] | None:
    """The block list's module path, the list, and the index of the first block `train_layers` trains; None when
    every block trains (0, or N >= the depth)."""
    if not params.train_layers:
        return None
    path, blocks = decoder_blocks(model)
    if params.train_layers >= len(blocks):
        log.info("train_layers=%d >= the model's %d blocks: every block trains", params.train_layers, len(blocks))
        return None
    return path, blocks, len(blocks) - params.train_layers


def freeze_lower(model: Any, params: Any, log: logging.Logger) -> None:
    """Full fine-tuning of the top blocks only: no gradient flows below them, which is where a CPU saves time."""
    top = None if params.lora_r else top_blocks(model, params, log)  # LoRA picks its blocks in `lora_config`
    if top is None:
        return
    _, blocks, first = top
    model.get_input_embeddings().requires_grad_(False)  # a tied output head is the same tensor: frozen too
    for block in blocks[:first]:
        block.requires_grad_(False)


def lora_config(params: Any, model: Any, log: logging.Logger) -> Any:
    """LoRA on every linear layer but the output head (of the top `train_layers` blocks), merged back after."""
    import torch
    from peft import LoraConfig

    top = top_blocks(model, params, log)
    targets: str | list[str] = "all-linear"
    layers: dict[str, Any] = {}
    if top is not None:  # peft takes a block range only with the layers named, not with "all-linear"
        path, blocks, first = top
        targets = sorted({n.rsplit(".", 1)[-1] for n, m in blocks.named_modules() if isinstance(m, torch.nn.Linear)})
        layers = {"layers_to_transform": list(range(first, len(blocks))), "layers_pattern": path.rsplit(".", 1)[-1]}
    return LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=0.0,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
        **layers,
    )


def save_full_model(model: Any, tokenizer: Any, source: Path, out_dir: Path) -> None:
    """Write a plain HF directory: LoRA merged in, fp32 safetensors, tokenizer with template and pad token."""
    import shutil

    import torch

    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model = model.to("cpu", dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.use_cache = True
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.padding_side = "right"
    tokenizer.save_pretrained(out_dir)
    for name in TOKENIZER_EXTRAS:  # keep the source's generation defaults (stop tokens), not the trainer's
        if (source / name).is_file():
            shutil.copyfile(source / name, out_dir / name)


def finish_training(
    ctx: ActionContext, trainer: Any, result: Any, examples: int, tokenizer: Any, ref: ModelRef
) -> None:
    """Record the run's training figures, then write the full model (LoRA merged back) to the output dir."""
    ctx.stats.update(
        trainable_params=sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        train_tokens=int(trainer.state.num_input_tokens_seen),
        steps=int(trainer.state.global_step),
        train_loss=float(result.training_loss),
        examples=examples,
    )
    with timed(ctx, "save_s"):
        save_full_model(trainer.model, tokenizer, Path(ref.path), ctx.output_dir)
