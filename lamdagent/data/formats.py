"""User data: read rows from a file, a saved `datasets` directory or the hub, convert them to the canonical
chat form, validate them, and materialise them into a run as one content-fingerprinted JSONL file.

Errors are one line naming the file, the line (or row) and the field, with the fix: people repair data in
an editor, so the message must say where to look, not how the loader got there.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lamdagent.data.builtin import BUILTIN_DATA
from lamdagent.data.builtin.instruction_following import alpaca_to_sft
from lamdagent.data.builtin.math import gsm8k_to_sft
from lamdagent.data.builtin.tool_use import glaive_to_sft
from lamdagent.errors import LamdagentError
from lamdagent.io import parse_jsonl, write_jsonl
from lamdagent.paths import cache_dir
from lamdagent.registry import Registry
from lamdagent.spec import DatasetRef

Kind = Literal["sft", "preference"]
Row = dict[str, Any]
Located = list[tuple[str, Row]]  # (where the row is in its source, e.g. "line 3"; the row)
Converter = Callable[[Row], Row | list[Row]]

ROLES = ("system", "user", "assistant", "tool")
DEFAULT_BUILTIN_SIZE = 256  # rows generated for a `builtin:` source when the config gives no size
# dataset names become file names under RUN/data: no separators, no "..", nothing hidden, not too long
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_RULE = "use letters, digits, '_', '-' or '.' (at most 64, starting with a letter or digit, no '..')"
HUB_ID_RE = re.compile(r"(?P<id>[\w.-]+(?:/[\w.-]+)?)(?::(?P<config>[\w.-]+))?")
SFT_NEEDS = "SFT rows need 'messages' or 'prompt' and 'completion'"
PREFERENCE_NEEDS = "preference rows need 'prompt', 'chosen' and 'rejected'"
_WS = re.compile(r"[ \t\n\r]*")


class RowError(ValueError):
    """A problem with one row, phrased as "field 'x' ...; fix"; the caller adds the file and line."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field!r} {problem}")


@dataclass(frozen=True)
class RowFormat:
    """A named input format: the keys that identify it (and that every row must have), what it yields."""

    kind: Kind | None  # None: decided per row (`auto`)
    keys: tuple[str, ...]
    needs: str  # the fix shown when one of `keys` is missing
    convert: Converter


FORMATS: Registry[RowFormat] = Registry("data format")


# ---------------------------------------------------------------- reading


def read_rows(source: str, split: str | None = None) -> list[Row]:
    """The raw rows of a JSONL/JSON/CSV/Parquet file, a saved `datasets` directory, or a hub dataset id
    (`owner/name`, `owner/name:config`, or `hf:` + either)."""
    return [row for _, row in read_located(source, split)]


def read_located(source: str, split: str | None = None) -> Located:
    """Like `read_rows`, with where each row came from ("line 3", "row 3") for error messages."""
    if source.startswith("hf:"):
        return _read_hub(source, source[3:], split)
    path = Path(source).expanduser()
    if path.is_dir():
        return _read_saved(path, source, split)
    suffix = path.suffix.lower()
    if path.is_file() or suffix in _READERS:
        if suffix not in _READERS:
            raise LamdagentError(
                f"{source}: unsupported file type {suffix or '(no extension)'!r}; "
                "use .jsonl, .json, .csv or .parquet, a saved datasets directory, or a hub dataset id"
            )
        if not path.is_file():
            raise LamdagentError(
                f"{source}: no such file; check the path (relative paths start at the current directory)"
            )
        if split is not None:
            raise LamdagentError(
                f"{source}: 'split' applies to datasets directories and hub datasets, not to files; drop it"
            )
        try:
            return _READERS[suffix](path, source)
        except UnicodeDecodeError as exc:
            raise LamdagentError(
                f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
            ) from None
        except OSError as exc:
            raise LamdagentError(
                f"{source}: cannot read the file ({exc.strerror or exc}); check its permissions"
            ) from None
    return _read_hub(source, source, split)


