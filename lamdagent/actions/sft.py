"""Supervised fine-tuning with TRL's SFTTrainer; the loss falls on the assistant's answer only."""

from __future__ import annotations

import tempfile
from typing import Any, ClassVar

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
    prepare,
    sft_rows,
    timed,
    trainer_settings,
)


def answer_head_trainer(base: type) -> type:
    """`base` (TRL's SFTTrainer) with a loss that runs the output head on the answer positions only.

    Off CUDA, TRL's fused head scores every position (fixed tile shapes) and computes the entropy of each; when
    prompts are many times longer than their answers (tool schemas), that is wasted work on a 49k-word head, a
    fifth of a small model's compute. The loss is TRL's: summed answer-token NLL over the batch's answer tokens.
    """
    import torch

    class AnswerHeadSFT(base):
        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
            backbone = getattr(causal_lm, "base_model", None)
            if backbone is None or backbone is causal_lm:  # wrapped for several processes: TRL's path syncs them
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs["labels"][:, 1:]
            features = {k: v for k, v in inputs.items() if k != "labels"}
            hidden = backbone(**features, use_cache=False).last_hidden_state[:, :-1]
            answer = labels != -100
            logits = causal_lm.get_output_embeddings()(hidden[answer]).float()
            total = torch.nn.functional.cross_entropy(logits, labels[answer], reduction="sum")
            count = answer.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
            loss = total / torch.as_tensor(count, device=total.device)
            return (loss, None) if return_outputs else loss

    return AnswerHeadSFT


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
            freeze_lower(model, params, ctx.log)
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
                # on a GPU, TRL's own head is already answer-only (its Triton kernel)
                trainer_cls = answer_head_trainer(SFTTrainer) if prec.use_cpu else SFTTrainer
                trainer = trainer_cls(
                    model=model,
                    args=config,
                    train_dataset=Dataset.from_list(rows),
                    processing_class=tokenizer,
                    peft_config=lora_config(params, model, ctx.log) if params.lora_r else None,
                )
            ctx.log.info(
                "sft on %s: %d examples, lora_r=%d, train_layers=%d",
                ref.id,
                len(rows),
                params.lora_r,
                params.train_layers,
            )
            with timed(ctx, "train_s"):
                result = trainer.train()
        finish_training(ctx, trainer, result, len(rows), tokenizer, ref)
