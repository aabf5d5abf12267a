"""The AST checker on hand-written answers: right and wrong for every category and every type rule."""

from __future__ import annotations

import pytest

from lamdagent.checkers.function_call import (
    canonical_calls,
    check_parsed_calls,
    check_tool_calls,
    normalize_string,
)
from lamdagent.errors import LamdagentError
from lamdagent.toolcall import format_tool_calls

WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "threshold": {"type": "number"},
            "hourly": {"type": "boolean"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "fields": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city", "days"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Local time",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
FUNCTIONS = [WEATHER, TIME]
REFERENCE = [
    {
        "get_weather": {
            "city": ["New York", "NYC"],
            "days": [3],
            "threshold": [2.5],
            "hourly": ["", False],
            "unit": ["celsius", ""],
            "fields": [["wind", "rain"], ""],
        }
    }
]


def call(name: str = "get_weather", **arguments: object) -> str:
    return format_tool_calls([{"name": name, "arguments": arguments}])


def check(answer: str, reference: list = REFERENCE, functions: list | None = FUNCTIONS) -> tuple[bool, str]:
    result = check_tool_calls(answer, reference, functions)
    return result.correct, result.reason


def test_normalize_string_drops_case_spaces_and_bfcl_punctuation() -> None:
    assert normalize_string("April 1, 2024") == normalize_string("april 1 2024") == "april12024"
    assert normalize_string("New-York_City.") == "newyorkcity"
    assert normalize_string("it's") == 'it"s'
    assert normalize_string("Paris") != normalize_string("Pariss")


# --- simple -------------------------------------------------------------------------------------------------


def test_simple_right_with_and_without_optional_arguments() -> None:
    assert check(call(city="New York", days=3, threshold=2.5))[0]
    assert check(call(city="nyc", days=3, threshold=2.5, hourly=False, unit="Celsius", fields=["wind", "rain"]))[0]
    # text around the call does not matter
    assert check("Sure! " + call(city="New York", days=3, threshold=2.5) + " Done.")[0]


def test_simple_wrong_name_missing_unexpected_and_wrong_value() -> None:
    ok, reason = check(call("get_time", city="New York"))
    assert not ok and "get_time" in reason
    ok, reason = check(call(city="New York", threshold=2.5))
    assert not ok and "missing required argument 'days'" in reason
    ok, reason = check(call(city="New York", days=3, threshold=2.5, country="US"))
    assert not ok and "unexpected argument 'country'" in reason
    ok, reason = check(call(city="Boston", days=3, threshold=2.5))
    assert not ok and "'city'" in reason
    ok, reason = check(call(city="New York", days=3, threshold=2.5, unit="fahrenheit"))
    assert not ok and "'unit'" in reason


def test_argument_required_by_reference_but_not_schema_must_be_present() -> None:
    ok, reason = check(call(city="New York", days=3))  # threshold has no "" in the reference
    assert not ok and "missing argument 'threshold'" in reason


def test_string_normalisation_in_values() -> None:
    assert check(call(city="new york", days=3, threshold=2.5))[0]
    assert check(call(city="New-York.", days=3, threshold=2.5))[0]
    assert not check(call(city="New Yorkshire", days=3, threshold=2.5))[0]


# --- type rules ---------------------------------------------------------------------------------------------


def test_integer_is_accepted_where_a_number_is_expected() -> None:
    reference = [{"get_weather": {"city": ["Rome"], "days": [3], "threshold": [2.0]}}]
    assert check(call(city="Rome", days=3, threshold=2), reference)[0]
    assert check(call(city="Rome", days=3, threshold=2.0), reference)[0]


def test_float_or_numeric_string_is_rejected_where_an_integer_is_expected() -> None:
    ok, reason = check(call(city="New York", days=3.0, threshold=2.5))
    assert not ok and "should be integer" in reason
    ok, reason = check(call(city="New York", days="3", threshold=2.5))
    assert not ok and "should be integer" in reason


def test_booleans_are_strict() -> None:
    ok, reason = check(call(city="New York", days=3, threshold=2.5, hourly=0))
    assert not ok and "should be boolean" in reason
    ok, _ = check(call(city="New York", days=3, threshold=2.5, hourly="false"))
    assert not ok
    ok, reason = check(call(city="New York", days=True, threshold=2.5))  # True is an int in Python, not here
    assert not ok and "should be integer" in reason
    # without a schema, booleans still never equal numbers
    assert not check(call(city="New York", days=3, threshold=2.5, hourly=0), functions=None)[0]


def test_arrays_are_checked_element_by_element() -> None:
    assert check(call(city="New York", days=3, threshold=2.5, fields=["Wind", "rain"]))[0]
    assert not check(call(city="New York", days=3, threshold=2.5, fields=["rain", "wind"]))[0]  # order matters
    assert not check(call(city="New York", days=3, threshold=2.5, fields=["wind"]))[0]
    ok, reason = check(call(city="New York", days=3, threshold=2.5, fields=["wind", 7]))
    assert not ok and "should be array" in reason
    ok, reason = check(call(city="New York", days=3, threshold=2.5, fields="wind, rain"))
    assert not ok and "should be array" in reason


def test_bfcl_type_names_dict_float_tuple_any() -> None:
    doc = {
        "name": "f",
        "parameters": {
            "type": "dict",
            "properties": {
                "budget": {"type": "dict", "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}},
                "rate": {"type": "float"},
                "point": {"type": "tuple", "items": {"type": "integer"}},
                "anything": {"type": "any"},
            },
            "required": ["budget", "rate", "point"],
        },
    }
    reference = [
        {
            "f": {
                "budget": [{"min": [300000], "max": [400000, ""]}],
                "rate": [3.0],
                "point": [[1, 2]],
                "anything": ["x", ""],
            }
        }
    ]
    good = call("f", budget={"min": 300000, "max": 400000}, rate=3, point=[1, 2], anything="x")
    assert check(good, reference, [doc])[0]
    assert check(call("f", budget={"min": 300000}, rate=3.0, point=[1, 2]), reference, [doc])[0]
    assert not check(call("f", budget={"max": 400000}, rate=3.0, point=[1, 2]), reference, [doc])[0]
    assert not check(call("f", budget={"min": 300000, "cap": 1}, rate=3.0, point=[1, 2]), reference, [doc])[0]
    assert not check(call("f", budget=[300000, 400000], rate=3.0, point=[1, 2]), reference, [doc])[0]
    assert not check(call("f", budget={"min": 300000}, rate="3", point=[1, 2]), reference, [doc])[0]
    assert not check(call("f", budget={"min": 300000}, rate=3.0, point=[1.5, 2]), reference, [doc])[0]


def test_list_of_objects_is_matched_item_by_item() -> None:
    reference = [{"q": {"conditions": [[{"field": ["age"], "op": [">"]}, {"field": ["job"], "op": ["="]}]]}}]
    good = call("q", conditions=[{"field": "age", "op": ">"}, {"field": "Job", "op": "="}])
    assert check(good, reference, None)[0]
    assert not check(call("q", conditions=[{"field": "age", "op": ">"}]), reference, None)[0]
    assert not check(call("q", conditions=[{"field": "job", "op": "="}, {"field": "age", "op": ">"}]), reference)[0]


def test_bfcl_variable_case_reference_of_another_type_than_the_schema() -> None:
    doc = {"name": "f", "parameters": {"type": "dict", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}
    reference = [{"f": {"n": ["count"]}}]  # the answer passes a variable name where an integer is declared
    assert check(call("f", n="count"), reference, [doc])[0]
    assert not check(call("f", n="total"), reference, [doc])[0]
    # BFCL data where the reference disagrees with the schema: strings in an integer list, a flag for a string
    doc_list = {"name": "g", "parameters": {"properties": {"xs": {"type": "array", "items": {"type": "integer"}}}}}
    assert check(call("g", xs=["a", "b"]), [{"g": {"xs": [["a", "b"]]}}], [doc_list])[0]
    assert not check(call("g", xs=["a", "c"]), [{"g": {"xs": [["a", "b"]]}}], [doc_list])[0]
    doc_flag = {"name": "h", "parameters": {"properties": {"venue": {"type": "string"}}}}
    assert check(call("h", venue=True), [{"h": {"venue": ["", True]}}], [doc_flag])[0]
    assert not check(call("h", venue=1), [{"h": {"venue": ["", True]}}], [doc_flag])[0]


# --- multiple, parallel, irrelevance ------------------------------------------------------------------------


def test_multiple_right_function_among_several_offered() -> None:
    reference = [{"get_time": {"city": ["Tokyo"]}}]
    assert check(call("get_time", city="Tokyo"), reference)[0]
    ok, reason = check(call("get_weather", city="Tokyo", days=1, threshold=1.0), reference)
    assert not ok and "instead of 'get_time'" in reason
    ok, reason = check(call("get_time", city="Tokyo") + "\n" + call("get_time", city="Tokyo"), reference)
    assert not ok and "expected 1" in reason


def test_parallel_calls_match_in_any_order() -> None:
    reference = [{"get_time": {"city": ["Tokyo"]}}, {"get_time": {"city": ["Lima"]}}]
    tokyo, lima = call("get_time", city="Tokyo"), call("get_time", city="Lima")
    assert check(f"{tokyo}\n{lima}", reference)[0]
    assert check(f"{lima}\n{tokyo}", reference)[0]
    ok, reason = check(tokyo, reference)
    assert not ok and "expected 2" in reason
    ok, reason = check(f"{tokyo}\n{tokyo}", reference)
    assert not ok and "Lima" in reason


def test_parallel_matching_is_not_greedy() -> None:
    # The first expected call accepts both answers; a greedy pairing would take Paris and strand London.
    reference = [{"get_time": {"city": ["Paris", "London"]}}, {"get_time": {"city": ["Paris"]}}]
    answer = call("get_time", city="Paris") + "\n" + call("get_time", city="London")
    assert check(answer, reference)[0]


def test_parallel_with_two_functions() -> None:
    reference = [{"get_time": {"city": ["Lima"]}}, {"get_weather": {"city": ["Lima"], "days": [2]}}]
    weather, time = call(city="Lima", days=2), call("get_time", city="Lima")
    assert check(f"{weather}\n{time}", reference)[0]
    ok, reason = check(f"{weather}\n{call('get_time', city='Quito')}", reference)
    assert not ok and "'city'" in reason


def test_irrelevance_right_iff_no_call() -> None:
    assert check("None of my functions can do that.", [])[0]
    assert check("", [])[0]
    ok, reason = check(call("get_time", city="Lima"), [])
    assert not ok and "no function fits" in reason
    ok, _ = check("<tool_call>{not json}</tool_call>", [])
    assert not ok


def test_malformed_or_missing_calls_are_wrong() -> None:
    ok, reason = check('<tool_call>{"name": "get_time", "arguments": {</tool_call>', [{"get_time": {"city": ["Lima"]}}])
    assert not ok and "not a JSON object" in reason
    ok, reason = check("The time in Lima is noon.", [{"get_time": {"city": ["Lima"]}}])
    assert not ok and "made no call" in reason
    ok, _ = check('{"name": "get_time", "arguments": {"city": "Lima"}}', [{"get_time": {"city": ["Lima"]}}])
    assert not ok  # a bare JSON object is not the call format


def test_canonical_calls_are_right_and_leave_optional_arguments_out() -> None:
    calls = canonical_calls(REFERENCE)
    assert calls == [{"name": "get_weather", "arguments": {"city": "New York", "days": 3, "threshold": 2.5}}]
    assert check_parsed_calls(calls, REFERENCE, FUNCTIONS).correct
    full = canonical_calls(REFERENCE, FUNCTIONS, with_optional=True)[0]["arguments"]
    assert full["hourly"] is False and full["unit"] == "celsius" and full["fields"] == ["wind", "rain"]
    assert check_parsed_calls(canonical_calls(REFERENCE, FUNCTIONS, True), REFERENCE, FUNCTIONS).correct


def test_canonical_calls_keep_arguments_the_schema_requires() -> None:
    reference = [{"get_time": {"city": ["Lima", ""]}}]  # a reference that wrongly marks a required arg optional
    assert canonical_calls(reference) == [{"name": "get_time", "arguments": {}}]
    assert canonical_calls(reference, FUNCTIONS) == [{"name": "get_time", "arguments": {"city": "Lima"}}]


@pytest.mark.parametrize("reference", [{"get_time": {}}, [{"a": {}, "b": {}}], [{"a": ["x"]}]])
def test_malformed_reference_raises_one_line_error(reference: object) -> None:
    with pytest.raises(LamdagentError) as err:
        check_tool_calls(call("a"), reference)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)