def _as_object(value: Any, source: str, where: str) -> Row:
    if not isinstance(value, dict):
        raise LamdagentError(
            f"{source} {where}: the row is {_type(value)}, not a JSON object; each row must be an object "
            'like {"prompt": ..., "completion": ...}'
        )
    return value


def _read_jsonl_text(text: str, source: str) -> Located:
    # split on "\n" only: str.splitlines would also split on U+2028, which JSON strings may hold raw
    values = parse_jsonl(text.split("\n"), lambda number: f"{source} line {number}")
    return [(f"line {number}", _as_object(value, source, f"line {number}")) for number, value in values]


def _skip_ws(text: str, pos: int) -> int:
    """The index of the first character at or after `pos` that is not JSON whitespace."""
    match = _WS.match(text, pos)
    assert match is not None  # the pattern also matches the empty string, so it matches at any position
    return match.end()


def _read_jsonl(path: Path, source: str) -> Located:
    return _read_jsonl_text(path.read_text(encoding="utf-8-sig"), source)


def _read_json(path: Path, source: str) -> Located:
    """A JSON array, or JSON Lines in a .json file (BFCL and APIBench ship theirs that way)."""
    text = path.read_text(encoding="utf-8-sig")
    start = _skip_ws(text, 0)
    if start == len(text):
        return []
    if text[start] != "[":
        try:
            return [("line 1", _as_object(json.loads(text), source, "line 1"))]
        except json.JSONDecodeError:
            return _read_jsonl_text(text, source)
    return _read_json_array(text, start, source)


def _read_json_array(text: str, start: int, source: str) -> Located:
    """Decode the array element by element, so each row knows the line it starts on."""
    decoder = json.JSONDecoder()
    rows: Located = []
    line, counted = 1, 0
    pos = _skip_ws(text, start + 1)
    if pos < len(text) and text[pos] == "]":
        return _array_end(rows, text, pos, source)
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise LamdagentError(
                f"{source} line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno}); fix the JSON there"
            ) from None
        rows.append((f"line {line}", _as_object(value, source, f"line {line}")))
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return _array_end(rows, text, pos, source)
        line += text.count("\n", counted, pos)
        raise LamdagentError(
            f"{source} line {line}: expected ',' or ']' after a row of the JSON array; fix the JSON there"
        )


def _array_end(rows: Located, text: str, pos: int, source: str) -> Located:
    """The rows, once nothing but whitespace follows the array's closing bracket."""
    rest = _skip_ws(text, pos + 1)
    if rest < len(text):
        line = text.count("\n", 0, rest) + 1
        raise LamdagentError(f"{source} line {line}: text after the end of the JSON array; remove it")
    return rows


def _read_csv(path: Path, source: str) -> Located:
    rows: Located = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:  # reads the header now, so line numbers below are right
            return rows
        while True:
            first_line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return rows
            except csv.Error as exc:
                raise LamdagentError(
                    f"{source} line {first_line}: not valid CSV ({exc}); fix the quoting there"
                ) from None
            if None in row:
                raise LamdagentError(
                    f"{source} line {first_line}: more values than the header has columns; "
                    "quote values that contain commas"
                )
            if any(value is None for value in row.values()):
                raise LamdagentError(
                    f"{source} line {first_line}: fewer values than the header has columns; fill every column"
                )
            rows.append((f"line {first_line}", row))


def _read_parquet(path: Path, source: str) -> Located:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise LamdagentError(f"{source}: not a readable Parquet file ({_first_line(exc)}); re-export it") from None
    return [(f"row {i}", row) for i, row in enumerate(table.to_pylist(), 1)]


_READERS: dict[str, Callable[[Path, str], Located]] = {
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}


def _read_saved(path: Path, source: str, split: str | None) -> Located:
    if not ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()):
        raise LamdagentError(
            f"{source}: a directory, but not a saved datasets dataset (no state.json or dataset_dict.json); "
            "point to a data file, or save it with Dataset.save_to_disk"
        )
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises many types here; the user needs the reason in one line
        raise LamdagentError(f"{source}: cannot load the saved dataset ({_first_line(exc)}); save it again") from None
    return _dataset_rows(loaded, source, split)


