"""The one exception type users see: a single line naming the thing at fault and the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class LamdagentError(Exception):
    """A user-facing error; the CLI prints its message alone, without a traceback."""


def one_line(exc: ValidationError, where: str, known: list[str] | None = None) -> str:
    """A pydantic error as one line: `where.field: message`, and for an unknown key the accepted ones.

    Every place that validates user input (config, plug-in options, action parameters, LLM settings) uses
    this, so all of them name the field the same way.
    """
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    key = f"{where}.{loc}" if where and loc else where or loc
    msg = str(err["msg"]).removeprefix("Value error, ")
    hint = ""
    if err["type"] == "extra_forbidden":
        hint = "; remove it or fix its spelling" + (f" (accepted: {', '.join(sorted(known))})" if known else "")
    return f"{key}: {msg}{hint}" if key else f"{msg}{hint}"
