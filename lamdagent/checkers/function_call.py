"""Judge a tool-call answer against BFCL-style possible answers: an AST check, nothing is executed.

A reference is a list of expected calls, each `{function_name: {argument: [acceptable values]}}` (the form of
BFCL's `possible_answer` files); `[]` means no function fits, so the right answer makes no call. In an
acceptable-values list, `""` means the argument may be left out. A nested object argument is written the same
way (`{key: [acceptable values]}`), and a list of such objects is matched element by element.

Rules, as BFCL's AST checker: the function names must match; every required argument is present; no argument
outside the reference; types follow the schema (an integer is accepted where a number is expected, booleans
are never numbers, arrays are checked element by element); strings are compared after removing case,
whitespace and the punctuation `,./-_*^`; parallel calls may come in any order. The schema may use JSON-schema
type names or BFCL's (`dict`, `float`, `tuple`, `any`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.toolcall import parse_tool_calls

OPTIONAL = ""  # in an acceptable-values list: the argument may be absent

_IGNORED_CHARS = re.compile(r"[\s,./\-_*^]")
# BFCL and Python spellings of JSON-schema types; None: any value.
_TYPE_ALIASES: dict[str, str | None] = {
    "float": "number",
    "double": "number",
    "int": "integer",
    "str": "string",
    "bool": "boolean",
    "dict": "object",
    "list": "array",
    "tuple": "array",
    "any": None,
}


@dataclass(frozen=True)
class CallCheck:
    """The verdict on one answer and, when wrong, the first reason found."""

    correct: bool
    reason: str


def normalize_string(text: str) -> str:
    """Lower case, no whitespace, no `,./-_*^`, single quotes as double: "April 1, 2024" == "april 1 2024"."""
    return _IGNORED_CHARS.sub("", text).lower().replace("'", '"')


def check_tool_calls(
    answer: str, reference: list[dict[str, Any]], functions: list[dict[str, Any]] | None = None
) -> CallCheck:
    """Whether the answer text makes exactly the expected calls; `functions` (the offered schemas) adds type checks."""
    calls = parse_tool_calls(answer)
    if calls is None:
        return CallCheck(False, "a <tool_call> block is not a JSON object with a name and arguments")
    return check_parsed_calls(calls, reference, functions)


def check_parsed_calls(
    calls: list[dict[str, Any]], reference: list[dict[str, Any]], functions: list[dict[str, Any]] | None = None
) -> CallCheck:
    """`check_tool_calls` on calls already parsed into `[{"name", "arguments"}]`."""
    expected = _expected_calls(reference)
    if not expected:
        if calls:
            return CallCheck(False, f"made {len(calls)} call(s) where no function fits")
        return CallCheck(True, "no call, as expected")
    if not calls:
        return CallCheck(False, f"made no call; expected {len(expected)}")
    if len(calls) != len(expected):
        return CallCheck(False, f"made {len(calls)} call(s); expected {len(expected)}")
    docs = {f["name"]: f for f in functions or [] if isinstance(f, dict) and "name" in f}
    errors = [[_check_call(call, name, args, docs.get(name)) for call in calls] for name, args in expected]
    if _perfect_matching(errors):
        return CallCheck(True, "all calls match")
    return CallCheck(False, _first_failure(errors, expected, calls))


def canonical_calls(
    reference: list[dict[str, Any]], functions: list[dict[str, Any]] | None = None, with_optional: bool = False
) -> list[dict[str, Any]]:
    """One right answer for a reference: the first acceptable value of each argument. Arguments that may be
    left out are left out (unless `with_optional`), except those the schema in `functions` requires; with
    `with_optional`, arguments the schema does not declare are left out too."""
    docs = {f["name"]: f.get("parameters") or {} for f in functions or [] if isinstance(f, dict) and "name" in f}
    calls = []
    for name, args in _expected_calls(reference):
        params = docs.get(name)
        required = set(params.get("required") or []) if params is not None else set()
        declared = params.get("properties") if params is not None else None
        picked = {}
        for key, options in args.items():
            options = _as_options(options)
            usable = [o for o in options if o != OPTIONAL and o is not None]
            keep = with_optional and usable and (declared is None or key in declared)
            if OPTIONAL in options and key not in required and not keep:
                continue
            picked[key] = _pick_value(usable[0] if usable else options[0])
        calls.append({"name": name, "arguments": picked})
    return calls


def _pick_arguments(args: dict[str, Any]) -> dict[str, Any]:
    """A nested object's first acceptable values, optional keys left out."""
    picked = {}
    for key, options in args.items():
        options = _as_options(options)
        usable = [o for o in options if o != OPTIONAL and o is not None]
        if OPTIONAL not in options:
            picked[key] = _pick_value(usable[0] if usable else options[0])
    return picked


def _pick_value(value: Any) -> Any:
    if isinstance(value, dict):
        return _pick_arguments(value)
    if isinstance(value, list):
        return [_pick_value(v) for v in value]
    return value


