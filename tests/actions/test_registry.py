"""The registered action types: names, documented parameters, a light import, and the hardware choices."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lamdagent.actions import ACTIONS
from lamdagent.hardware import precision

NAMES = ["dare_ties", "dpo", "linear", "sft", "slerp", "task_arithmetic", "ties"]


def test_every_action_type_is_registered() -> None:
    assert set(NAMES) <= set(ACTIONS.names())  # other tests may register fakes beside them


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_has_a_description_a_default_and_bounds(name: str) -> None:
    action_type = ACTIONS.get(name)
    described = action_type.describe()
    assert described["relation"] == ("merge" if name not in ("sft", "dpo") else "finetune")
    assert described["params"], "every action has parameters to tune"
    for pname, spec in described["params"].items():
        assert spec.get("description"), f"{name}.{pname} has no description"
        assert "default" in spec, f"{name}.{pname} has no default"
        if spec.get("type") in ("number", "integer"):
            assert {"minimum", "exclusiveMinimum"} & set(spec), f"{name}.{pname} has no lower bound"
            assert {"maximum", "exclusiveMaximum"} & set(spec), f"{name}.{pname} has no upper bound"
    action_type.parse_params({})  # the defaults are valid


def test_importing_the_actions_loads_no_heavy_library() -> None:
    code = (
        "import sys, lamdagent.actions; "
        "print(sorted(m for m in ('torch', 'trl', 'mergekit', 'transformers', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cpu_trains_in_fp32_and_gpu_in_bf16() -> None:
    import torch

    cpu = precision("cpu")
    assert cpu.trainer_kwargs() == {"use_cpu": True, "bf16": False, "fp16": False, "activation_checkpointing": False}
    assert cpu.dtype == torch.float32
    gpu = precision("cuda")
    assert gpu.bf16 and not gpu.use_cpu and gpu.dtype == torch.bfloat16
