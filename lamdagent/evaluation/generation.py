"""Batched greedy generation for evaluation: chat template, left padding, stop at end of turn.

Prompts are sorted by length and batched by padded tokens, so a batch wastes little padding; a row that has
finished leaves its batch (see `greedy_decode`); the answers come back in the input order. Padding is always
on the left whatever the tokenizer says: right-padded batch generation continues after pad tokens and gives
wrong text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

END_OF_TURN = "<|im_end|>"


@dataclass
class GenerationStats:
    """What one `generate` call cost: the bench and the evaluator report these."""

    prompts: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    def add(self, other: GenerationStats) -> None:
        self.prompts += other.prompts
        self.prompt_tokens += other.prompt_tokens
        self.new_tokens += other.new_tokens
        self.seconds += other.seconds


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-sequence ids of the tokenizer and the model, plus the chat end-of-turn token when it exists."""
    ids: list[int] = []
    candidates: list[Any] = [tokenizer.eos_token_id]
    config = getattr(model, "generation_config", None)
    if config is not None:
        candidates.append(config.eos_token_id)
    vocab = tokenizer.get_vocab()
    if END_OF_TURN in vocab:
        candidates.append(vocab[END_OF_TURN])
    for c in candidates:
        for i in c if isinstance(c, list | tuple) else [c]:
            if isinstance(i, int) and i not in ids:
                ids.append(i)
    return ids


def render_prompts(
    tokenizer: Any, conversations: list[list[dict[str, Any]]], tools: list[list[dict[str, Any]] | None] | None
) -> list[list[int]]:
    """Token ids of each conversation through the chat template, ready for the assistant's turn."""
    if tools is not None and len(tools) != len(conversations):
        raise ValueError(f"tools has {len(tools)} entries for {len(conversations)} conversations")
    out = []
    for i, conv in enumerate(conversations):
        kwargs: dict[str, Any] = {"add_generation_prompt": True, "tokenize": False}
        if tools is not None and tools[i]:
            kwargs["tools"] = tools[i]
        text = tokenizer.apply_chat_template(conv, **kwargs)
        # The template already writes the special tokens; adding them again would double the BOS.
        out.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    return out


def _progress(enabled: bool) -> Any:
    """A transient rich bar with the running generation rate; a no-op when disabled."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]}"),
        disable=not enabled,
        transient=True,
    )


# A batch holds up to `batch_size` prompts of this many tokens: short prompts share larger batches (measured on
# 2 cores: 48 instruction prompts of ~60 tokens took 29 s that way against 48 s in batches of 16), long ones keep to
# about `batch_size` (48 tool prompts of ~275 tokens took 68 s in one batch, 61-64 s in batches of 16 or so).
BATCH_PROMPT_TOKENS = 256
MAX_BATCH_FACTOR = 4  # at most this many times `batch_size` prompts in one batch


def token_batches(lengths: list[int], order: list[int], batch_size: int) -> list[list[int]]:
    """Split `order` (prompt indices, longest first; `lengths` aligned with it) into batches whose padded size
    stays within `batch_size * BATCH_PROMPT_TOKENS` tokens, with at least one and at most
    `batch_size * MAX_BATCH_FACTOR` prompts each."""
    budget = batch_size * BATCH_PROMPT_TOKENS
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for index, length in zip(order, lengths, strict=True):
        grown = max(width, length)
        if current and (grown * (len(current) + 1) > budget or len(current) >= batch_size * MAX_BATCH_FACTOR):
            batches.append(current)
            current, grown = [], length
        current.append(index)
        width = grown
    if current:
        batches.append(current)
    return batches


def greedy_decode(
    model: Any, prompts: list[list[int]], max_new_tokens: int, stops: set[int], pad_id: int, device: Any
) -> list[list[int]]:
    """Greedy continuations of a batch of token ids, each ending at its first stop token (kept) or at
    `max_new_tokens`.

    Unlike `model.generate`, a row that has finished leaves the batch and its cache rows are dropped, so the
    rest decode at the cost of the rows still running: in evaluation most answers end long before the
    longest one (a call line against a rambling refusal). Positions come from the left-padded mask, as
    `generate` computes them, so the tokens are the same as greedy `generate` gives.
    """
    import torch
    from transformers import DynamicCache

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    out = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True, logits_to_keep=1
    )
    token = out.logits[:, -1, :].argmax(-1)
    position = positions[:, -1]
    live = list(range(len(prompts)))  # batch row k decodes prompt live[k]
    results: list[list[int]] = [[] for _ in prompts]
    for step in range(max_new_tokens):
        values = token.tolist()
        keep = []
        for k, value in enumerate(values):
            results[live[k]].append(value)
            if value not in stops:
                keep.append(k)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(live):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, token, position = mask[index], token[index], position[index]
            live = [live[k] for k in keep]
        mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=1)
        position = position + 1
        out = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=position[:, None],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        token = out.logits[:, -1, :].argmax(-1)
    return results


def generate_with_stats(
    model: Any,
    tokenizer: Any,
    conversations: list[list[dict[str, Any]]],
    max_new_tokens: int,
    batch_size: int = 16,
    tools: list[list[dict[str, Any]] | None] | None = None,
    progress: bool = True,
    description: str = "generating",
) -> tuple[list[str], GenerationStats]:
    """Answers (new text only, special tokens removed, stripped) in input order, and what they cost."""
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    stats = GenerationStats(prompts=len(conversations))
    if not conversations:
        return [], stats
    prompts = render_prompts(tokenizer, conversations, tools)
    stats.prompt_tokens = sum(len(p) for p in prompts)
    stops = stop_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    device = next(model.parameters()).device
    # Longest first: similar lengths share a batch, and an out-of-memory error shows up at once.
    order = sorted(range(len(prompts)), key=lambda i: (-len(prompts[i]), i))
    answers: list[str] = [""] * len(prompts)
    start = time.perf_counter()
    with _progress(progress) as bar, torch.inference_mode():
        task = bar.add_task(description, total=len(prompts), rate="")
        for batch in token_batches([len(prompts[i]) for i in order], order, batch_size):
            outputs = greedy_decode(model, [prompts[i] for i in batch], max_new_tokens, set(stops), pad_id, device)
            for i, new in zip(batch, outputs, strict=True):
                # The stop token counts as generated; it is not part of the answer.
                stats.new_tokens += len(new)
                kept = new[:-1] if new and new[-1] in stops else new
                answers[i] = tokenizer.decode(kept, skip_special_tokens=True).strip()
            elapsed = time.perf_counter() - start
            bar.update(task, advance=len(batch), rate=f"{stats.new_tokens / max(elapsed, 1e-9):.0f} tok/s")
    stats.seconds = time.perf_counter() - start
    return answers, stats


def generate(
    model: Any,
    tokenizer: Any,
    conversations: list[list[dict[str, Any]]],
    max_new_tokens: int,
    batch_size: int = 16,
    tools: list[list[dict[str, Any]] | None] | None = None,
    progress: bool = True,
) -> list[str]:
    """Greedy answers to chat conversations, in input order (see `generate_with_stats` for the costs)."""
    answers, _ = generate_with_stats(
        model, tokenizer, conversations, max_new_tokens, batch_size=batch_size, tools=tools, progress=progress
    )
    return answers
