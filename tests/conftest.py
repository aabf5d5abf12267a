"""Shared fixtures: the converted embedded model and a tiny random Llama built from it in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(os.environ.get("LAMDAGENT_BENCHMARKS", REPO.parent / "shared" / "benchmarks"))


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    """SmolLM2-135M-Instruct as a safetensors HF directory (converted once into the cache)."""
    from lamdagent.models.embedded import embedded_model_dir

    return embedded_model_dir()


@pytest.fixture(scope="session")
def tiny_model_dir(embedded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with the embedded tokenizer and chat template: trains and merges in seconds."""
    from lamdagent.models.tiny import make_tiny_llama

    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), embedded_dir)


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """The public benchmark files shipped beside the repository (never copied into it)."""
    if not BENCHMARKS.is_dir():
        pytest.skip(f"benchmark data not found at {BENCHMARKS}; set LAMDAGENT_BENCHMARKS")
    return BENCHMARKS
