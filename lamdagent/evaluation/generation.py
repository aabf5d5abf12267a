"""Batched greedy generation for evaluation: chat template, left padding, stop at end of turn.

Prompts are sorted by length so a batch wastes little padding, and the answers come back in the input
order. Padding is always on the left whatever the tokenizer says: right-padded batch generation silently
continues after pad tokens and gives wrong text (STACK.md, trap 3).
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
    from transformers import GenerationConfig

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    stats = GenerationStats(prompts=len(conversations))
    if not conversations:
        return [], stats
    prompts = render_prompts(tokenizer, conversations, tools)
    stats.prompt_tokens = sum(len(p) for p in prompts)
    stops = stop_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    # Greedy, with the sampling knobs at their neutral values so a model's own sampling defaults
    # (temperature, top_p) neither leak in nor trigger "flag ignored" warnings.
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        temperature=1.0,
        top_p=1.0,
        top_k=50,
        eos_token_id=stops,
        pad_token_id=pad_id,
    )
    device = next(model.parameters()).device
    # Longest first: similar lengths share a batch, and an out-of-memory error shows up at once.
    order = sorted(range(len(prompts)), key=lambda i: (-len(prompts[i]), i))
    answers: list[str] = [""] * len(prompts)
    start = time.perf_counter()
    with _progress(progress) as bar, torch.inference_mode():
        task = bar.add_task(description, total=len(prompts), rate="")
        for lo in range(0, len(order), batch_size):
            batch = order[lo : lo + batch_size]
            width = max(len(prompts[i]) for i in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                n = len(prompts[i])
                ids[row, width - n :] = torch.tensor(prompts[i], dtype=torch.long)
                mask[row, width - n :] = 1
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config)
            for row, i in enumerate(batch):
                new = out[row, width:].tolist()
                cut = next((k for k, t in enumerate(new) if t in stops), None)
                # The stop token counts as generated; the padding after it does not.
                stats.new_tokens += len(new) if cut is None else cut + 1
                kept = new if cut is None else new[:cut]
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
