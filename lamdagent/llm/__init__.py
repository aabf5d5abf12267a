"""Clients for the agent LLM; `make_client(cfg)` builds one from the run config's `llm` section."""

from lamdagent.llm import llamacpp, local, openai_compat  # noqa: F401 - each module registers its backend
from lamdagent.llm.base import LLM_BACKENDS, Choice, Completion, LLMClient, LLMError, Message, make_client

__all__ = ["LLM_BACKENDS", "Choice", "Completion", "LLMClient", "LLMError", "Message", "make_client"]
