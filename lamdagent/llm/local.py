"""A model run in-process with transformers (default: the embedded SmolLM2-135M-Instruct).

`choose` scores every option as the assistant's whole answer (the option text and the end-of-turn token)
by its log-likelihood: the prompt runs once, then all options in one batch on its cache, so even a 135M
model always returns a valid choice, at little more than the cost of reading the prompt.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal

from pydantic import Field

from lamdagent.llm.base import LLM_BACKENDS, Choice, ClientConfig, Completion, LLMClient, LLMError, Message
from lamdagent.models.embedded import EMBEDDED_NAME


class LocalConfig(ClientConfig):
    backend: Literal["local"] = "local"
    model: str = Field(default=EMBEDDED_NAME, description="Embedded name, local HF directory or hub id")
    device: str | None = Field(default=None, description="cpu, cuda, ...; None picks the GPU when there is one")
    max_length: int = Field(default=8192, gt=0, description="Prompts longer than this keep their end")
    batch_size: int = Field(default=16, gt=0, description="Options scored per forward pass")
    seed: int = Field(default=0, description="Seed for sampled completions (temperature > 0)")
    choice_scoring: Literal["mean", "sum"] = Field(
        default="mean",
        description="How options are ranked: mean log-probability per token (a long option is not penalised "
        "for its length) or the summed log-probability",
    )


@LLM_BACKENDS.decorator("local")
class LocalClient(LLMClient):
    name: ClassVar[str] = "local"
    constrained_choice: ClassVar[bool] = True
    Options: ClassVar[type[ClientConfig]] = LocalConfig
    config: LocalConfig

    def __init__(self, config: LocalConfig) -> None:
        import torch

        from lamdagent.hardware import pick_device, set_threads
        from lamdagent.models.loading import load_causal_lm, load_tokenizer, resolve_model

        self.config = config
        self.device = config.device or pick_device()
        if self.device == "cpu":
            set_threads()
        path = resolve_model(config.model)
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tokenizer = load_tokenizer(path, padding_side="left")
        self.model = load_causal_lm(path, dtype=dtype).to(self.device).eval()
        self._calls = 0

    # -- prompts ------------------------------------------------------------------------------------
    def _prompt_text(self, messages: list[Message]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _answer_text(self, messages: list[Message], prompt: str, option: str) -> str:
        """The option as the template writes a whole assistant turn (text plus end-of-turn marker)."""
        full = self.tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": option}], tokenize=False)
        if full.startswith(prompt):
            return full[len(prompt) :].rstrip("\n")
        return option + (self.tokenizer.eos_token or "")

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- calls --------------------------------------------------------------------------------------
    def complete(
        self,
        messages: list[Message],
        max_tokens: int | None = None,
        temperature: float | None = None,
        schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Greedy or sampled generation; `schema` is not enforced here (the policy uses `choose` instead)."""
        import torch
        from transformers import GenerationConfig

        max_tokens = max_tokens or self.config.max_tokens
        temperature = self.config.temperature if temperature is None else temperature

        ids = self._encode(self._prompt_text(messages))[-self.config.max_length :]
        input_ids = torch.tensor([ids], device=self.device)
        sample = temperature > 0
        gen = GenerationConfig(
            max_new_tokens=max_tokens,
            do_sample=sample,
            temperature=temperature if sample else None,
            top_p=None,
            top_k=None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        if sample:
            torch.manual_seed(seed if seed is not None else self.config.seed + self._calls)
        self._calls += 1
        with torch.no_grad():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), generation_config=gen
            )
        new = out[0, len(ids) :].tolist()
        if new and new[-1] == self.tokenizer.eos_token_id:
            new = new[:-1]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return Completion(text, len(ids), len(out[0]) - len(ids))

    def choose(self, messages: list[Message], options: list[str]) -> Choice:
        sums, tokens, lengths = self._logprobs(messages, options)
        scores = sums
        if self.config.choice_scoring == "mean":
            scores = [s / max(1, n) for s, n in zip(sums, lengths, strict=True)]
        best = max(range(len(options)), key=lambda i: scores[i])
        return Choice(best, tokens, [round(x, 4) for x in scores])

    def option_logprobs(self, messages: list[Message], options: list[str]) -> list[float]:
        """Log-probability of each option as the assistant's whole answer to the chat."""
        return self._logprobs(messages, options)[0]

    def _logprobs(self, messages: list[Message], options: list[str]) -> tuple[list[float], int, list[int]]:
        """Each option's summed log-probability, the tokens scored, and each option's length in tokens.

        The prompt runs once; its cache is repeated over a batch of right-padded answers."""
        import torch

        if not options:
            raise LLMError("choose() needs at least one option")
        prompt = self._prompt_text(messages)
        prompt_ids = self._encode(prompt)
        answers = [self._encode(self._answer_text(messages, prompt, o)) for o in options]
        keep = self.config.max_length - max(len(a) for a in answers)
        if keep < 1:
            raise LLMError(f"an option is longer than max_length={self.config.max_length} tokens")
        prompt_ids = prompt_ids[-keep:]
        with torch.no_grad():
            out = self.model(input_ids=torch.tensor([prompt_ids], device=self.device), use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # predicts every answer's first token
        scores: list[float] = []
        bs = self.config.batch_size
        for start in range(0, len(answers), bs):
            scores += self._score(out.cache, len(prompt_ids), first, answers[start : start + bs])
        return scores, len(prompt_ids) + sum(len(a) for a in answers), [len(a) for a in answers]

    def _score(self, cache: Any, n_prompt: int, first: Any, answers: list[list[int]]) -> list[float]:
        """Summed log-probability of each answer after the cached prompt, in one forward pass."""
        import torch

        width = max(len(a) for a in answers)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([a + [pad] * (width - len(a)) for a in answers], device=self.device)
        mask = torch.tensor([[1] * (n_prompt + len(a)) + [0] * (width - len(a)) for a in answers], device=self.device)
        positions = torch.arange(n_prompt, n_prompt + width, device=self.device).expand(len(answers), -1)
        past = copy.deepcopy(cache)
        past.batch_repeat_interleave(len(answers))
        with torch.no_grad():
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=past).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        out: list[float] = []
        for row, answer in enumerate(answers):
            total = float(first[answer[0]])
            if len(answer) > 1:  # token j > 0 is predicted at answer position j - 1
                idx = torch.tensor(answer[1:], device=self.device)
                total += float(logprobs[row, : len(answer) - 1].gather(-1, idx[:, None]).sum())
            out.append(total)
        return out

    def close(self) -> None:
        self.model = None