def _read_hub(source: str, ident: str, split: str | None) -> Located:
    match = HUB_ID_RE.fullmatch(ident)
    if match is None:
        raise LamdagentError(
            f"{source}: no such file or directory, and not a hub dataset id; check the path "
            "(relative paths start at the current directory)"
        )
    import datasets

    try:
        loaded = datasets.load_dataset(
            match["id"], match["config"], split=split, cache_dir=str(cache_dir() / "datasets")
        )
    except Exception as exc:  # the hub client raises many types; the user needs the reason, not a traceback
        raise LamdagentError(
            f"{source}: not a local file or directory, and the hub dataset could not be loaded "
            f"({_first_line(exc)}); check the path, or the id and the network (offline: download it and pass the file)"
        ) from None
    return _dataset_rows(loaded, source, None)  # a given split was already applied by load_dataset


def _dataset_rows(loaded: Any, source: str, split: str | None) -> Located:
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        if split is None:
            if "train" not in names and len(names) != 1:
                raise LamdagentError(f"{source}: has splits {names}; choose one with 'split'")
            split = "train" if "train" in names else names[0]
        elif split not in names:
            raise LamdagentError(f"{source}: has no split {split!r}; its splits are {names}")
        loaded = loaded[split]
    elif split is not None:
        raise LamdagentError(f"{source}: holds a single split, so 'split' does not apply; drop it")
    return [(f"row {i}", row) for i, row in enumerate(loaded.to_list(), 1)]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------- converters

_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def _message(value: Any) -> Any:
    """A ShareGPT turn {from, value} as a chat message; anything else unchanged (the validator judges it)."""
    if isinstance(value, dict) and "role" not in value and "from" in value and "value" in value:
        return {"role": _SHAREGPT_ROLES.get(value["from"], value["from"]), "content": value["value"]}
    return value


def _as_messages(value: Any, role: str) -> Any:
    """Text, one message or a list of messages, as a list of messages; other types unchanged."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, dict):
        return [_message(value)]
    if isinstance(value, list):
        return [_message(m) for m in value]
    return value


def _message_list(value: Any) -> Any:
    """A list of messages, also when given as JSON text (a CSV cell)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    return [_message(m) for m in value] if isinstance(value, list) else value


def _with_system(row: Row, messages: Any) -> Any:
    """Prepend a top-level 'system' text (LLaMA-Factory's column) as the system message."""
    system = row.get("system")
    if isinstance(system, str) and system and isinstance(messages, list):
        return [{"role": "system", "content": system}, *messages]
    return messages


def _from_messages(row: Row) -> Row:
    return {"messages": _message_list(row["messages"])}


def _from_prompt_completion(row: Row) -> Row:
    return {
        "prompt": _with_system(row, _as_messages(row["prompt"], "user")),
        "completion": _as_messages(row["completion"], "assistant"),
    }


def _from_preference(row: Row) -> Row:
    chosen = _as_messages(row["chosen"], "assistant")
    rejected = _as_messages(row["rejected"], "assistant")
    out: Row = {}
    if "prompt" in row:
        out["prompt"] = _with_system(row, _as_messages(row["prompt"], "user"))
    elif isinstance(chosen, list) and isinstance(rejected, list) and len(chosen) > 1 and chosen[:-1] == rejected[:-1]:
        # TRL's implicit-prompt form: two whole conversations that differ only in the last answer
        out["prompt"], chosen, rejected = chosen[:-1], chosen[-1:], rejected[-1:]
    out["chosen"], out["rejected"] = chosen, rejected
    return out


def _from_sharegpt(row: Row) -> Row:
    turns = row["conversations"]
    if isinstance(turns, str):
        turns = _message_list(turns)
    if isinstance(turns, list):
        for i, turn in enumerate(turns):
            if isinstance(turn, dict) and "from" in turn and turn["from"] not in _SHAREGPT_ROLES:
                extra = (
                    "; use format 'glaive' for tool calls" if turn["from"] in ("function_call", "observation") else ""
                )
                raise RowError(
                    f"conversations[{i}].from", f"is {turn['from']!r}; ShareGPT turns are human, gpt or system{extra}"
                )
    return {"messages": _with_system(row, _message_list(turns))}


