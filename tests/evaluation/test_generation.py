"""Batched generation: left padding must give exactly the unbatched answers, in the input order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from lamdagent.evaluation import generation
from lamdagent.evaluation.generation import (
    decode_groups,
    generate,
    generate_with_stats,
    greedy_decode,
    render_prompts,
    token_batches,
)
from lamdagent.models.loading import load_causal_lm, load_tokenizer

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Write a long poem about the sea, the sky and everything in between, please."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}],
    [{"role": "user", "content": "Name three colours."}],
    [{"role": "user", "content": "Translate 'good morning' into French and then explain the grammar of it."}],
]


@pytest.fixture(scope="module")
def sharp_model(tiny_model_dir: Path) -> tuple[Any, Any]:
    """The tiny Llama with large random weights: its greedy answers vary by prompt (the default init only
    repeats one token), so a padding bug changes the text. The tokenizer keeps its default right padding."""
    torch.set_num_threads(2)
    model = load_causal_lm(tiny_model_dir, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    tokenizer = load_tokenizer(tiny_model_dir)
    assert tokenizer.padding_side == "right"
    return model, tokenizer


def test_batched_equals_one_at_a_time(sharp_model: tuple[Any, Any]) -> None:
    model, tok = sharp_model
    batched = generate(model, tok, CONVERSATIONS, max_new_tokens=12, batch_size=3, progress=False)
    single = [generate(model, tok, [c], max_new_tokens=12, batch_size=1, progress=False)[0] for c in CONVERSATIONS]
    assert batched == single
    assert len(set(batched)) == len(batched)  # distinct answers: the comparison could catch a mix-up


def test_deterministic_and_order_restored(sharp_model: tuple[Any, Any]) -> None:
    model, tok = sharp_model
    first = generate(model, tok, CONVERSATIONS, max_new_tokens=8, batch_size=2, progress=False)
    again = generate(model, tok, CONVERSATIONS, max_new_tokens=8, batch_size=2, progress=False)
    reversed_run = generate(model, tok, CONVERSATIONS[::-1], max_new_tokens=8, batch_size=4, progress=True)
    assert first == again
    assert reversed_run == first[::-1]


def test_stops_at_end_of_sequence_and_counts_tokens(sharp_model: tuple[Any, Any]) -> None:
    model, tok = sharp_model
    prompts = render_prompts(tok, CONVERSATIONS, None)
    _, stats = generate_with_stats(model, tok, CONVERSATIONS, max_new_tokens=6, batch_size=5, progress=False)
    assert stats.prompts == 5
    assert stats.prompt_tokens == sum(len(p) for p in prompts)
    assert stats.new_tokens == 5 * 6  # no end token in 6 random steps: every slot runs to the limit
    assert stats.seconds > 0 and stats.tokens_per_second > 0

    # Make the first token the model writes for the first prompt an end-of-sequence token.
    ids = torch.tensor([prompts[0]])
    first = int(model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=1)[0, -1])
    original = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [original, first]
    try:
        answers, stats = generate_with_stats(
            model, tok, CONVERSATIONS[:2], max_new_tokens=6, batch_size=2, progress=False
        )
    finally:
        model.generation_config.eos_token_id = original
    assert answers[0] == ""  # stopped at once, and the stop token is not part of the text
    assert answers[1] != ""
    assert stats.new_tokens == 1 + 6


def test_finished_rows_leave_the_batch_and_the_rest_match_generate(sharp_model: tuple[Any, Any]) -> None:
    """Rows that stop early are dropped from the batch and the cache; the others must go on exactly as
    `model.generate` continues each prompt alone."""
    model, tok = sharp_model
    prompts = render_prompts(tok, CONVERSATIONS, None)
    pad = tok.pad_token_id

    def alone(prompt: list[int], stop: int) -> list[int]:
        ids = torch.tensor([prompt])
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=10,
            do_sample=False,
            eos_token_id=stop,
            pad_token_id=pad,
        )
        return out[0, len(prompt) :].tolist()

    free = [alone(p, -1) for p in prompts]
    stop = free[0][2]  # the first answer ends on its third token
    expected = [alone(p, stop) for p in prompts]
    got = greedy_decode(model, prompts, 10, {stop}, pad, "cpu")
    assert got == expected
    assert len(got[0]) == free[0].index(stop) + 1 <= 3
    assert sum(len(g) == 10 for g in got) >= 2  # others ran on after the first left the batch


def test_prefill_chunks_decode_as_one_batch_with_the_same_tokens(
    sharp_model: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prompts prefilled in separate passes of different widths, their caches padded and joined, must decode
    to the tokens each pass gives alone; every row is reported finished once."""
    model, tok = sharp_model
    prompts = render_prompts(tok, CONVERSATIONS, None)
    pad = tok.pad_token_id
    ordered = sorted(prompts, key=len, reverse=True)
    assert len(ordered[0]) > len(ordered[-1])  # the chunks' widths differ, so the merge pads
    stop = greedy_decode(model, ordered[:1], 10, set(), pad, "cpu")[0][3]
    finished: list[int] = []
    joined = greedy_decode(model, ordered, 10, {stop}, pad, "cpu", chunks=[2, 3], on_finished=finished.append)
    apart = greedy_decode(model, ordered[:2], 10, {stop}, pad, "cpu") + greedy_decode(
        model, ordered[2:], 10, {stop}, pad, "cpu"
    )
    assert joined == apart
    assert any(len(row) < 10 for row in joined) and any(len(row) == 10 for row in joined)
    assert sum(finished) == len(prompts)
    # a cache kind the merge cannot pad: each pass decodes from its own prefill, to the same tokens
    monkeypatch.setattr(generation, "_growing_cache", lambda *args: None)
    assert greedy_decode(model, ordered, 10, {stop}, pad, "cpu", chunks=[2, 3]) == apart
    with pytest.raises(ValueError, match="do not split 5 prompts"):
        greedy_decode(model, ordered, 10, {stop}, pad, "cpu", chunks=[2, 2])


