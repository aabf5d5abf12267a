"""Any OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp's server) through the `openai` SDK.

The key is read from the environment variable *named* in the config and never stored in the config,
the ledger or a log; error messages are scrubbed of it. A local server that needs no key gets a dummy.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from pydantic import Field

from lamdagent.errors import LamdagentError
from lamdagent.llm.base import (
    LLM_BACKENDS,
    Choice,
    ClientConfig,
    Completion,
    LLMClient,
    LLMError,
    Message,
    approx_tokens,
)
from lamdagent.secrets import redact_text, redact_url

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

DUMMY_KEY = "sk-no-key-required"
CHOOSE_INSTRUCTION = "Answer with exactly one of these options, copied verbatim, and nothing else:\n{options}"
CHOOSE_RETRY = "{answer!r} is not one of the options. Answer with one of them exactly:\n{options}"


class OpenAIConfig(ClientConfig):
    backend: Literal["openai"] = "openai"
    model: str = Field(description="Model name as the server knows it")
    base_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8000/v1; None: api.openai.com")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="NAME of the env var holding the key")
    retries: int = Field(default=2, ge=0, description="Retries on connection errors, timeouts, 429 and 5xx")
    seed: int | None = Field(default=None, description="Sampling seed, for servers that honour it")
    extra_body: dict[str, Any] | None = Field(default=None, description="Extra request fields (e.g. vLLM's)")
    structured_output: Literal["none", "json_schema", "json_object"] = Field(
        default="none",
        description="How to send the answer's JSON schema: json_schema (OpenAI, vLLM), json_object with a "
        "schema (llama.cpp's server), or none (plain prompt; answers are validated and re-asked)",
    )


def match_option(answer: str, options: list[str]) -> int | None:
    """The option an answer names: exact, then case-insensitive, then the one option it mentions."""
    text = answer.strip().strip("`'\"").strip().rstrip(".").strip()
    for norm in (lambda s: s, str.casefold):
        exact = [i for i, o in enumerate(options) if norm(o.strip()) == norm(text)]
        if len(exact) == 1:
            return exact[0]
    lowered = answer.casefold()
    # whole words only, so "ties" is not found inside "dare_ties"
    found = [
        i
        for i, o in enumerate(options)
        if o.strip() and re.search(rf"(?<![\w.-]){re.escape(o.strip().casefold())}(?![\w-])", lowered)
    ]
    return found[0] if len(found) == 1 else None


@LLM_BACKENDS.decorator("openai")
class OpenAIClient(LLMClient):
    name: ClassVar[str] = "openai"
    constrained_choice: ClassVar[bool] = False
    Options: ClassVar[type[ClientConfig]] = OpenAIConfig
    config: OpenAIConfig

    def __init__(self, config: OpenAIConfig) -> None:
        from openai import OpenAI

        self.config = config
        key = os.environ.get(config.api_key_env)
        if not key:
            if config.base_url is None or "api.openai.com" in config.base_url:
                raise LamdagentError(
                    f"llm.api_key_env: environment variable {config.api_key_env!r} is not set; export the key "
                    "there, or set llm.base_url to a local OpenAI-compatible server"
                )
            key = DUMMY_KEY
        self._secret = key if key != DUMMY_KEY else None
        self._client = OpenAI(
            api_key=key, base_url=config.base_url, timeout=config.timeout_s, max_retries=config.retries
        )

    def _scrub(self, text: str) -> str:
        """Error text without the key, URL credentials, query strings or key-shaped tokens: errors reach the
        ledger and the report, which are shared."""
        text = text.replace(self._secret, "***") if self._secret else text
        return redact_text(text)

    def complete(
        self,
        messages: list[Message],
        max_tokens: int | None = None,
        temperature: float | None = None,
        schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion:
        import openai

        kwargs: dict[str, Any] = {}
        if schema is not None and self.config.structured_output == "json_schema":
            spec = {"name": "answer", "schema": schema, "strict": True}
            kwargs["response_format"] = {"type": "json_schema", "json_schema": spec}
        elif schema is not None and self.config.structured_output == "json_object":
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        if seed is not None or self.config.seed is not None:
            kwargs["seed"] = seed if seed is not None else self.config.seed
        if self.config.extra_body:
            kwargs["extra_body"] = self.config.extra_body
        where = redact_url(self.config.base_url) if self.config.base_url else "api.openai.com"
        try:
            resp = self._client.chat.completions.create(
                model=self.config.model,
                # role/content dicts, which the SDK describes with one TypedDict per role
                messages=cast("list[ChatCompletionMessageParam]", messages),
                max_tokens=max_tokens or self.config.max_tokens,
                temperature=self.config.temperature if temperature is None else temperature,
                **kwargs,
            )
        except (openai.APIError, ValueError) as exc:  # ValueError: a body that is not JSON
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            raise LLMError(self._scrub(f"{where}: {type(exc).__name__}: {first}")) from None
        try:
            text = resp.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError, KeyError):
            raise LLMError(
                self._scrub(f"{where}: the response is not a chat completion: {str(resp)[:200]!r}")
            ) from None
        if not isinstance(text, str):
            raise LLMError(self._scrub(f"{where}: the response's message content is not text: {text!r:.200}"))
        usage = getattr(resp, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        if not isinstance(prompt_tokens, int) or not isinstance(completion_tokens, int):
            prompt_tokens = approx_tokens("".join(m["content"] for m in messages))
            completion_tokens = approx_tokens(text)
        return Completion(text, prompt_tokens, completion_tokens)

    def choose(self, messages: list[Message], options: list[str]) -> Choice:
        """Ask for the option text and match it; one corrective retry, then `LLMError`."""
        listing = "\n".join(f"- {o}" for o in options)
        convo = [*messages, {"role": "user", "content": CHOOSE_INSTRUCTION.format(options=listing)}]
        tokens = 0
        for _ in range(2):
            answer = self.complete(convo, max_tokens=64, temperature=0.0)
            tokens += answer.tokens
            index = match_option(answer.text, options)
            if index is not None:
                return Choice(index, tokens)
            retry = CHOOSE_RETRY.format(answer=answer.text.strip()[:100], options=listing)
            convo += [{"role": "assistant", "content": answer.text}, {"role": "user", "content": retry}]
        raise LLMError(f"the answer {answer.text.strip()[:100]!r} names none of the {len(options)} options")

    def close(self) -> None:
        self._client.close()