def _detect(row: Row) -> list[str]:
    """The formats whose keys the row has, keeping only the most specific (most keys matched)."""
    fits = [n for n in FORMATS.names() if FORMATS.get(n).keys and set(FORMATS.get(n).keys) <= set(row)]
    most = max((len(FORMATS.get(n).keys) for n in fits), default=0)
    return [n for n in fits if len(FORMATS.get(n).keys) == most]


def detect_format(located: Located, source: str = "data") -> str:
    """The format of a file, from the keys of its first rows; mixed or unknown keys are an error."""
    found: list[tuple[str, str]] = []
    for where, row in located[:10]:
        names = _detect(row)
        if len(names) > 1:
            raise LamdagentError(f"{source} {where}: the fields fit formats {', '.join(names)}; name one with 'format'")
        if names:
            found.append((where, names[0]))
    if not found:
        where, row = located[0]
        known = ", ".join(n for n in FORMATS.names() if n != "auto")
        raise LamdagentError(
            f"{source} {where}: cannot tell the format from the fields {sorted(row)}; rename them or set 'format' "
            f"(known: {known})"
        )
    for where, name in found[1:]:
        if name != found[0][1]:
            raise LamdagentError(
                f"{source} {where}: looks like format {name!r} but {found[0][0]} looks like {found[0][1]!r}; "
                "use one format per file"
            )
    return found[0][1]


def _auto(row: Row) -> Row | list[Row]:
    names = _detect(row)
    if len(names) != 1:
        raise RowError(", ".join(sorted(row)) or "(none)", "does not identify one format; set 'format'")
    return FORMATS.get(names[0]).convert(row)


FORMATS.register("messages", RowFormat("sft", ("messages",), SFT_NEEDS, _from_messages))
FORMATS.register("prompt_completion", RowFormat("sft", ("prompt", "completion"), SFT_NEEDS, _from_prompt_completion))
FORMATS.register("preference", RowFormat("preference", ("chosen", "rejected"), PREFERENCE_NEEDS, _from_preference))
FORMATS.register(
    "sharegpt",
    RowFormat(
        "sft", ("conversations",), "ShareGPT rows need 'conversations', a list of {from, value} turns", _from_sharegpt
    ),
)
FORMATS.register("auto", RowFormat(None, (), "", _auto))
FORMATS.register(
    "alpaca",
    RowFormat("sft", ("instruction", "output"), "Alpaca rows need 'instruction' and 'output'", alpaca_to_sft),
)
FORMATS.register(
    "gsm8k", RowFormat("sft", ("question", "answer"), "GSM8K rows need 'question' and 'answer'", gsm8k_to_sft)
)
FORMATS.register(
    "glaive",
    RowFormat("sft", ("conversations", "tools"), "Glaive rows need 'conversations' and 'tools'", glaive_to_sft),
)


def convert_rows(located: Located, kind: Kind, format: str = "auto", source: str = "data") -> Located:
    """Rows in the canonical form of `kind`; a converter may turn one row into several (or none)."""
    if not located:
        raise LamdagentError(f"{source}: no rows; the data is empty, add at least one row")
    name = detect_format(located, source) if format == "auto" else format
    fmt = FORMATS.get(name)
    if fmt.kind != kind:
        how = "the rows look like" if format == "auto" else "the"
        raise LamdagentError(
            f"{source}: {how} format {name!r} gives {fmt.kind} rows, but the dataset's kind is {kind!r}; "
            "change the kind or the format"
        )
    out: Located = []
    for where, row in located:
        for key in fmt.keys:
            if key not in row:
                raise LamdagentError(f"{source} {where}: field {key!r} is missing; {fmt.needs}")
        try:
            result = fmt.convert(row)
        except RowError as exc:
            raise LamdagentError(f"{source} {where}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise LamdagentError(
                f"{source} {where}: format {name!r} cannot convert this row ({type(exc).__name__}: {exc}); {fmt.needs}"
            ) from None
        out.extend((where, r) for r in (result if isinstance(result, list) else [result]))
    if not out:
        raise LamdagentError(f"{source}: format {name!r} kept no rows; check that the data has answers to train on")
    return out


