"""The LLM policy over HTTP: a server that is down or answers garbage, and a real llama.cpp server.

Only loopback addresses are used; the real server is llama-cpp-python's OpenAI-compatible one on the
embedded GGUF, started as a subprocess and stopped after the module's tests.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from helpers import free_port
from policy_helpers import PREF, TRAIN, finished, make_pool, make_view

from lamdagent.llm import LLMError, make_client
from lamdagent.policies import make_policy
from lamdagent.policies.llm import LLMPolicy


def llm_policy(base_url: str, max_retries: int = 2, **llm: Any) -> LLMPolicy:
    cfg = {"backend": "openai", "model": "agent", "base_url": base_url, "timeout_s": 300, "retries": 0, **llm}
    return make_policy("llm", {"llm": cfg, "max_retries": max_retries}, 0)


class FakeServer:
    """A loopback HTTP server answering every POST with `self.reply(request_json) -> (status, type, body)`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reply: Any = lambda req: (200, "text/html", "<html>not json</html>")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(json.loads(body))
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                status, ctype, text = server.reply(server.requests[-1])
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def chat(content: str) -> str:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "agent",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
        }
    )


def test_a_server_that_is_down_gives_a_fallback_not_a_crash():
    port = free_port()  # nothing listens there: connection refused
    policy = llm_policy(f"http://127.0.0.1:{port}/v1", retries=1, timeout_s=2)
    view = make_view(make_pool())
    t0 = time.monotonic()
    [prop] = policy.propose(view)
    assert prop.fallback and "Connection error" in prop.rationale and prop.llm_tokens == 0
    assert prop.spec.spec_hash() not in view.seen_hashes and prop.spec.action in view.candidates.actions
    spec = view.candidates.build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    assert policy.update_memory(view, finished(view.pool, 1, spec, 0.3)) is None
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize(
    ("reply", "requests"),
    [
        ((200, "text/html", "<html>not json</html>"), 1),
        ((200, "application/json", "{not json"), 1),
        ((200, "application/json", '{"foo": 1}'), 1),
        ((500, "application/json", '{"error": {"message": "boom"}}'), 1),
        ((200, "application/json", chat("lorem ipsum")), 3),  # a chat answer that is no choice: asked again
    ],
    ids=["html", "broken-json", "wrong-json", "http-500", "nonsense-answer"],
)
def test_a_server_answering_garbage_gives_a_fallback(fake_server: FakeServer, reply: tuple, requests: int):
    fake_server.reply = lambda req: reply
    [prop] = llm_policy(fake_server.url, max_retries=2).propose(make_view(make_pool()))
    assert prop.fallback and prop.rationale.startswith("fallback")
    assert len(fake_server.requests) == requests
    assert prop.llm_tokens == (15 * requests if requests > 1 else 0)
    if requests > 1:
        retry = fake_server.requests[-1]["messages"]
        assert retry[-2] == {"role": "assistant", "content": "lorem ipsum"}
        assert "is not an available action type" in retry[-1]["content"]


def test_the_api_key_is_sent_but_never_shown(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAMDAGENT_TEST_KEY", "sk-very-secret-123")
    fake_server.reply = lambda req: (
        401,
        "application/json",
        json.dumps({"error": {"message": f"bad key {fake_server.headers[-1].get('authorization')}"}}),
    )
    client = make_client(
        {
            "backend": "openai",
            "model": "m",
            "base_url": fake_server.url,
            "api_key_env": "LAMDAGENT_TEST_KEY",
            "retries": 0,
        }
    )
    with pytest.raises(LLMError) as err:
        client.complete([{"role": "user", "content": "hi"}])
    assert fake_server.headers[-1]["authorization"] == "Bearer sk-very-secret-123"
    assert "sk-very-secret-123" not in str(err.value) and "AuthenticationError" in str(err.value)


def test_structured_output_sends_the_answer_schema(fake_server: FakeServer):
    answers = iter(
        [
            json.dumps({"action": PREF, "rationale": "align"}),
            json.dumps({"model": "base", "data": "prefs", "rationale": "only one"}),
        ]
    )
    fake_server.reply = lambda req: (200, "application/json", chat(next(answers)))
    [prop] = llm_policy(fake_server.url, structured_output="json_schema").propose(make_view(make_pool()))
    assert not prop.fallback and prop.spec.action == PREF and prop.llm_tokens == 30
    fmt = fake_server.requests[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["properties"]["action"]["enum"] == [PREF, TRAIN]
    assert fake_server.requests[0]["temperature"] == 0.0


def test_openai_choose_matches_the_answer_and_gives_up_after_one_correction(fake_server: FakeServer):
    options = ["London", "Paris", "Banana"]
    client = make_client({"backend": "openai", "model": "m", "base_url": fake_server.url, "retries": 0})
    fake_server.reply = lambda req: (200, "application/json", chat("Paris."))
    choice = client.choose([{"role": "user", "content": "Capital of France?"}], options)
    assert choice.index == 1 and choice.tokens == 15
    assert "- London\n- Paris\n- Banana" in fake_server.requests[-1]["messages"][-1]["content"]
    fake_server.reply = lambda req: (200, "application/json", chat("I don't know"))
    with pytest.raises(LLMError, match="names none of the 3 options"):
        client.choose([{"role": "user", "content": "Capital of France?"}], options)
    assert (
        len(fake_server.requests) == 3
        and "is not one of the options" in fake_server.requests[-1]["messages"][-1]["content"]
    )


# -- a real OpenAI-compatible server ----------------------------------------------------------------
@pytest.mark.slow
def test_two_step_selection_and_memory_over_a_real_server(llama_server: str):
    pool = make_pool()
    view = make_view(pool, memory="Nothing tried yet.")

    # with the server's JSON-schema grammar, even the 135M model answers validly
    # (the rationale comes first, so the answer needs room for a sentence before the choice)
    [prop] = llm_policy(llama_server, structured_output="json_object", max_tokens=256).propose(view)
    assert not prop.fallback and prop.llm_tokens > 0
    assert prop.spec.spec_hash() not in view.seen_hashes and prop.spec.action in (TRAIN, PREF)

    # a plain prompt: a valid answer or a fallback, never a crash; tokens come from the server's usage
    plain = llm_policy(llama_server, max_retries=0, max_tokens=48)
    [other] = plain.propose(view)
    assert other.llm_tokens > 0 and other.spec.action in view.candidates.actions

    trial = finished(pool, 1, prop.spec, 0.35)
    cfg = {"backend": "openai", "model": "agent", "base_url": llama_server, "timeout_s": 300, "retries": 0}
    memory = make_policy("llm", {"llm": cfg, "memory_max_chars": 200}, 0)
    update = memory.update_memory(make_view(pool, history=[trial], memory="Nothing tried yet."), trial)
    assert update is not None
    text, tokens = update
    assert text.strip() and len(text) <= 200 and tokens > 0

    client = make_client({**cfg, "max_tokens": 16})
    answer = client.complete([{"role": "user", "content": "What is the capital of France? One word."}])
    assert "paris" in answer.text.lower() and answer.prompt_tokens > 5 and answer.completion_tokens > 0
