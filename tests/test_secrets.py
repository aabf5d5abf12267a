"""Credentials never leave through error text, worker environments or the agent's HTTP errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lamdagent.secrets import has_userinfo, looks_like_key, redact_text, redact_url, scrub_env

OPENAI_KEY = "sk-proj-Zx81Qw0Lp4Rt7Yu2Io9PaSdF"
HF_KEY = "hf_QwErTy12345UiOpAsDfGhJkL"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://alice:pa55w0rd@api.example.com/v1", "https://***@api.example.com/v1"),
        ("http://127.0.0.1:8000/v1?api_key=abc123&x=1", "http://127.0.0.1:8000/v1"),
        ("https://token@host.example:8443/v1/#frag", "https://***@host.example:8443/v1/"),
        ("http://[::1]:9000/v1", "http://[::1]:9000/v1"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
    ],
)
def test_redact_url_drops_userinfo_query_and_fragment(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_masks_every_kind_of_credential() -> None:
    text = (
        f"POST https://bob:hunter2@api.example.com/v1/chat?key=q5ecret failed: 401 Incorrect API key provided: "
        f"{OPENAI_KEY}. Authorization: Bearer abcdefgh12345678; hub said {HF_KEY}; api_key=plain42 password: pw1"
    )
    out = redact_text(text)
    for secret in ("hunter2", "q5ecret", OPENAI_KEY, "abcdefgh12345678", HF_KEY, "plain42", "pw1"):
        assert secret not in out, secret
    assert "https://***@api.example.com/v1/chat" in out and "401 Incorrect API key provided" in out


def test_redact_text_leaves_ordinary_text_alone() -> None:
    text = "sk-learn-compatible wrapper; max_tokens: 256; tokenizer loaded; hf_hub offline; see docs at http://x.org/a"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("value", "key_like"),
    [
        (OPENAI_KEY, True),
        (HF_KEY, True),
        ("Bearer abcdef123456", True),
        ("sk-no-key-required", False),  # the dummy key local servers get
        ("sk-learn-compatible-model-name", False),
        ("hf_tool_calls_v2", False),
        ("hf:glaiveai/glaive-function-calling-v2", False),
        ("smollm2-135m-instruct", False),
    ],
)
def test_looks_like_key(value: str, key_like: bool) -> None:
    assert looks_like_key(value) is key_like


def test_has_userinfo() -> None:
    assert has_userinfo("http://user:pass@host/v1") and has_userinfo("see https://tok@h.example/x")
    assert not has_userinfo("git@github.com:org/repo") and not has_userinfo("mail me@example.com")


def test_scrub_env_drops_the_agent_key_and_other_credentials_but_keeps_the_hub_token() -> None:
    env = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "MY_AGENT_KEY": "k1",  # the api_key_env the config names: no suffix, dropped by name
        "OPENAI_API_KEY": "k2",
        "WANDB_API_KEY": "k3",
        "GITHUB_TOKEN": "k4",
        "AWS_SECRET": "k5",
        "HF_TOKEN": "hub",
        "HUGGING_FACE_HUB_TOKEN": "hub-old",
        "CUDA_VISIBLE_DEVICES": "0",
        "LAMDAGENT_THREADS": "2",
    }
    out = scrub_env(env, ["MY_AGENT_KEY"])
    assert out == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "HF_TOKEN": "hub",
        "HUGGING_FACE_HUB_TOKEN": "hub-old",
        "CUDA_VISIBLE_DEVICES": "0",
        "LAMDAGENT_THREADS": "2",
    }
    assert env["MY_AGENT_KEY"] == "k1"  # a copy: the driver's own environment is untouched
    assert "HF_TOKEN" not in scrub_env(env, ["HF_TOKEN"])  # named as the agent's key: dropped after all


# -------------------------------------------------------------- the agent client's errors
class _Echo(BaseHTTPRequestHandler):
    """Answers 401 with a body that echoes what it received, as some gateways do."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(
            {
                "error": {
                    "message": f"Incorrect API key provided: {self.headers.get('Authorization')} for "
                    f"http://alice:s3cretpw@{self.headers.get('Host')}{self.path}",
                    "type": "invalid_request_error",
                }
            }
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_openai_client_errors_carry_no_credentials(echo_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from lamdagent.llm.base import LLMError
    from lamdagent.llm.openai_compat import OpenAIClient, OpenAIConfig

    monkeypatch.setenv("TEST_AGENT_KEY", OPENAI_KEY)
    config = OpenAIConfig(
        model="agent",
        base_url=f"http://alice:s3cretpw@{echo_server}/v1?api-version=1&sig=q5ecret",
        api_key_env="TEST_AGENT_KEY",
        retries=0,
        timeout_s=30,
    )
    client = OpenAIClient(config)
    try:
        with pytest.raises(LLMError) as info:
            client.complete([{"role": "user", "content": "hi"}])
    finally:
        client.close()
    message = str(info.value)
    assert echo_server in message  # still says which server failed
    for secret in (OPENAI_KEY, "s3cretpw", "q5ecret", "alice"):
        assert secret not in message, secret
