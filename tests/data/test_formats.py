"""User data loaders: every file type, format detection, one-line errors, and materialisation into a run."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from lamdagent.data.builtin import BUILTIN_DATA
from lamdagent.data.formats import (
    FORMATS,
    check_row,
    convert_rows,
    detect_format,
    load_rows,
    materialise,
    read_located,
    read_rows,
)
from lamdagent.errors import LamdagentError

SFT_ROWS = [
    {
        "prompt": [{"role": "user", "content": f"What is {i} + {i}?"}],
        "completion": [{"role": "assistant", "content": str(2 * i)}],
    }
    for i in range(12)
]
PREF_ROWS = [
    {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Say {i}."}],
        "chosen": [{"role": "assistant", "content": str(i)}],
        "rejected": [{"role": "assistant", "content": f"I will not say {i}."}],
    }
    for i in range(5)
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def error_of(call: Any, *args: Any, **kwargs: Any) -> str:
    """The message of the LamdagentError a call raises; it must be a single line."""
    with pytest.raises(LamdagentError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------- file types


def test_jsonl_round_trip(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", SFT_ROWS)
    assert read_rows(str(path)) == SFT_ROWS
    assert load_rows(str(path), "sft") == SFT_ROWS


def test_json_array_round_trip_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(PREF_ROWS, indent=2), encoding="utf-8")
    located = read_located(str(path))
    assert [row for _, row in located] == PREF_ROWS
    lines = path.read_text().split("\n")
    for where, _ in located:  # each row is located on the line where its object opens
        number = int(where.removeprefix("line "))
        assert lines[number - 1].strip() == "{"
    assert load_rows(str(path), "preference") == PREF_ROWS


def test_json_lines_in_a_json_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.json", SFT_ROWS)
    assert read_rows(str(path)) == SFT_ROWS


def test_csv_round_trip_with_plain_strings(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "completion"])
        writer.writerow(["Add 1, 2.", "3"])
        writer.writerow(["Line one\nline two?", "yes"])
    rows = load_rows(str(path), "sft")
    assert rows == [
        {"prompt": [{"role": "user", "content": "Add 1, 2."}], "completion": [{"role": "assistant", "content": "3"}]},
        {
            "prompt": [{"role": "user", "content": "Line one\nline two?"}],
            "completion": [{"role": "assistant", "content": "yes"}],
        },
    ]


def test_parquet_round_trip(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(PREF_ROWS), path)
    assert read_rows(str(path)) == PREF_ROWS
    assert load_rows(str(path), "preference") == PREF_ROWS


def test_datasets_directory_round_trip_and_splits(tmp_path: Path) -> None:
    import datasets

    single = tmp_path / "single"
    datasets.Dataset.from_list(SFT_ROWS).save_to_disk(str(single))
    assert read_rows(str(single)) == SFT_ROWS

    both = tmp_path / "both"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(SFT_ROWS[:8]), "test": datasets.Dataset.from_list(SFT_ROWS[8:])}
    ).save_to_disk(str(both))
    assert read_rows(str(both)) == SFT_ROWS[:8]  # train by default
    assert read_rows(str(both), split="test") == SFT_ROWS[8:]
    assert "'validation'" in error_of(read_rows, str(both), split="validation")
    assert "not a saved datasets dataset" in error_of(read_rows, str(tmp_path))


def test_hub_id_offline_is_a_one_line_error() -> None:
    if os.environ.get("HF_HUB_OFFLINE") != "1":
        pytest.skip("needs HF_HUB_OFFLINE=1 (set by conftest) so the hub client does not retry for seconds")
    message = error_of(read_rows, "someone/some-dataset:main")
    assert message.startswith("someone/some-dataset:main: not a local file or directory")


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("row", "name", "kind", "canonical"),
    [
        (
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
            "messages",
            "sft",
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        ),
        (
            {"prompt": "hi", "completion": "hello", "id": 7},
            "prompt_completion",
            "sft",
            {"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "hello"}]},
        ),
        (
            {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
            "preference",
            "preference",
            {
                "prompt": [{"role": "user", "content": "2+2?"}],
                "chosen": [{"role": "assistant", "content": "4"}],
                "rejected": [{"role": "assistant", "content": "5"}],
            },
        ),
        (  # TRL's implicit prompt: two conversations that differ in the last answer
            {
                "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
                "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}],
            },
            "preference",
            "preference",
            {
                "prompt": [{"role": "user", "content": "2+2?"}],
                "chosen": [{"role": "assistant", "content": "4"}],
                "rejected": [{"role": "assistant", "content": "5"}],
            },
        ),
        (
            {"system": "Be kind.", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]},
            "sharegpt",
            "sft",
            {
                "messages": [
                    {"role": "system", "content": "Be kind."},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "yo"},
                ]
            },
        ),
    ],
)
def test_auto_detects_and_normalises(row: dict[str, Any], name: str, kind: str, canonical: dict[str, Any]) -> None:
    located = [("line 1", row), ("line 2", row)]
    assert detect_format(located) == name
    assert convert_rows(located, kind, "auto") == [("line 1", canonical), ("line 2", canonical)]
    assert FORMATS.get("auto").convert(row) == canonical
    check_row(canonical, kind)


def test_auto_detects_the_task_formats_by_keys() -> None:
    assert detect_format([("row 1", {"question": "q", "answer": "a"})]) == "gsm8k"
    assert detect_format([("row 1", {"instruction": "i", "input": "", "output": "o"})]) == "alpaca"
    assert detect_format([("row 1", {"conversations": [], "tools": "[]"})]) == "glaive"


def test_auto_rejects_unknown_mixed_and_ambiguous_rows() -> None:
    message = error_of(detect_format, [("line 1", {"text": "x"})], "d.jsonl")
    assert message.startswith("d.jsonl line 1:") and "['text']" in message and "sharegpt" in message
    mixed = [("line 1", {"prompt": "a", "completion": "b"}), ("line 2", {"messages": []})]
    assert "d.jsonl line 2:" in error_of(detect_format, mixed, "d.jsonl")
    both = [("line 1", {"question": "q", "answer": "a", "instruction": "i", "output": "o"})]
    assert "alpaca, gsm8k" in error_of(detect_format, both, "d.jsonl")


def test_format_kind_must_match_dataset_kind(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", SFT_ROWS)
    message = error_of(load_rows, str(path), "preference")
    assert "'prompt_completion'" in message and "'preference'" in message
    assert "gives preference rows" in error_of(load_rows, str(path), "sft", format="preference")


def test_converter_may_return_several_rows(tmp_path: Path) -> None:
    from lamdagent.data.formats import RowFormat

    name = "test_formats_split_turns"
    FORMATS.register(
        name,
        RowFormat(
            "sft",
            ("q", "answers"),
            "rows need 'q' and 'answers'",
            lambda row: [
                {"prompt": row["q"], "completion": [{"role": "assistant", "content": a}]} for a in row["answers"]
            ],
        ),
    )
    path = write_jsonl(tmp_path / "d.jsonl", [{"q": [{"role": "user", "content": "hi"}], "answers": ["a", "b", "c"]}])
    rows = load_rows(str(path), "sft", format=name)
    assert [r["completion"][0]["content"] for r in rows] == ["a", "b", "c"]


# ---------------------------------------------------------------- bad data


@pytest.mark.parametrize(
    ("suffix", "content", "expected"),
    [
        (  # the example from the issue
            ".jsonl",
            '{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}\n{"prompt": "e"}\n',
            ["d.jsonl line 3: field 'completion' is missing; SFT rows need 'messages' or 'prompt' and 'completion'"],
        ),
        (
            ".jsonl",
            '{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": 4}\n',
            ["d.jsonl line 2: field 'completion' is a number", "string or a list of messages"],
        ),
        (
            ".jsonl",
            '{"prompt": "a", "completion": "b"}\n\n{"prompt": "c", "completion": "d"\n',
            ["d.jsonl line 3: not valid JSON", "one JSON object"],
        ),
        (
            ".jsonl",
            '{"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]}\n',
            ["d.jsonl line 1: field 'messages[1].role' is 'bot'", "system, user, assistant, tool"],
        ),
        (
            ".jsonl",
            '{"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}\n',
            ["d.jsonl line 1: field 'messages[1].role' is 'user'", "last message must be the assistant"],
        ),
        (
            ".jsonl",
            '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant"}]}\n',
            ["d.jsonl line 1: field 'messages[1].content' is missing"],
        ),
        (".jsonl", '["a", "b"]\n', ["d.jsonl line 1: the row is a list, not a JSON object"]),
        (".jsonl", "\n  \n", ["d.jsonl: no rows", "add at least one row"]),
        (".json", "[]", ["d.json: no rows"]),
        (
            ".json",
            '[\n  {"prompt": "a", "completion": "b"},\n  {"prompt": "c" "completion": "d"}\n]',
            ["d.json line 3: not valid JSON"],
        ),
        (
            ".json",
            '[\n  {"prompt": "a", "completion": "b"},\n\n  {"prompt": "c", "completion": ""}\n]',
            ["d.json line 4: field 'completion' has empty content"],
        ),
        (".json", '[{"prompt": "a", "completion": "b"}]\n\n]', ["d.json line 3: text after the end of the JSON array"]),
        (".json", '[{"prompt": "a", "completion": "b"}\n{"prompt": "c"}]', ["d.json line 2: expected ',' or ']'"]),
        (".csv", "prompt,completion\nhi,there\nonly one\n", ["d.csv line 3: fewer values than the header"]),
        (".csv", "prompt,completion\nhi,there,extra\n", ["d.csv line 2: more values than the header"]),
        (".csv", "", ["d.csv: no rows"]),
        (".txt", "hello", ["d.txt: unsupported file type '.txt'", ".jsonl, .json, .csv or .parquet"]),
        (
            ".jsonl",
            '{"conversations": [{"from": "human", "value": "hi"}, {"from": "function_call", "value": "{}"}]}\n',
            ["d.jsonl line 1: field 'conversations[1].from' is 'function_call'", "format 'glaive'"],
        ),
    ],
)
def test_bad_sft_data_names_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, content: str, expected: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path(f"d{suffix}").write_text(content, encoding="utf-8")
    message = error_of(load_rows, f"d{suffix}", "sft")
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"prompt": "q", "chosen": 3, "rejected": "b"}, "line 2: field 'chosen' is a number"),
        ({"prompt": "q", "chosen": "a", "rejected": None}, "line 2: field 'rejected' is null"),
        ({"prompt": "q", "chosen": "a"}, "line 2: field 'rejected' is missing"),
        ({"chosen": "a", "rejected": "b"}, "line 2: field 'prompt' is missing; preference rows need 'prompt'"),
        (
            {"prompt": "q", "chosen": [{"role": "user", "content": "a"}], "rejected": "b"},
            "line 2: field 'chosen[0].role' is 'user'",
        ),
        ({"prompt": [], "chosen": "a", "rejected": "b"}, "line 2: field 'prompt' is an empty list"),
    ],
)
def test_bad_preference_data(tmp_path: Path, row: dict[str, Any], expected: str) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}, row])
    message = error_of(load_rows, str(path), "preference")
    assert f"{path} {expected}" in message


def test_errors_count_the_other_bad_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "completion": 1}] * 4)
    assert error_of(load_rows, str(path), "sft").endswith("(3 more rows have problems)")


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.jsonl")
    assert (
        error_of(read_rows, missing)
        == f"{missing}: no such file; check the path (relative paths start at the current directory)"
    )
    assert "not a hub dataset id" in error_of(read_rows, str(tmp_path / "a" / "b" / "c"))
    path = write_jsonl(tmp_path / "d.jsonl", SFT_ROWS)
    message = error_of(load_rows, str(path), "sft", format="tsv")
    assert "unknown data format 'tsv'" in message and "prompt_completion" in message and "sharegpt" in message
    assert "'split' applies to" in error_of(read_rows, str(path), split="train")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"prompt": "caf\xe9"}\n')
    assert "not UTF-8 text" in error_of(read_rows, str(path))


# ---------------------------------------------------------------- materialise


def test_materialise_writes_canonical_jsonl(tmp_path: Path) -> None:
    source = tmp_path / "src.json"
    source.write_text(json.dumps([{"prompt": r["prompt"][0]["content"], "completion": "x"} for r in SFT_ROWS]))
    ref = materialise(str(source), "sft", tmp_path / "run" / "data", "adds")
    assert ref.id == "adds" and ref.kind == "sft" and ref.rows == len(SFT_ROWS)
    written = Path(ref.path)
    assert written == (tmp_path / "run" / "data" / "adds.jsonl").resolve()
    assert ref.fingerprint == hashlib.sha256(written.read_bytes()).hexdigest()
    assert read_rows(ref.path)[0] == {
        "prompt": [{"role": "user", "content": "What is 0 + 0?"}],
        "completion": [{"role": "assistant", "content": "x"}],
    }
    assert load_rows(ref.path, "sft") == read_rows(ref.path)  # the output is itself valid canonical data
    assert "src.json" in ref.description
    assert sorted(p.name for p in written.parent.iterdir()) == ["adds.jsonl"]  # no temporary file left


def test_data_scale_subsets_are_nested_and_deterministic(tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(40)]
    source = str(write_jsonl(tmp_path / "d.jsonl", rows))

    def kept(scale: float, seed: int = 3, size: int | None = None, tag: str = "") -> list[str]:
        ref = materialise(
            source, "sft", tmp_path / f"out{scale}{seed}{size}{tag}", "d", seed=seed, size=size, data_scale=scale
        )
        return [r["prompt"][0]["content"] for r in read_rows(ref.path)]

    quarter, half, full = kept(0.25), kept(0.5), kept(1.0)
    assert (len(quarter), len(half), len(full)) == (10, 20, 40)
    assert set(quarter) < set(half) < set(full)
    assert kept(0.5, tag="again") == half
    assert kept(0.5, seed=4) != half
    tiny = kept(0.01)  # 0.4 of a row rounds to none: at least one is kept
    assert len(tiny) == 1 and set(tiny) < set(quarter)
    sample = kept(1.0, size=16)
    assert len(sample) == 16 and set(kept(0.5, size=16)) < set(sample)
    assert sample == [p for p in full if p in set(sample)]  # the source order is kept


def test_fingerprint_depends_only_on_the_data(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", SFT_ROWS)
    b = tmp_path / "b.json"
    b.write_text(json.dumps(SFT_ROWS, indent=4))
    ref_a = materialise(str(a), "sft", tmp_path / "r1", "x")
    ref_b = materialise(str(b), "sft", tmp_path / "r2", "x")
    assert ref_a.fingerprint == ref_b.fingerprint  # same rows, another file type: same fingerprint
    assert materialise(str(a), "sft", tmp_path / "r1", "x").fingerprint == ref_a.fingerprint
    changed = write_jsonl(tmp_path / "c.jsonl", [*SFT_ROWS[:-1], SFT_ROWS[0]])
    assert materialise(str(changed), "sft", tmp_path / "r3", "x").fingerprint != ref_a.fingerprint


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": "../evil"}, "not a simple identifier"),
        ({"name": "has space"}, "not a simple identifier"),
        ({"kind": "rl"}, "kind 'rl' is unknown"),
        ({"data_scale": 0.0}, "data_scale 0.0 must be in (0, 1]"),
        ({"data_scale": 1.5}, "data_scale 1.5"),
        ({"size": 0}, "size 0 must be a positive"),
    ],
)
def test_materialise_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], expected: str) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", SFT_ROWS)
    args: dict[str, Any] = {"source": str(source), "kind": "sft", "out_dir": tmp_path / "out", "name": "ok", **kwargs}
    assert expected in error_of(materialise, **args)
    assert not (tmp_path / "out").exists()


def test_materialise_builtin_generator(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []

    def generate(split: str, n: int, seed: int) -> list[dict[str, Any]]:
        calls.append((split, n, seed))
        if split == "preference":
            return [{"prompt": f"p{seed}-{i}", "chosen": "good", "rejected": "bad"} for i in range(n)]
        return [{"prompt": [{"role": "user", "content": f"p{seed}-{i}"}], "completion": "ok"} for i in range(n)]

    name = "test_formats_tiny"
    if name not in BUILTIN_DATA:
        BUILTIN_DATA.register(name, generate)
    ref = materialise(f"builtin:{name}", "sft", tmp_path, "tiny", size=40, data_scale=0.25, seed=5)
    assert calls[-1] == ("sft", 10, 5) and ref.rows == 10
    assert read_rows(ref.path)[3] == {
        "prompt": [{"role": "user", "content": "p5-3"}],
        "completion": [{"role": "assistant", "content": "ok"}],
    }
    pref = materialise(f"builtin:{name}", "preference", tmp_path, "tiny_pref", size=3)
    assert calls[-1] == ("preference", 3, 0) and pref.kind == "preference" and pref.rows == 3
    assert error_of(materialise, "builtin:no_such_generator", "sft", tmp_path, "x").startswith(
        "unknown built-in dataset 'no_such_generator'"
    )


# ---------------------------------------------------------------- real public data


def test_json_lines_benchmark_files_read(benchmarks_dir: Path) -> None:
    assert len(read_rows(str(benchmarks_dir / "bfcl" / "BFCL_v4_simple_python.json"))) == 400
    assert len(read_rows(str(benchmarks_dir / "function_calling" / "apibench" / "torchhub_train.json"))) == 837


@pytest.mark.parametrize(
    ("relative", "format", "count"),
    [
        ("gsm8k/train.jsonl", "gsm8k", 7473),
        ("alpaca/alpaca_en_demo.json", "alpaca", 999),
        ("function_calling/glaive_toolcall_en_demo.json", "glaive", 300),
    ],
)
def test_public_training_files_load_and_validate(
    benchmarks_dir: Path, tmp_path: Path, relative: str, format: str, count: int
) -> None:
    source = str(benchmarks_dir / relative)
    assert detect_format(read_located(source)[:10], source) == format
    assert len(load_rows(source, "sft", format=format)) >= count  # a converter may split a conversation
    ref = materialise(source, "sft", tmp_path, format, format=format, size=64, data_scale=0.5)
    assert ref.rows == 32
    assert len(load_rows(ref.path, "sft")) == 32  # the written file is valid canonical data
