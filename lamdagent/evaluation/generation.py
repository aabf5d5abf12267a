"""Batched greedy generation for evaluation: chat template, left padding, stop at end of turn.

Prompts are sorted by length and prefilled in batches of similar length, so a batch wastes little padding;
neighbouring batches then decode as one (`decode_groups`), and a row that has finished leaves it (see
`greedy_decode`); the answers come back in the input order. Padding is always
on the left whatever the tokenizer says: right-padded batch generation continues after pad tokens and gives
wrong text.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
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
# Prefill batches decode together while their cache stays within this many times a prefill batch's tokens.
# Measured on 2 cores, 48 tool prompts of ~275 tokens, up to 120 new tokens, the same answers each way:
# 81 s decoding the four prefill batches one by one, 72 s as one decode batch, 53 s as one batch in growing
# cache layers (`_growing_cache`). Peak memory rose from 1.5 to 3.1 GB (the cache of 48 rows at once).
DECODE_FACTOR = 8


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


def decode_groups(
    batches: list[list[int]], lengths: dict[int, int], max_new_tokens: int, batch_size: int
) -> list[list[list[int]]]:
    """Consecutive prefill batches (longest first) that decode together, while the group's cache, every row
    padded to the group's widest prompt plus `max_new_tokens`, stays within
    `batch_size * BATCH_PROMPT_TOKENS * DECODE_FACTOR` tokens. A group holds at least one batch."""
    budget = batch_size * BATCH_PROMPT_TOKENS * DECODE_FACTOR
    groups: list[list[list[int]]] = []
    current: list[list[int]] = []
    width = rows = 0
    for batch in batches:
        grown = max([width] + [lengths[i] for i in batch])
        if current and (grown + max_new_tokens) * (rows + len(batch)) > budget:
            groups.append(current)
            current, rows, grown = [], 0, max(lengths[i] for i in batch)
        current.append(batch)
        rows += len(batch)
        width = grown
    if current:
        groups.append(current)
    return groups


def _prefill(model: Any, prompts: list[list[int]], pad_id: int, device: Any) -> tuple[Any, Any, Any, Any]:
    """One left-padded forward pass over `prompts`: its cache, mask, last positions and first new tokens."""
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
    return cache, mask, positions[:, -1], out.logits[:, -1, :].argmax(-1)


@functools.cache
def _growing_layer_class() -> type:
    """A `DynamicLayer` whose keys and values live in a buffer with room to grow. `DynamicLayer` concatenates,
    copying a layer's whole cache at every decode step, which on a CPU cost more than the attention that reads
    it (see `DECODE_FACTOR` for the measurement). Defined on first use: transformers is imported lazily."""
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        def __init__(self, keys: Any, values: Any, length: int) -> None:
            super().__init__()
            self.buffers: tuple[Any, Any] = (keys, values)
            self.length = length
            self.device = keys.device
            self.is_initialized = True
            self._views()

        def _views(self) -> None:
            self.keys = self.buffers[0][:, :, : self.length]
            self.values = self.buffers[1][:, :, : self.length]

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            import torch

            end = self.length + key_states.shape[-2]
            if end > self.buffers[0].shape[2]:  # out of room: grow by half again, as a list would
                extra = max(end, self.buffers[0].shape[2] * 3 // 2) - self.buffers[0].shape[2]
                grown = [torch.cat([b, b.new_zeros((*b.shape[:2], extra, b.shape[3]))], dim=2) for b in self.buffers]
                self.buffers = (grown[0], grown[1])
            self.buffers[0][:, :, self.length : end] = key_states
            self.buffers[1][:, :, self.length : end] = value_states
            self.length = end
            self._views()
            return self.keys, self.values

        def batch_select_indices(self, indices: Any) -> None:
            self.buffers = (self.buffers[0][indices], self.buffers[1][indices])
            self._views()

    return GrowingLayer


def _growing_cache(caches: list[Any], masks: list[Any], room: int) -> tuple[Any, Any] | None:
    """The caches of one or more prefill passes as one batch in growing layers with `room` free positions,
    each pass left-padded to the widest (the padding is masked out, as in one padded pass); None when a cache
    is not the plain per-layer key/value kind this can rebuild."""
    import torch
    from transformers.cache_utils import DynamicLayer

    layer_lists: list[list[Any]] = [list(getattr(c, "layers", None) or []) for c in caches]
    if any(not layers or len(layers) != len(layer_lists[0]) for layers in layer_lists):
        return None
    for layers in layer_lists:
        if any(type(layer) is not DynamicLayer or not layer.is_initialized for layer in layers):
            return None
    width = max(m.shape[1] for m in masks)
    rows = sum(m.shape[0] for m in masks)
    growing = _growing_layer_class()
    merged = caches[0]
    for index in range(len(merged.layers)):
        parts = [layers[index] for layers in layer_lists]
        buffers = []
        for name in ("keys", "values"):
            first = getattr(parts[0], name)
            buffer = first.new_zeros((rows, first.shape[1], width + room, first.shape[3]))
            row = 0
            for part in parts:
                t = getattr(part, name)
                buffer[row : row + t.shape[0], :, width - t.shape[2] : width] = t
                row += t.shape[0]
            buffers.append(buffer)
        merged.layers[index] = growing(buffers[0], buffers[1], width)
    mask = torch.cat([torch.nn.functional.pad(m, (width - m.shape[1], 0)) for m in masks])
    return merged, mask


def greedy_decode(
    model: Any,
    prompts: list[list[int]],
    max_new_tokens: int,
    stops: set[int],
    pad_id: int,
    device: Any,
    chunks: list[int] | None = None,
    on_finished: Callable[[int], None] | None = None,
) -> list[list[int]]:
    """Greedy continuations of a batch of token ids, each ending at its first stop token (kept) or at
    `max_new_tokens`.

    `chunks` splits the prompts (consecutive counts) into separate prefill passes, each padded to its own
    longest prompt, whose caches then decode as one batch: prefill is compute-bound and pays for padding,
    while a decode step reads all the weights whatever its rows (on 2 cores 71 ms for one row, 137 ms for
    16), so fewer, fuller decode batches cost less. Unlike `model.generate`, a row that has finished leaves the
    batch and its cache rows are dropped (`on_finished` hears how many), so the rest decode at the cost of
    the rows still running. Positions come from each left-padded mask, as `generate` computes them, so the
    tokens are those of greedy `generate`.
    """
    import torch

    sizes = chunks or [len(prompts)]
    if sum(sizes) != len(prompts) or min(sizes) < 1:
        raise ValueError(f"chunks {sizes} do not split {len(prompts)} prompts")
    passes = []
    first = 0
    for size in sizes:
        passes.append(_prefill(model, prompts[first : first + size], pad_id, device))
        first += size
    grown = _growing_cache([p[0] for p in passes], [p[1] for p in passes], max_new_tokens)
    if grown is None:  # a cache kind this cannot pad: each pass decodes on its own, from its own prefill
        out: list[list[int]] = []
        for one in passes:
            out += _decode_from(model, *one, max_new_tokens, stops, device, on_finished)
        return out
    position = torch.cat([p[2] for p in passes])
    token = torch.cat([p[3] for p in passes])
    return _decode_from(model, *grown, position, token, max_new_tokens, stops, device, on_finished)


def _decode_from(
    model: Any,
    cache: Any,
    mask: Any,
    position: Any,
    token: Any,
    max_new_tokens: int,
    stops: set[int],
    device: Any,
    on_finished: Callable[[int], None] | None,
) -> list[list[int]]:
    """The greedy loop of `greedy_decode` from a filled cache, its mask, the rows' last positions and their
    first new tokens."""
    import torch

    live = list(range(len(token)))  # batch row k decodes prompt live[k]
    results: list[list[int]] = [[] for _ in live]
    for step in range(max_new_tokens):
        values = token.tolist()
        keep = []
        for k, value in enumerate(values):
            results[live[k]].append(value)
            if value not in stops:
                keep.append(k)
        if not keep or step == max_new_tokens - 1:
            if on_finished:
                on_finished(len(live))
            break
        if len(keep) < len(live):
            if on_finished:
                on_finished(len(live) - len(keep))
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, token, position = mask[index], token[index], position[index]
            live = [live[k] for k in keep]
        mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=1)
        position = position + 1
        out_step = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=position[:, None],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        token = out_step.logits[:, -1, :].argmax(-1)
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
        lengths = {i: len(prompts[i]) for i in order}
        batches = token_batches([lengths[i] for i in order], order, batch_size)

        def finished(count: int) -> None:
            bar.update(task, advance=count)

        for group in decode_groups(batches, lengths, max_new_tokens, batch_size):
            rows = [i for batch in group for i in batch]
            outputs = greedy_decode(
                model,
                [prompts[i] for i in rows],
                max_new_tokens,
                set(stops),
                pad_id,
                device,
                chunks=[len(batch) for batch in group],
                on_finished=finished,
            )
            for i, new in zip(rows, outputs, strict=True):
                # The stop token counts as generated; it is not part of the answer.
                stats.new_tokens += len(new)
                kept = new[:-1] if new and new[-1] in stops else new
                answers[i] = tokenizer.decode(kept, skip_special_tokens=True).strip()
            elapsed = time.perf_counter() - start
            bar.update(task, rate=f"{stats.new_tokens / max(elapsed, 1e-9):.0f} tok/s")
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