# ---------------------------------------------------------------- validation


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def _check_messages(value: Any, field: str) -> list[Row]:
    if not isinstance(value, list):
        raise RowError(
            field,
            f'is {_type(value)}; it must be a string or a list of messages like [{{"role": "user", "content": "..."}}]',
        )
    if not value:
        raise RowError(field, "is an empty list; give at least one message")
    for i, message in enumerate(value):
        at = f"{field}[{i}]"
        if not isinstance(message, dict):
            raise RowError(at, f"is {_type(message)}; a message is an object with 'role' and 'content'")
        for key in ("role", "content"):
            if key not in message:
                raise RowError(f"{at}.{key}", "is missing; a message is an object with 'role' and 'content'")
        role = message["role"]
        if role not in ROLES:
            hint = "; use format 'glaive' for tool calls" if role in ("function_call", "observation") else ""
            raise RowError(f"{at}.role", f"is {role!r}; roles are {', '.join(ROLES)}{hint}")
        if not isinstance(message["content"], str):
            raise RowError(f"{at}.content", f"is {_type(message['content'])}; content must be a string")
    return value


def _check_answer(value: Any, field: str) -> None:
    """An answer: assistant messages only, with some text to learn."""
    messages = _check_messages(value, field)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            raise RowError(f"{field}[{i}].role", f"is {message['role']!r}; {field!r} holds only the assistant's answer")
    if not any(m["content"].strip() for m in messages):
        raise RowError(field, "has empty content; the answer needs text")


def check_row(row: Row, kind: Kind) -> None:
    """Raise RowError if `row` is not a canonical row of `kind`."""
    if kind == "preference":
        for key in ("prompt", "chosen", "rejected"):
            if key not in row:
                raise RowError(key, f"is missing; {PREFERENCE_NEEDS}")
        _check_messages(row["prompt"], "prompt")
        _check_answer(row["chosen"], "chosen")
        _check_answer(row["rejected"], "rejected")
        return
    if "messages" in row:
        if "prompt" in row or "completion" in row:
            raise RowError("messages", "is given with 'prompt'/'completion'; use one form per row")
        messages = _check_messages(row["messages"], "messages")
        if len(messages) < 2:
            raise RowError("messages", "has one message; it needs the prompt and then the assistant's answer")
        last, at = messages[-1], f"messages[{len(messages) - 1}]"
        if last["role"] != "assistant":
            raise RowError(f"{at}.role", f"is {last['role']!r}; the last message must be the assistant's answer")
        if not last["content"].strip():
            raise RowError(f"{at}.content", "is empty; the answer needs text")
        return
    if "prompt" not in row and "completion" not in row:
        raise RowError("messages", f"is missing; {SFT_NEEDS}")
    for key in ("prompt", "completion"):
        if key not in row:
            raise RowError(key, f"is missing; {SFT_NEEDS}")
    _check_messages(row["prompt"], "prompt")
    _check_answer(row["completion"], "completion")


def validate_rows(located: Located, kind: Kind, source: str = "data") -> None:
    """Check every row; the error names the first bad row and counts the others."""
    first: str | None = None
    bad = 0
    for where, row in located:
        try:
            check_row(row, kind)
        except RowError as exc:
            bad += 1
            first = first or f"{source} {where}: {exc}"
    if first is not None:
        more = f" ({bad - 1} more rows have problems)" if bad > 1 else ""
        raise LamdagentError(first + more)


def load_rows(source: str, kind: Kind, format: str = "auto", split: str | None = None) -> list[Row]:
    """Read, convert and validate: the canonical rows of a user data source."""
    located = convert_rows(read_located(source, split), kind, format, source)
    validate_rows(located, kind, source)
    return [row for _, row in located]


# ---------------------------------------------------------------- materialisation