def _expected_calls(reference: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(reference, list):
        raise LamdagentError(f"a tool-call reference must be a list of {{name: {{arg: [values]}}}}; got {reference!r}")
    out = []
    for entry in reference:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise LamdagentError(f"a tool-call reference entry must have exactly one function name; got {entry!r}")
        ((name, args),) = entry.items()
        if not isinstance(args, dict):
            raise LamdagentError(f"the arguments of {name!r} in a reference must be an object; got {args!r}")
        out.append((name, args))
    return out


def _check_call(call: dict[str, Any], name: str, expected: dict[str, Any], doc: dict[str, Any] | None) -> str | None:
    """None when the call matches; otherwise why not."""
    if call["name"] != name:
        return f"called {call['name']!r} instead of {name!r}"
    args = call["arguments"]
    params = (doc or {}).get("parameters") or {}
    properties: dict[str, Any] | None = params.get("properties") if doc is not None else None
    for key in params.get("required") or []:
        if key not in args:
            return f"{name}: missing required argument {key!r}"
    for key in args:
        if key not in expected or (properties is not None and key not in properties):
            return f"{name}: unexpected argument {key!r}"
    for key, value in args.items():
        schema = properties.get(key) if properties is not None else None
        error = _check_argument(key, value, _as_options(expected[key]), schema)
        if error:
            return f"{name}: {error}"
    for key, options in expected.items():
        if key not in args and OPTIONAL not in _as_options(options):
            return f"{name}: missing argument {key!r}"
    return None


def _check_argument(key: str, value: Any, options: list[Any], schema: dict[str, Any] | None) -> str | None:
    if (
        isinstance(schema, dict)
        and not _fits(value, schema)
        # BFCL's "variable" case: where the reference itself disagrees with the schema (a variable name as
        # text, strings in a list declared as integers), an answer equal to the reference is not a type error.
        and not any(o != OPTIONAL and not _fits(o, schema) and _matches(value, o) for o in options)
    ):
        return f"argument {key!r} should be {_describe(schema)}, got {_kind(value)} {value!r}"
    if not any(_matches(value, o) for o in options):
        shown = [o for o in options if o != OPTIONAL][:4]
        return f"argument {key!r} is {value!r}; expected one of {shown}"
    return None


def _as_options(options: Any) -> list[Any]:
    return options if isinstance(options, list) else [options]


def _type_of(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # JSON schema allows a list of types; take the first that is not null
        kind = next((k for k in kind if k != "null"), None)
    if not isinstance(kind, str):
        return None
    return _TYPE_ALIASES.get(kind, kind)


def _describe(schema: dict[str, Any]) -> str:
    kind = _type_of(schema) or "any"
    items = schema.get("items")
    return f"{kind} of {_describe(items)}" if kind == "array" and isinstance(items, dict) else kind


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    """The schema's type check; unknown or absent types accept anything."""
    kind = _type_of(schema)
    if kind is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "null":
        return value is None
    if kind == "array":
        items = schema.get("items")
        return isinstance(value, list) and (not isinstance(items, dict) or all(_fits(v, items) for v in value))
    return True


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def _matches(value: Any, accepted: Any) -> bool:
    """Type-aware equality: strings normalised, ints equal to floats, booleans only to booleans."""
    if isinstance(accepted, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(accepted, bool) and value == accepted
    if isinstance(accepted, int | float):
        return isinstance(value, int | float) and value == accepted
    if isinstance(accepted, str):
        return isinstance(value, str) and normalize_string(value) == normalize_string(accepted)
    if isinstance(accepted, list):
        return (
            isinstance(value, list)
            and len(value) == len(accepted)
            and all(_matches(v, a) for v, a in zip(value, accepted, strict=True))
        )
    if isinstance(accepted, dict):
        return isinstance(value, dict) and _object_matches(value, accepted)
    return value == accepted


def _object_matches(value: dict[str, Any], accepted: dict[str, Any]) -> bool:
    """A nested object: each key's value among its acceptable ones, keys without `""` required."""
    for key, v in value.items():
        if key not in accepted or not any(_matches(v, o) for o in _as_options(accepted[key])):
            return False
    return all(key in value or OPTIONAL in _as_options(opts) for key, opts in accepted.items())


def _perfect_matching(errors: list[list[str | None]]) -> bool:
    """Whether each expected call pairs with a distinct matching answer call (order free)."""
    n = len(errors)

    def assign(i: int, used: frozenset[int]) -> bool:
        if i == n:
            return True
        return any(errors[i][j] is None and j not in used and assign(i + 1, used | {j}) for j in range(n))

    return assign(0, frozenset())


def _first_failure(
    errors: list[list[str | None]], expected: list[tuple[str, dict[str, Any]]], calls: list[dict[str, Any]]
) -> str:
    for i, (name, _) in enumerate(expected):
        if all(e is not None for e in errors[i]):
            same_name = [errors[i][j] for j, c in enumerate(calls) if c["name"] == name]
            if same_name:
                return same_name[0]  # type: ignore[return-value]
            return errors[i][0] if len(calls) == 1 else f"no call to {name!r}"  # type: ignore[return-value]
    return "the calls cannot be paired one to one with the expected calls"
