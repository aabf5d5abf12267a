"""Resolve a model name to a local Hugging Face directory, and load it with the safe defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.models.embedded import EMBEDDED_NAME, embedded_model_dir

HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "tokenizer*"]


def resolve_model(name: str) -> Path:
    """The embedded name, a local HF directory, or a hub id (downloaded where a hub is reachable)."""
    if name == EMBEDDED_NAME:
        return embedded_model_dir()
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise LamdagentError(
                f"model {name!r}: {path} is not a Hugging Face model directory (no config.json); "
                f"give a local model directory, a hub id, or {EMBEDDED_NAME!r}"
            )
        check_safetensors(path)
        return path
    if name.count("/") != 1:
        raise LamdagentError(
            f"model {name!r} is neither a local directory nor a hub id like 'org/name'; "
            f"use {EMBEDDED_NAME!r} for the embedded default"
        )
    try:
        from huggingface_hub import snapshot_download

        local = Path(snapshot_download(repo_id=name, allow_patterns=HUB_PATTERNS))
    except Exception as exc:  # noqa: BLE001 - any hub failure becomes one clear line
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise LamdagentError(
            f"model {name!r} could not be fetched from the hub ({reason}); "
            "check the network or give a local model directory"
        ) from None
    check_safetensors(local)
    return local


def check_safetensors(path: Path) -> None:
    """Only safetensors weights are loaded: pickled `.bin` checkpoints can run arbitrary code."""
    if not any(path.glob("*.safetensors")):
        raise LamdagentError(
            f"{path} has no .safetensors weights; lamdagent loads safetensors only "
            "(convert the checkpoint with `save_pretrained(..., safe_serialization=True)`)"
        )


def load_causal_lm(path: str | Path, dtype: Any = None, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """Load weights with safetensors only and remote code off unless the user asked for it."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code, **kwargs
    )


def load_tokenizer(path: str | Path, padding_side: str = "right", trust_remote_code: bool = False) -> Any:
    """Tokenizer with a pad token and a finite max length (some checkpoints report 1e30)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    tok.padding_side = padding_side
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not tok.model_max_length or tok.model_max_length > 1_000_000:
        tok.model_max_length = 8192
    return tok


def weights_fingerprint(path: Path) -> str:
    """Cheap identity of a model directory: config plus size and head of every weight file.

    It pins an initial model's content in every spec built on it, so swapping the weights behind a name
    changes the spec hashes instead of silently reusing models trained from the old ones.
    """
    import hashlib

    h = hashlib.sha256((path / "config.json").read_bytes())
    for f in sorted(path.glob("*.safetensors")):
        h.update(f.name.encode())
        hash_size_and_head(h, f)
    return h.hexdigest()[:16]


def hash_size_and_head(h: Any, path: Path) -> None:
    """Feed a weight file's size and first 4 MiB to `h`: enough to tell weights apart without reading them all."""
    h.update(str(path.stat().st_size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 22))
