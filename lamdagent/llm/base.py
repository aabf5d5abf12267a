"""The agent-LLM contract: free completion, and a choice among fixed options.

`choose` exists because a small local model rarely writes valid JSON, but can always *rank* a handful of
options; backends that can constrain their answer (local transformers, llama.cpp) say so with
`constrained_choice`, and the LLM policy then asks them slot by slot instead of for one JSON answer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from lamdagent.registry import Registry

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class LLMError(Exception):
    """The LLM could not answer (server down, timeout, malformed response); the policy falls back."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Choice:
    """The index of the chosen option and the tokens the call cost (prompt + answer); `scores`, where the
    backend has them, are each option's score (higher is likelier), kept to explain the choice."""

    index: int
    tokens: int
    scores: list[float] | None = None


class ClientConfig(BaseModel):
    """Settings every backend takes; unknown keys are errors, so typos surface at start-up.

    `temperature` and `max_tokens` are the defaults of each call; `timeout_s` bounds one HTTP request and
    is ignored by the in-process backends (the run config's `llm` section carries it for all of them).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str
    temperature: float = Field(default=0.0, ge=0, description="Sampling temperature; 0 is greedy")
    max_tokens: int = Field(default=256, gt=0, description="Answer budget of one call, in tokens")
    timeout_s: float = Field(default=120.0, gt=0, description="Seconds per request (HTTP backends)")


class LLMClient(ABC):
    """An agent LLM. Implementations count tokens per call and raise `LLMError` when they cannot answer."""

    name: ClassVar[str]
    constrained_choice: ClassVar[bool] = False  # True: `choose` always returns a valid index by construction
    Options: ClassVar[type[ClientConfig]]

    config: ClientConfig

    @abstractmethod
    def complete(
        self,
        messages: list[Message],
        max_tokens: int | None = None,
        temperature: float | None = None,
        schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion:
        """The assistant's answer to a chat; None takes the configured value; temperature 0 is greedy.

        `schema` is the JSON schema the answer should follow: backends that can enforce it do, the others
        ignore it (answers are validated by the caller either way). `seed`, where given, replaces the configured
        sampling seed for this call (sampled judgments of one prompt need different seeds).
        """

    @abstractmethod
    def choose(self, messages: list[Message], options: list[str]) -> Choice:
        """Which of `options` the assistant would answer to the chat."""

    def close(self) -> None:
        """Release the model or the connection; the default holds nothing."""
        return None


LLM_BACKENDS: Registry[type[LLMClient]] = Registry("llm backend")


def make_client(cfg: Mapping[str, Any] | None = None) -> LLMClient:
    """Build the client named by `cfg["backend"]` (default "local", the embedded model in-process).

    Keys set to None count as unset, so one config schema can carry every backend's keys.
    """
    config = parse_client_config(cfg or {})
    return LLM_BACKENDS.get(config.backend)(config)  # type: ignore[call-arg]


def parse_client_config(cfg: Mapping[str, Any], where: str = "llm") -> ClientConfig:
    """Check an `llm` section against its backend's options; the error names `llm.<field>`."""
    cfg = {k: v for k, v in cfg.items() if v is not None}
    cfg.setdefault("backend", "local")
    return LLM_BACKENDS.options(str(cfg["backend"]), cfg, where)  # type: ignore[return-value]


def approx_tokens(text: str) -> int:
    """A rough count (4 characters a token) for servers that report no usage."""
    return (len(text) + 3) // 4
