"""Direct preference optimisation with TRL's DPOTrainer; the input model is the reference."""

from __future__ import annotations

import tempfile
from typing import ClassVar, Literal

from pydantic import Field

from lamdagent.actions.base import ActionContext, ActionType, Slot
from lamdagent.actions.common import (
    TrainingParams,
    finish_training,
    freeze_lower,
    input_dataset,
    input_model,
    keep_answerable,
    load_model_and_tokenizer,
    lora_config,
    preference_rows,
    prepare,
    timed,
    trainer_settings,
)

DPOLoss = Literal["sigmoid", "ipo", "hinge", "apo_zero", "sppo_hard"]


class DPOParams(TrainingParams):
    """DPO defaults: LoRA (the frozen base doubles as the reference, so no second copy in memory)."""

    beta: float = Field(
        0.1, gt=0, le=10, description="Strength of the pull towards the reference model (higher = stay closer)"
    )
    loss_type: DPOLoss = Field(
        "sigmoid",
        description="Preference loss: sigmoid (original DPO), ipo, hinge (SLiC), apo_zero, sppo_hard",
    )
    max_steps: int = Field(
        16, ge=-1, le=100_000, description="Optimiser steps; -1 trains for num_epochs instead (can take long on CPU)"
    )
    lora_r: int = Field(
        16, ge=0, le=512, description="LoRA rank on all linear layers (merged back into a full model); 0 = full DPO"
    )


class DPO(ActionType):
    name: ClassVar[str] = "dpo"
    description: ClassVar[str] = (
        "Direct preference optimisation: make the chosen answers of a preference dataset more likely than the "
        "rejected ones, relative to the input model. LoRA by default (merged back), full DPO when lora_r = 0."
    )
    relation: ClassVar[str] = "finetune"
    slots: ClassVar[tuple[Slot, ...]] = (
        Slot("model", "model", "The model to align; it is also the frozen reference"),
        Slot("data", "pref_data", "The preference dataset (prompt, chosen, rejected rows)"),
    )
    Params: ClassVar[type[DPOParams]] = DPOParams

    def run(self, ctx: ActionContext) -> None:
        params = ctx.params
        assert isinstance(params, DPOParams)
        ref, data = input_model(ctx), input_dataset(ctx)
        prec = prepare(ctx, params.seed)
        with timed(ctx, "load_s"):
            from datasets import Dataset
            from trl import DPOConfig, DPOTrainer

            from lamdagent.models.loading import load_causal_lm

            rows = preference_rows(data.path)  # bad data fails before the model loads
            model, tokenizer = load_model_and_tokenizer(ref)
            freeze_lower(model, params, ctx.log)
            rows = keep_answerable(rows, tokenizer, params.max_length, data.id, ctx.log)
            # Full DPO needs a frozen copy; with LoRA, disabling the adapter gives the reference for free.
            reference = None if params.lora_r else load_causal_lm(ref.path, dtype=model.dtype)
        with tempfile.TemporaryDirectory(prefix="lamdagent-dpo-") as scratch:
            with timed(ctx, "load_s"):
                config = DPOConfig(
                    **trainer_settings(params, prec, scratch), beta=params.beta, loss_type=[params.loss_type]
                )
                trainer = DPOTrainer(
                    model=model,
                    ref_model=reference,
                    args=config,
                    train_dataset=Dataset.from_list(rows),
                    processing_class=tokenizer,
                    peft_config=lora_config(params, model, ctx.log) if params.lora_r else None,
                )
            ctx.log.info("dpo on %s: %d pairs, loss=%s, lora_r=%d", ref.id, len(rows), params.loss_type, params.lora_r)
            with timed(ctx, "train_s"):
                result = trainer.train()
        finish_training(ctx, trainer, result, len(rows), tokenizer, ref)
