"""Supervised fine-tuning with TRL's SFTTrainer; the loss falls on the assistant's answer only."""

from __future__ import annotations

import tempfile
from typing import ClassVar

from lamdagent.actions.base import ActionContext, ActionType, Slot
from lamdagent.actions.common import (
    TrainingParams,
    finish_training,
    input_dataset,
    input_model,
    keep_answerable,
    load_model_and_tokenizer,
    lora_config,
    prepare,
    sft_rows,
    timed,
    trainer_settings,
)


class SFTParams(TrainingParams):
    """SFT uses the shared training settings as they are."""


class SFT(ActionType):
    name: ClassVar[str] = "sft"
    description: ClassVar[str] = (
        "Supervised fine-tuning: train the model to reproduce the answers of an SFT dataset "
        "(loss on the answers only). Full fine-tuning, or LoRA merged back when lora_r > 0."
    )
    relation: ClassVar[str] = "finetune"
    slots: ClassVar[tuple[Slot, ...]] = (
        Slot("model", "model", "The model to fine-tune"),
        Slot("data", "sft_data", "The SFT dataset (prompt/completion or messages rows)"),
    )
    Params: ClassVar[type[SFTParams]] = SFTParams

    def run(self, ctx: ActionContext) -> None:
        params = ctx.params
        assert isinstance(params, SFTParams)
        ref, data = input_model(ctx), input_dataset(ctx)
        prec = prepare(ctx, params.seed)
        with timed(ctx, "load_s"):
            from datasets import Dataset
            from trl import SFTConfig, SFTTrainer

            rows = sft_rows(data.path)  # bad data fails before the model loads
            model, tokenizer = load_model_and_tokenizer(ref)
            rows = keep_answerable(rows, tokenizer, params.max_length, data.id, ctx.log)
        with tempfile.TemporaryDirectory(prefix="lamdagent-sft-") as scratch:
            with timed(ctx, "load_s"):  # tokenising the data is part of getting ready
                config = SFTConfig(
                    **trainer_settings(params, prec, scratch),
                    completion_only_loss=True,
                    packing=False,
                    # batches of similar lengths: random batches of a mixed set were mostly padding (3x slower)
                    train_sampling_strategy="group_by_length",
                )
                trainer = SFTTrainer(
                    model=model,
                    args=config,
                    train_dataset=Dataset.from_list(rows),
                    processing_class=tokenizer,
                    peft_config=lora_config(params) if params.lora_r else None,
                )
            ctx.log.info("sft on %s: %d examples, lora_r=%d", ref.id, len(rows), params.lora_r)
            with timed(ctx, "train_s"):
                result = trainer.train()
        finish_training(ctx, trainer, result, len(rows), tokenizer, ref)
