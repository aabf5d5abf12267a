"""Shared fixtures: the converted embedded model and a tiny random Llama built from it in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port

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


# -- a real OpenAI-compatible server: llama.cpp's, serving the embedded model on loopback ----------------------
@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip(
        "llama_cpp.server.app", reason="needs llama-cpp-python with its server: pip install 'lamdagent[llamacpp]'"
    )
    from lamdagent.models.embedded import gguf_path

    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            # one thread: on a busy 2-core runner llama.cpp's spinning threads slow each other down 3-5x
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf_path()),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "4096",
                "--n_threads",
                "1",
                "--verbose",
                "False",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp server did not start in 120 s: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
