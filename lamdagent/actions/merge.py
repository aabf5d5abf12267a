"""Model merges through mergekit: linear, task arithmetic, TIES, DARE-TIES and SLERP of two models.

mergekit computes the weights; the tokenizer (with its chat template and pad token) is always copied from
the first model, because mergekit's own choice of donor depends on set order.
"""

from __future__ import annotations

import os
import shutil
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from lamdagent.actions.base import ActionContext, ActionParams, ActionType, Slot
from lamdagent.actions.common import TOKENIZER_EXTRAS, timed
from lamdagent.errors import LamdagentError
from lamdagent.hardware import cpu_cores, precision, set_threads
from lamdagent.spec import ModelRef

MODELS_SLOT = Slot("models", "model", "The two models to merge (the first also gives the tokenizer)", count=2)
BASE_SLOT = Slot(
    "base",
    "model",
    "Common ancestor the task vectors are taken from (must not be one of the merged models)",
    ancestor_of="models",
)


class LinearParams(ActionParams):
    weight: float = Field(0.5, ge=0, le=1, description="Weight of the first model; the second gets 1 - weight")


class TaskArithmeticParams(ActionParams):
    weight_first: float = Field(1.0, ge=0, le=2, description="Weight of the first model's task vector (model - base)")
    weight_second: float = Field(1.0, ge=0, le=2, description="Weight of the second model's task vector")
    scaling: float = Field(
        1.0, gt=0, le=2, description="Factor on the summed task vectors before adding them to the base (lambda)"
    )
    normalize: bool = Field(False, description="Divide the summed task vectors by the sum of the weights")


class TiesParams(TaskArithmeticParams):
    density: float = Field(
        0.5, gt=0, le=1, description="Fraction of each task vector kept (largest magnitudes) before sign election"
    )
    normalize: bool = Field(True, description="Divide by the summed weights of the task vectors that agree in sign")


class DareTiesParams(TiesParams):
    density: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Fraction of each task vector kept at random (the rest dropped, survivors rescaled)",
    )
    normalize: bool = Field(False, description="Divide by the summed weights of the task vectors that agree in sign")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the random drop (same seed, same model)")


class SlerpParams(ActionParams):
    t: float = Field(
        0.5, ge=0, le=1, description="Position on the arc from the first model (t = 0) to the second (t = 1)"
    )


class MergeAction(ActionType):
    """Shared run: validate inputs, build the mergekit configuration, merge, copy the tokenizer."""

    relation: ClassVar[str] = "merge"
    method: ClassVar[str]  # mergekit's name of the method

    @abstractmethod
    def config(self, models: list[str], base: str | None, params: Any) -> dict[str, Any]:
        """The mergekit configuration (as a dict) for these model paths."""

    def run(self, ctx: ActionContext) -> None:
        models, base = self.check_inputs(ctx.inputs)
        set_threads()
        prec = precision(ctx.device)
        seed = getattr(ctx.params, "seed", 0)
        with timed(ctx, "merge_s"):
            from mergekit.config import MergeConfiguration
            from mergekit.merge import run_merge
            from mergekit.options import MergeOptions

            from lamdagent.models.loading import check_safetensors

            for ref in [*models, *([base] if base else [])]:
                check_safetensors(Path(ref.path))
            raw = self.config([m.path for m in models], base.path if base else None, ctx.params)
            raw["dtype"] = "float32"  # compute in fp32: bf16 rounding would swamp small task vectors
            options = MergeOptions(
                device="cuda" if prec.device.startswith("cuda") else "cpu",
                copy_tokenizer=False,
                write_model_card=False,
                trust_remote_code=False,
                random_seed=seed,
                num_threads=cpu_cores(),
                quiet=False,
            )
            ctx.log.info("%s merge of %s", self.name, ", ".join(m.id for m in models))
            run_merge(MergeConfiguration.model_validate(raw), str(ctx.output_dir), options)
        with timed(ctx, "save_s"):
            copy_tokenizer(Path(models[0].path), ctx.output_dir)

    @classmethod
    def check_inputs(cls, inputs: dict[str, Any]) -> tuple[list[ModelRef], ModelRef | None]:
        """Two distinct models and, where the method takes one, a base that is neither of them."""
        models = inputs.get("models")
        if not isinstance(models, list) or len(models) != 2 or not all(isinstance(m, ModelRef) for m in models):
            raise LamdagentError(f"action {cls.name!r}: slot 'models' needs a list of two models")
        if _same(models[0], models[1]):
            raise LamdagentError(f"action {cls.name!r}: slot 'models' holds {models[0].id!r} twice; merge two models")
        base = inputs.get("base")
        if any(s.name == "base" for s in cls.slots):
            if not isinstance(base, ModelRef):
                raise LamdagentError(f"action {cls.name!r}: slot 'base' needs one model")
            for m in models:
                if _same(base, m):
                    raise LamdagentError(
                        f"action {cls.name!r}: the base {base.id!r} is also one of the merged models; choose a "
                        "common ancestor of both (e.g. the model they were fine-tuned from) as the base"
                    )
        return models, base if isinstance(base, ModelRef) else None


