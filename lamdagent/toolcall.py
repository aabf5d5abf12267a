"""The one tool-call text format used by training data, prompts and the checker.

Tools are shown in a system message as JSON schemas; each call is a line
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (the Hermes/Qwen convention); an answer with no
such line makes no call.
"""

from __future__ import annotations

import json
import re
from typing import Any

TOOL_CALL_RE = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)

SYSTEM_TEMPLATE = (
    "You can call these functions. To call one, answer with one line per call:\n"
    '<tool_call>{{"name": "<function name>", "arguments": {{<arguments as JSON>}}}}</tool_call>\n'
    "If no function fits the request, answer in plain text without any call.\n"
    "Functions:\n{tools}"
)


def tools_system_message(tools: list[dict[str, Any]]) -> dict[str, str]:
    """The system message that lists the available functions."""
    listing = "\n".join(json.dumps(t, ensure_ascii=False, sort_keys=True) for t in tools)
    return {"role": "system", "content": SYSTEM_TEMPLATE.format(tools=listing)}


def format_tool_calls(calls: list[dict[str, Any]]) -> str:
    """Render calls `[{"name": ..., "arguments": {...}}]` as the assistant's answer text."""
    return "\n".join(
        "<tool_call>"
        + json.dumps({"name": c["name"], "arguments": c.get("arguments", {})}, ensure_ascii=False)
        + "</tool_call>"
        for c in calls
    )


def parse_tool_calls(text: str) -> list[dict[str, Any]] | None:
    """Calls found in an answer: [] when it makes none, None when a call block is not valid JSON."""
    calls = []
    for block in TOOL_CALL_RE.findall(text):
        try:
            obj = json.loads(block)
        except json.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return None
        args = obj.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                return None
        if not isinstance(args, dict):
            return None
        calls.append({"name": obj["name"], "arguments": args})
    return calls