def test_growing_layer_holds_what_concatenation_would() -> None:
    """The decode cache writes in place; past its room it grows, and row selection keeps the rows asked for."""
    from lamdagent.evaluation.generation import _growing_layer_class

    gen = torch.Generator().manual_seed(1)
    keys, values = torch.randn(3, 2, 5, 4, generator=gen), torch.randn(3, 2, 5, 4, generator=gen)
    room = 2
    layer = _growing_layer_class()(
        torch.cat([keys, torch.zeros(3, 2, room, 4)], dim=2), torch.cat([values, torch.zeros(3, 2, room, 4)], dim=2), 5
    )
    for _ in range(4):  # two steps fit the room, two more make it grow
        new_k, new_v = torch.randn(3, 2, 1, 4, generator=gen), torch.randn(3, 2, 1, 4, generator=gen)
        got_k, got_v = layer.update(new_k, new_v)
        keys, values = torch.cat([keys, new_k], dim=2), torch.cat([values, new_v], dim=2)
        assert torch.equal(got_k, keys) and torch.equal(got_v, values)
    assert layer.get_seq_length() == 9
    layer.batch_select_indices(torch.tensor([2, 0]))
    assert torch.equal(layer.keys, keys[[2, 0]]) and torch.equal(layer.values, values[[2, 0]])


def test_decode_groups_keep_the_cache_within_budget() -> None:
    # budget 1 * 256 * 8 = 2048 cached tokens: rows x (widest prompt + 100 new tokens)
    lengths = {0: 500, 1: 480, 2: 300, 3: 300, 4: 100, 5: 100, 6: 100, 7: 90}
    batches = [[0], [1], [2, 3], [4, 5, 6, 7]]
    groups = decode_groups(batches, lengths, max_new_tokens=100, batch_size=1)
    assert groups == [[[0], [1]], [[2, 3]], [[4, 5, 6, 7]]]  # 4 x 600 > 2048, then 6 x 400 > 2048
    for group in groups:
        rows = [i for batch in group for i in batch]
        assert len(rows) == 1 or len(rows) * (max(lengths[i] for i in rows) + 100) <= 2048
    assert decode_groups([[0, 1]], {0: 5000, 1: 5000}, 100, 1) == [[[0, 1]]]  # one batch over budget still decodes


def test_tools_must_align_with_conversations(sharp_model: tuple[Any, Any]) -> None:
    model, tok = sharp_model
    with pytest.raises(ValueError, match="2 entries for 1 conversations"):
        generate(model, tok, CONVERSATIONS[:1], max_new_tokens=2, tools=[None, None], progress=False)
    assert generate(model, tok, [], max_new_tokens=2, progress=False) == []


@pytest.mark.slow
def test_embedded_model_answers_and_stops(embedded_dir: Path) -> None:
    torch.set_num_threads(2)
    model = load_causal_lm(embedded_dir, dtype=torch.float32).eval()
    tok = load_tokenizer(embedded_dir)
    convs = [[{"role": "user", "content": "What is the capital of France? Answer in one word."}]]
    answers, stats = generate_with_stats(model, tok, convs, max_new_tokens=32, progress=False)
    assert "paris" in answers[0].lower()
    assert "<|im_end|>" not in answers[0]
    assert stats.new_tokens < 32  # stopped at the end of its turn


def test_token_batches_fill_by_padded_tokens() -> None:
    # budget 2 * 256 = 512 padded tokens a batch, at most 8 prompts; lengths come longest first
    lengths = [400, 300, 200, 100, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60]
    order = list(range(100, 100 + len(lengths)))
    batches = token_batches(lengths, order, batch_size=2)
    assert batches == [[100], [101], [102, 103], list(range(104, 112)), [112, 113]]
    assert token_batches([10] * 10, list(range(10)), batch_size=2) == [list(range(8)), [8, 9]]  # at most 4x
    assert token_batches([900], [7], batch_size=1) == [[7]]  # a prompt over the budget still gets a batch
