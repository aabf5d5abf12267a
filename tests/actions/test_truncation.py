"""Examples whose prompt fills `max_length` keep no answer: dropped with a log line, or one clear error if all."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from action_helpers import model_ref, run_action, write_jsonl

from lamdagent.actions.common import keep_answerable, prompt_lengths
from lamdagent.errors import LamdagentError
from lamdagent.spec import DatasetRef

FAST = {"max_steps": 1, "batch_size": 2, "learning_rate": 1e-3, "warmup_ratio": 0.0}
LONG = "Please read this carefully. " * 40


def sft_row(prompt: str) -> dict:
    return {"prompt": [{"role": "user", "content": prompt}], "completion": [{"role": "assistant", "content": "ok"}]}


def pref_row(prompt: str) -> dict:
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": "yes"}],
        "rejected": [{"role": "assistant", "content": "no"}],
    }


def dataset(tmp_path: Path, name: str, kind: str, rows: list[dict]) -> DatasetRef:
    path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    return DatasetRef(id=name, kind=kind, path=str(path), fingerprint=f"fp-{name}", rows=len(rows))


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):  # noqa: ANN201 - a transformers tokenizer
    from lamdagent.models.loading import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.mark.parametrize(("action", "kind", "row"), [("sft", "sft", sft_row), ("dpo", "preference", pref_row)])
def test_all_answers_truncated_is_one_clear_error(
    tiny_model_dir: Path, tmp_path: Path, action: str, kind: str, row: object
) -> None:
    data = dataset(tmp_path, "tool_sft", kind, [row(f"{LONG} Question {i}?") for i in range(8)])  # type: ignore[operator]
    with pytest.raises(LamdagentError) as info:
        run_action(
            action,
            {"model": model_ref(tiny_model_dir, "base"), "data": data},
            {**FAST, "max_length": 64},
            tmp_path / "out",
        )
    message = str(info.value)
    assert message.startswith("all 8 examples of tool_sft lose their answer at max_length 64")
    assert message.endswith("raise max_length or shorten the prompts") and "\n" not in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_some_answers_truncated_are_dropped_and_counted(tokenizer, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    rows = [sft_row(f"{LONG} {i}") for i in range(3)] + [sft_row(f"What is {i}?") for i in range(5)]
    lengths = prompt_lengths(rows, tokenizer)
    limit = max(lengths[3:]) + 1  # every short prompt keeps an answer token, no long one does
    assert min(lengths[:3]) >= limit
    log = logging.getLogger("test.truncation")
    with caplog.at_level(logging.WARNING, logger="test.truncation"):
        kept = keep_answerable(rows, tokenizer, limit, "mixed", log)
    assert kept == rows[3:]
    assert f"3 of 8 examples of mixed lose their answer at max_length {limit}" in caplog.text


def test_prompt_lengths_count_the_chat_template(tokenizer) -> None:  # noqa: ANN001
    short, long = prompt_lengths([sft_row("hi"), sft_row(LONG)], tokenizer)
    assert 1 < short < long


def test_an_empty_dataset_is_a_clear_error(tokenizer, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(LamdagentError, match="dataset 'none' has no examples"):
        keep_answerable([], tokenizer, 512, "none", logging.getLogger("x"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    from lamdagent.actions.common import sft_rows

    with pytest.raises(LamdagentError, match="has no rows, so there is nothing to train on"):
        sft_rows(empty)