def _subset(count: int, size: int | None, seed: int, data_scale: float) -> list[int]:
    """Indices kept: a seeded sample of `size`, then its first `data_scale` fraction, so that a smaller
    scale is always a subset of a larger one (the paper explores on a fraction of the data)."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    if size is not None:
        order = order[:size]
    return sorted(order[: max(1, round(len(order) * data_scale))])


def _generate(source: str, kind: Kind, size: int | None, seed: int, data_scale: float) -> Located:
    generator = BUILTIN_DATA.get(source.removeprefix("builtin:"))
    n = max(1, round((size or DEFAULT_BUILTIN_SIZE) * data_scale))
    return [(f"row {i}", row) for i, row in enumerate(generator(kind, n, seed), 1)]


def _label(source: str) -> str:
    if source.startswith(("builtin:", "hf:")) or not Path(source).expanduser().exists():
        return source
    path = Path(source)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def valid_name(name: object) -> bool:
    """Whether `name` may name a dataset: it becomes `RUN/data/<name>.jsonl`, so it must stay a plain file name."""
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None and ".." not in name


def dataset_rows(
    source: str,
    kind: Kind,
    name: str,
    format: str = "auto",
    size: int | None = None,
    seed: int = 0,
    data_scale: float = 1.0,
    split: str | None = None,
) -> list[Row]:
    """The canonical rows `materialise` would write, with all of its checks; writes nothing, so a run can check
    every dataset before it creates its directory."""
    if not valid_name(name):
        raise LamdagentError(f"dataset name {name!r} is not a simple identifier; {NAME_RULE}")
    if kind not in ("sft", "preference"):
        raise LamdagentError(f"dataset {name!r}: kind {kind!r} is unknown; use 'sft' or 'preference'")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise LamdagentError(
            f"dataset {name!r}: size {size!r} must be a positive whole number (or omitted for all rows)"
        )
    if not isinstance(data_scale, int | float) or not 0 < data_scale <= 1:
        raise LamdagentError(f"dataset {name!r}: data_scale {data_scale!r} must be in (0, 1]")
    if source.startswith("builtin:"):
        if split is not None:
            raise LamdagentError(f"dataset {name!r}: 'split' does not apply to {source}; drop it")
        located = convert_rows(_generate(source, kind, size, seed, data_scale), kind, format, source)
        validate_rows(located, kind, source)
        return [row for _, row in located]
    located = convert_rows(read_located(source, split), kind, format, source)
    validate_rows(located, kind, source)
    return [located[i][1] for i in _subset(len(located), size, seed, data_scale)]


def write_dataset(
    rows: list[Row], kind: Kind, out_dir: str | Path, name: str, source: str = "", description: str = ""
) -> DatasetRef:
    """Write rows as `out_dir/<name>.jsonl` (atomically, and never anywhere but directly in `out_dir`)."""
    if not valid_name(name):
        raise LamdagentError(f"dataset name {name!r} is not a simple identifier; {NAME_RULE}")
    out = Path(out_dir).expanduser().resolve()
    target = out / f"{name}.jsonl"
    if target.parent != out:  # valid_name rules this out; kept so no later change can write elsewhere
        raise LamdagentError(f"dataset name {name!r} would write outside {out}; {NAME_RULE}")
    out.mkdir(parents=True, exist_ok=True)
    data = write_jsonl(target, rows)
    kind_text = "SFT" if kind == "sft" else "preference"
    return DatasetRef(
        id=name,
        kind=kind,
        path=str(target),
        fingerprint=hashlib.sha256(data).hexdigest(),
        rows=len(rows),
        description=description or f"{len(rows)} {kind_text} rows from {_label(source)}",
    )


def materialise(
    source: str, kind: Kind, out_dir: str | Path, name: str, description: str = "", **options: Any
) -> DatasetRef:
    """Write `out_dir/<name>.jsonl` in canonical form and return its pool object (`options`: those of
    `dataset_rows`: format, size, seed, data_scale, split).

    `source` is a file, a saved datasets directory, a hub id, or `builtin:<generator>`. The fingerprint is the
    sha256 of the written bytes, so the same data always gives the same fingerprint (and cache keys).
    """
    rows = dataset_rows(source, kind, name, **options)
    return write_dataset(rows, kind, out_dir, name, source=source, description=description)