def _same(a: ModelRef, b: ModelRef) -> bool:
    return a.id == b.id or os.path.realpath(a.path) == os.path.realpath(b.path)


def copy_tokenizer(source: Path, out_dir: Path) -> None:
    """The first model's tokenizer, chat template, pad token and generation defaults."""
    from lamdagent.models.loading import load_tokenizer

    tokenizer = load_tokenizer(source)
    tokenizer.save_pretrained(out_dir)
    for name in TOKENIZER_EXTRAS:
        if (source / name).is_file():
            shutil.copyfile(source / name, out_dir / name)


def _task_vector_config(method: str, models: list[str], base: str | None, p: Any, density: bool) -> dict[str, Any]:
    weights = [p.weight_first, p.weight_second]
    per_model = [{"weight": w, **({"density": p.density} if density else {})} for w in weights]
    return {
        "merge_method": method,
        "base_model": base,
        "models": [{"model": m, "parameters": pm} for m, pm in zip(models, per_model, strict=True)],
        "parameters": {"normalize": p.normalize, "lambda": p.scaling},
    }


class Linear(MergeAction):
    name: ClassVar[str] = "linear"
    description: ClassVar[str] = "Weighted average of two models' weights (model soup)"
    slots: ClassVar[tuple[Slot, ...]] = (MODELS_SLOT,)
    Params: ClassVar[type[LinearParams]] = LinearParams

    @classmethod
    def mix_weights(cls, params: Mapping[str, Any]) -> tuple[float, ...]:
        return (float(params["weight"]), 1.0 - float(params["weight"]))

    def config(self, models: list[str], base: str | None, params: Any) -> dict[str, Any]:
        weights = [params.weight, 1.0 - params.weight]
        return {
            "merge_method": "linear",
            "models": [{"model": m, "parameters": {"weight": w}} for m, w in zip(models, weights, strict=True)],
            "parameters": {"normalize": True},
        }


class TaskArithmetic(MergeAction):
    name: ClassVar[str] = "task_arithmetic"
    description: ClassVar[str] = "Add both models' task vectors (difference to a common base) to the base"
    slots: ClassVar[tuple[Slot, ...]] = (MODELS_SLOT, BASE_SLOT)
    Params: ClassVar[type[TaskArithmeticParams]] = TaskArithmeticParams

    def config(self, models: list[str], base: str | None, params: Any) -> dict[str, Any]:
        return _task_vector_config("task_arithmetic", models, base, params, density=False)


class Ties(MergeAction):
    name: ClassVar[str] = "ties"
    description: ClassVar[str] = (
        "TIES merge: trim each task vector to its largest entries, elect a sign per weight, "
        "average only the agreeing entries, add to the base"
    )
    slots: ClassVar[tuple[Slot, ...]] = (MODELS_SLOT, BASE_SLOT)
    Params: ClassVar[type[TiesParams]] = TiesParams

    def config(self, models: list[str], base: str | None, params: Any) -> dict[str, Any]:
        return _task_vector_config("ties", models, base, params, density=True)


class DareTies(MergeAction):
    name: ClassVar[str] = "dare_ties"
    description: ClassVar[str] = (
        "DARE-TIES merge: randomly drop task-vector entries and rescale the rest, then TIES sign election"
    )
    slots: ClassVar[tuple[Slot, ...]] = (MODELS_SLOT, BASE_SLOT)
    Params: ClassVar[type[DareTiesParams]] = DareTiesParams

    def config(self, models: list[str], base: str | None, params: Any) -> dict[str, Any]:
        return _task_vector_config("dare_ties", models, base, params, density=True)


class Slerp(MergeAction):
    name: ClassVar[str] = "slerp"
    description: ClassVar[str] = "Spherical interpolation between two models' weights (the first is t = 0)"
    slots: ClassVar[tuple[Slot, ...]] = (MODELS_SLOT,)
    Params: ClassVar[type[SlerpParams]] = SlerpParams

    @classmethod
    def mix_weights(cls, params: Mapping[str, Any]) -> tuple[float, ...]:
        return (1.0 - float(params["t"]), float(params["t"]))  # t runs from the first model to the second

    def config(self, models: list[str], base: str | None, params: Any) -> dict[str, Any]:
        return {
            "merge_method": "slerp",
            "base_model": models[0],
            "models": [{"model": m} for m in models],
            "parameters": {"t": params.t},
        }


MERGES: tuple[type[MergeAction], ...] = (Linear, TaskArithmetic, Ties, DareTies, Slerp)
