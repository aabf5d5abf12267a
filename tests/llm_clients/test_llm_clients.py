"""Agent LLM clients: config errors, option matching, and the in-process backends on real weights."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from lamdagent.errors import LamdagentError
from lamdagent.llm import make_client
from lamdagent.llm.llamacpp import options_grammar
from lamdagent.llm.local import LocalClient, LocalConfig
from lamdagent.llm.openai_compat import match_option

QUESTION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France? Answer with one word."},
]
CITIES = ["London", "Paris", "Banana"]


def test_make_client_errors_name_the_field():
    with pytest.raises(LamdagentError, match="unknown llm backend 'gpt'; known: llamacpp, local, openai"):
        make_client({"backend": "gpt"})
    with pytest.raises(LamdagentError, match=r"llm.model: Field required"):
        make_client({"backend": "openai", "base_url": "http://127.0.0.1:9/v1"})
    with pytest.raises(LamdagentError, match=r"llm.device_map: Extra inputs.*accepted: .*device"):
        make_client({"backend": "local", "device_map": "auto"})
    with pytest.raises(LamdagentError, match="llm.temperature"):
        make_client({"backend": "openai", "model": "m", "temperature": -1})


def test_openai_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LAMDAGENT_TEST_KEY", raising=False)
    with pytest.raises(LamdagentError, match="llm.api_key_env: environment variable 'LAMDAGENT_TEST_KEY' is not set"):
        make_client({"backend": "openai", "model": "gpt-4o", "api_key_env": "LAMDAGENT_TEST_KEY"})
    # a local server needs no key; None values (unset keys of the shared config) are dropped
    client = make_client({"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": None})
    assert client.config.api_key_env == "OPENAI_API_KEY"
    monkeypatch.setenv("LAMDAGENT_TEST_KEY", "sk-test-secret")
    client = make_client({"backend": "openai", "model": "m", "api_key_env": "LAMDAGENT_TEST_KEY"})
    assert "sk-test-secret" not in repr(client.config) and "sk-test-secret" not in json.dumps(
        client.config.model_dump()
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("ties", 0),
        ('"TIES".', 0),
        ("I choose dare_ties because it is robust.", 1),
        ("ties or dare_ties", None),
        ("nothing here", None),
        ("0.0001", 2),
    ],
)
def test_match_option(answer: str, expected: int | None):
    assert match_option(answer, ["ties", "dare_ties", "0.0001"]) == expected


def test_options_grammar_quotes_every_option():
    grammar = options_grammar(['a "quoted" id', "back\\slash", "m1"])
    assert grammar == 'root ::= "a \\"quoted\\" id" | "back\\\\slash" | "m1"'
    if importlib.util.find_spec("llama_cpp") is not None:
        from llama_cpp import LlamaGrammar

        LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp parses it


@pytest.fixture(scope="module")
def tiny_client(tiny_model_dir: Path) -> LocalClient:
    return make_client({"backend": "local", "model": str(tiny_model_dir), "device": "cpu", "max_tokens": 6})


def test_local_option_scores_match_an_unpadded_forward_pass(tiny_client: LocalClient):
    """Left padding, positions and the kept logits must not change a score: check against plain passes."""
    import torch

    options = ["a", "a much longer option with many tokens", "m3fa2b1c"]
    batched = tiny_client.option_logprobs(QUESTION, options)
    one_by_one = LocalClient(LocalConfig(backend="local", model=tiny_client.config.model, device="cpu", batch_size=1))
    assert batched == pytest.approx(one_by_one.option_logprobs(QUESTION, options), abs=1e-4)
    tok, model = tiny_client.tokenizer, tiny_client.model
    prompt = tok.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    for option, score in zip(options, batched, strict=True):
        answer = tok(option + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids = tok(prompt, add_special_tokens=False)["input_ids"] + answer
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
        expected = sum(float(logp[len(ids) - len(answer) - 1 + j, t]) for j, t in enumerate(answer))
        assert score == pytest.approx(expected, abs=1e-4)
    # choices rank options by mean log-probability per token (the answer's end-of-turn marker counted), so a
    # long option is not beaten for its length alone; `sum` ranks by the total
    lengths = [len(tok(o + "<|im_end|>", add_special_tokens=False)["input_ids"]) for o in options]
    mean = [s / n for s, n in zip(batched, lengths, strict=True)]
    choice = tiny_client.choose(QUESTION, options)
    assert choice.scores == pytest.approx(mean, abs=1e-3) and choice.tokens > 0
    assert choice.index == max(range(3), key=lambda i: mean[i])
    summed = LocalClient(
        LocalConfig(backend="local", model=tiny_client.config.model, device="cpu", choice_scoring="sum")
    )
    by_sum = summed.choose(QUESTION, options)
    assert by_sum.scores == pytest.approx(batched, abs=1e-3) and by_sum.index == max(range(3), key=lambda i: batched[i])


def test_local_complete_counts_tokens_and_is_greedy_at_temperature_zero(tiny_client: LocalClient):
    first = tiny_client.complete(QUESTION)
    prompt = tiny_client.tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    assert first.prompt_tokens == len(tiny_client.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert 1 <= first.completion_tokens <= 6 and first.tokens == first.prompt_tokens + first.completion_tokens
    assert tiny_client.complete(QUESTION) == first
    sampled = {tiny_client.complete(QUESTION, max_tokens=6, temperature=1.5).text for _ in range(3)}
    assert len(sampled) > 1  # a random model sampled hot does not repeat itself
    # a given seed fixes the draw: the same seed, the same sample (sampled judgments rely on it)
    seeded = [tiny_client.complete(QUESTION, max_tokens=6, temperature=1.5, seed=s).text for s in (7, 7, 8, 9)]
    assert seeded[0] == seeded[1] and len(set(seeded)) > 1


@pytest.mark.slow
def test_local_embedded_model_chooses_and_answers(embedded_dir: Path):
    client = make_client({"backend": "local", "device": "cpu", "max_tokens": 16})
    assert CITIES[client.choose(QUESTION, CITIES).index] == "Paris"
    answer = client.complete(QUESTION)
    assert "paris" in answer.text.lower() and answer.completion_tokens <= 16


@pytest.mark.slow
def test_llamacpp_embedded_gguf_chooses_and_answers():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'lamdagent[llamacpp]')")
    client = make_client({"backend": "llamacpp", "n_ctx": 2048, "max_tokens": 16})
    choice = client.choose(QUESTION, CITIES)
    assert CITIES[choice.index] == "Paris" and choice.tokens > 0
    answer = client.complete(QUESTION)
    assert "paris" in answer.text.lower() and answer.prompt_tokens > 10 and 0 < answer.completion_tokens <= 16
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": CITIES}},
        "required": ["city"],
        "additionalProperties": False,
    }
    assert json.loads(client.complete(QUESTION, max_tokens=32, schema=schema).text)["city"] in CITIES
    client.close()
