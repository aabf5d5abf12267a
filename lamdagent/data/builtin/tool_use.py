"""The built-in tool-use suite: seeded requests over the function catalogue, in four disjoint splits.

Categories follow BFCL: `simple` (one tool offered, one call), `multiple` (pick the right tool among 2-4),
`parallel` (two calls in one request) and `irrelevance` (no offered tool fits; answer in plain text).
A request belongs to one split only: its normalised text is hashed into a bucket that fixes the split, so the
splits stay disjoint for every seed and size. One test row in four is held out: it uses a function or a
request template that no other split ever shows (tagged `"heldout": true`).

Also here: `glaive_to_sft`, which turns a LLaMA-Factory ShareGPT tool conversation into canonical SFT rows.
"""

from __future__ import annotations

import itertools
import json
import random
import string
from dataclasses import dataclass
from typing import Any

from lamdagent.checkers.function_call import OPTIONAL, check_tool_calls, normalize_string
from lamdagent.data.builtin import BUILTIN_DATA, HashSplits
from lamdagent.data.builtin.tool_catalogue import (
    CATALOGUE,
    CHITCHAT,
    CHITCHAT_HELDOUT,
    CHITCHAT_REPLIES,
    PET_NAMES,
    POOLS,
    REFUSALS,
    STORY_SUMMARIES,
    Param,
    Template,
    ToolSpec,
    pool_phrasings,
    pool_value,
)
from lamdagent.errors import LamdagentError
from lamdagent.toolcall import format_tool_calls, tools_system_message

CATEGORIES = ("simple", "multiple", "parallel", "irrelevance")
# Row i gets category _CYCLE[i % 10]: 3 simple, 3 multiple, 2 parallel, 2 irrelevance, any prefix balanced.
_CYCLE = (
    "simple", "multiple", "parallel", "irrelevance", "multiple",
    "simple", "irrelevance", "multiple", "simple", "parallel",
)  # fmt: skip
HELDOUT_EVERY = 4  # in `test`, rows 3, 7, 11, ... are held out
# A request's hash (of its `request_key`) fixes its split: 60% sft, 20% preference, 10% + 10%.
BUCKETS = HashSplits("tool_use", {"sft": 12, "preference": 4, "validation": 2, "test": 2}, algorithm="sha256")
SPLITS = tuple(BUCKETS.ranges)
_MAX_TRIES = 2000

SEEN_TOOLS = tuple(t for t in CATALOGUE if not t.heldout)
HELDOUT_TOOLS = tuple(t for t in CATALOGUE if t.heldout)
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_JOINS = ("{a} {b}", "{a} Also, {b}", "{a} And {b}", "{a} Then {b}")
_MISTAKES = {
    "simple": ("wrong_value", "wrong_value", "missing_required", "wrong_type", "refusal"),
    "multiple": ("wrong_function", "wrong_function", "wrong_value", "missing_required", "wrong_type"),
    "parallel": ("only_one", "only_one", "wrong_value", "missing_required", "wrong_type"),
    "irrelevance": ("spurious_call",),
}


@dataclass
class _Call:
    tool: ToolSpec
    args: dict[str, Any]  # the right answer's arguments
    accepted: dict[str, list[Any]]  # the reference: acceptable values per argument


@dataclass
class _Draft:
    category: str
    offered: list[ToolSpec]
    user: str
    calls: list[_Call]
    heldout: bool
    reply: str = ""  # the plain-text answer of a request no function serves but the assistant can

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.offered]

    def reference(self) -> list[dict[str, Any]]:
        return [{c.tool.name: c.accepted} for c in self.calls]

    def answer(self, rng: random.Random) -> str:
        if not self.calls:
            refusal = rng.choice(REFUSALS)  # drawn either way, so the rows after this one stay the same
            return self.reply or refusal
        return format_tool_calls([{"name": c.tool.name, "arguments": c.args} for c in self.calls])


def generate(split: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` rows of a split (see the module doc for the formats); the same arguments give the same rows."""
    BUCKETS.check(split)
    if not isinstance(n, int) or n < 0:
        raise LamdagentError(f"tool_use: the number of rows must be a non-negative integer, got {n!r}")
    rng = random.Random(f"tool_use:{seed}:{split}")
    seen: set[str] = set()
    rows = []
    for i in range(n):
        category = _CYCLE[i % len(_CYCLE)]
        heldout = split == "test" and i % HELDOUT_EVERY == HELDOUT_EVERY - 1
        draft = _draw_unique(category, heldout, split, rng, seen)
        rows.append(_row(split, i, draft, rng))
    return rows


def request_key(text: str) -> str:
    """The identity of a request across splits: case and spacing do not make a new request."""
    return " ".join(text.lower().split())


def split_of(text: str) -> str:
    """The split a (not held-out) request belongs to."""
    return BUCKETS.split_of(request_key(text))


def _row(split: str, i: int, draft: _Draft, rng: random.Random) -> dict[str, Any]:
    prompt = [tools_system_message(draft.schemas()), {"role": "user", "content": draft.user}]
    if split == "sft":
        return {"prompt": prompt, "completion": [{"role": "assistant", "content": draft.answer(rng)}]}
    if split == "preference":
        return {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": draft.answer(rng)}],
            "rejected": [{"role": "assistant", "content": _rejected(draft, rng)}],
        }
    return {
        "id": f"tool_use-{split}-{i:05d}",
        "messages": prompt,
        "reference": draft.reference(),
        "category": draft.category,
        "heldout": draft.heldout,
        "tools": draft.schemas(),
    }


def _draw_unique(category: str, heldout: bool, split: str, rng: random.Random, seen: set[str]) -> _Draft:
    for _ in range(_MAX_TRIES):
        draft = _draft(category, heldout, rng)
        key = request_key(draft.user)
        # Held-out requests come from templates no other split uses, so they need no bucket.
        if key in seen or (not heldout and split_of(draft.user) != split):
            continue
        seen.add(key)
        return draft
    raise LamdagentError(f"tool_use: could not draw {len(seen) + 1} distinct {split} rows; ask for fewer rows")


def _draft(category: str, heldout: bool, rng: random.Random) -> _Draft:
    pool = CATALOGUE if heldout else SEEN_TOOLS  # tools that may be offered
    if category == "simple":
        tool, template = _pick(rng, heldout)
        text, call = _fill(tool, template, rng)
        return _Draft(category, [tool], text, [call], heldout)
    if category == "multiple":
        tool, template = _pick(rng, heldout)
        text, call = _fill(tool, template, rng)
        offered = [tool, *_distractors(pool, [tool], rng.randint(1, 3), rng)]
        rng.shuffle(offered)
        return _Draft(category, offered, text, [call], heldout)
    if category == "parallel":
        return _parallel(heldout, pool, rng)
    return _irrelevance(heldout, pool, rng)


def _parallel(heldout: bool, pool: tuple[ToolSpec, ...], rng: random.Random) -> _Draft:
    first, template = _pick(rng, heldout)
    text_a, call_a = _fill(first, template, rng)
    if rng.random() < 0.5:  # the same function twice, as BFCL's `parallel`
        second = first
        for _ in range(20):
            text_b, call_b = _fill(first, rng.choice(_templates(first, heldout)), rng)
            if call_b.args != call_a.args:
                break
        offered = [first]
    else:  # two functions, as BFCL's `parallel_multiple`
        second, template_b = _pick(rng, heldout, avoid=(first,))
        text_b, call_b = _fill(second, template_b, rng)
        offered = [first, second]
    if rng.random() < 0.5:
        offered += _distractors(pool, [first, second], 1, rng)
    rng.shuffle(offered)
    join = rng.choice(_JOINS)
    text = join.format(a=text_a, b=text_b if join == "{a} {b}" else _lower_first(text_b))
    return _Draft("parallel", offered, text, [call_a, call_b], heldout)


def _irrelevance(heldout: bool, pool: tuple[ToolSpec, ...], rng: random.Random) -> _Draft:
    if rng.random() < 0.5:  # a request for a function that is not offered
        wanted, template = _pick(rng, heldout)
        text, _ = _fill(wanted, template, rng)
        others = [t for t in pool if t.domain != wanted.domain]
        reply = ""  # declined: see REFUSALS
    else:  # a request no function serves
        templates = CHITCHAT[-CHITCHAT_HELDOUT:] if heldout else CHITCHAT[:-CHITCHAT_HELDOUT]
        chosen = rng.choice(templates)
        slots = {name: rng.choice(pool_phrasings(rng.choice(POOLS[name]))) for name in _placeholders(chosen)}
        text = chosen.format(**slots)
        others = list(pool)
        reply = chitchat_reply(chosen, slots, text)
    offered = rng.sample(others, rng.randint(1, 3))
    return _Draft("irrelevance", offered, text, [], heldout, reply=reply)


def chitchat_reply(template: str, slots: dict[str, str], text: str) -> str:
    """A plain-text answer to a chit-chat request, chosen by the request's own text (not the row's random
    stream, so adding answers left every other row as it was)."""
    pick = random.Random(f"reply:{text}")
    names = pick.sample(PET_NAMES, 3)
    summary = STORY_SUMMARIES.get(slots.get("story", ""), "")
    fill = {**slots, "name": names[0], "name2": names[1], "name3": names[2], "summary": summary}
    return pick.choice(CHITCHAT_REPLIES[template]).format(**fill)


def _templates(tool: ToolSpec, heldout: bool) -> tuple[Template, ...]:
    """The templates a row may use: the last one of a seen function is kept for held-out rows."""
    if tool.heldout:
        return tool.templates
    return tool.templates[-1:] if heldout else tool.templates[:-1]


def _pick(rng: random.Random, heldout: bool, avoid: tuple[ToolSpec, ...] = ()) -> tuple[ToolSpec, Template]:
    if heldout and rng.random() < 0.5:
        tool = rng.choice([t for t in HELDOUT_TOOLS if t not in avoid])
    else:
        tool = rng.choice([t for t in SEEN_TOOLS if t not in avoid])
    return tool, rng.choice(_templates(tool, heldout))


def _distractors(pool: tuple[ToolSpec, ...], chosen: list[ToolSpec], k: int, rng: random.Random) -> list[ToolSpec]:
    """k other tools, one from the same domain when there is one (the confusable case)."""
    same = [t for t in pool if t not in chosen and t.domain == chosen[0].domain]
    picked = [rng.choice(same)] if same else []
    rest = [t for t in pool if t not in chosen and t not in picked]
    return picked + rng.sample(rest, k - len(picked))


def _placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def _lower_first(text: str) -> str:
    """Lower-case a sentence's first word for "X. And y...", unless it is "I" or a name."""
    word = text.split(" ", 1)[0]
    if word in ("I", "I'm", "I'd") or any(word.startswith(n) for n in _PROPER_STARTS):
        return text
    return text[0].lower() + text[1:]


_PROPER_STARTS = tuple(
    str(pool_value(e)).split(" ", 1)[0] for name in ("country", "first_name", "city") for e in POOLS[name]
)


def _fill(tool: ToolSpec, template: Template, rng: random.Random) -> tuple[str, _Call]:
    """The request text and the call it asks for; optional arguments not mentioned may be left out."""
    names = set(_placeholders(template.text))
    texts: dict[str, str] = {}
    args: dict[str, Any] = {}
    accepted: dict[str, list[Any]] = {}
    used: dict[str, list[Any]] = {}  # two arguments from one pool (origin, destination) differ
    for p in tool.params:
        if p.name in template.fixed:
            args[p.name] = template.fixed[p.name]
            accepted[p.name] = [template.fixed[p.name]]
        elif p.name in names:
            for _ in range(20):
                value, text, ok = sample_value(p, rng)
                if value not in used.get(p.pool, []):
                    break
            used.setdefault(p.pool, []).append(value)
            args[p.name], texts[p.name], accepted[p.name] = value, text, ok
        else:
            accepted[p.name] = [OPTIONAL] + ([p.default] if p.default is not None else [])
    text = template.text.format(**texts)
    return text[0].upper() + text[1:], _Call(tool, args, accepted)


def sample_value(param: Param, rng: random.Random) -> tuple[Any, str, list[Any]]:
    """(argument value, how the request words it, acceptable values) for one parameter."""
    if param.type != "array":
        return _scalar(param, rng)
    k = rng.randint(3, 5) if param.item_type == "number" else rng.randint(2, 3)
    values: list[Any] = []
    texts: list[str] = []
    while len(values) < k:
        value, text, _ = _scalar(param, rng)
        if value not in values:
            values.append(value)
            texts.append(text)
    text = ", ".join(texts[:-1]) + " and " + texts[-1]
    accepted = [list(p) for p in itertools.permutations(values)] if param.unordered else [values]
    return values, text, accepted


def _scalar(param: Param, rng: random.Random) -> tuple[Any, str, list[Any]]:
    kind, *spec = param.pool.split(":")
    if kind in ("int", "intw"):
        n = rng.randint(int(spec[0]), int(spec[1]))
        worded = kind == "intw" and 0 <= n <= 10 and rng.random() < 0.3
        return n, _NUMBER_WORDS[n] if worded else str(n), [n]
    if kind == "num":
        lo, hi, decimals = int(spec[0]), int(spec[1]), int(spec[2])
        x: int | float = rng.randint(lo, hi) if decimals == 0 else round(rng.uniform(lo, hi), decimals)
        return x, str(x), [x]
    if kind == "bool":
        flag = rng.random() < 0.5
        return flag, "yes" if flag else "no", [flag]
    if kind == "date":
        year, month, day = rng.choice((2025, 2026)), rng.randint(1, 12), rng.randint(1, 28)
        iso = f"{year}-{month:02d}-{day:02d}"
        text = rng.choice((f"{_MONTHS[month - 1]} {day}, {year}", f"{day} {_MONTHS[month - 1]} {year}", iso))
        return iso, text, list(dict.fromkeys([iso, text]))
    if kind == "time":
        hour, minute = rng.randint(7, 21), rng.choice((0, 15, 30, 45))
        value = f"{hour:02d}:{minute:02d}"
        twelve = f"{(hour - 1) % 12 + 1}{f':{minute:02d}' if minute else ''} {'am' if hour < 12 else 'pm'}"
        text = rng.choice((value, twelve))
        return value, text, list(dict.fromkeys([value, text]))
    entry = rng.choice(POOLS[param.pool])
    value, text = pool_value(entry), rng.choice(pool_phrasings(entry))
    accepted = [value]
    # "a desk lamp" may be copied as is for "desk lamp"; a code ("EUR") or a ticker must be the value.
    if not param.enum and text != value and normalize_string(str(value)) in normalize_string(text):
        accepted.append(text)
    return value, text, accepted


def _rejected(draft: _Draft, rng: random.Random) -> str:
    """A realistic wrong answer, checked to be wrong (the checker is the judge of the eval splits too)."""
    reference, functions = draft.reference(), draft.schemas()
    kinds = list(_MISTAKES[draft.category])
    rng.shuffle(kinds)
    for kind in kinds:
        answer = _mistake(kind, draft, rng)
        if answer is not None and not check_tool_calls(answer, reference, functions).correct:
            return answer
    return rng.choice(REFUSALS)  # wrong whenever a call was expected


def _mistake(kind: str, draft: _Draft, rng: random.Random) -> str | None:
    calls: list[dict[str, Any]] = [{"name": c.tool.name, "arguments": dict(c.args)} for c in draft.calls]
    if kind == "refusal":
        return rng.choice(REFUSALS)
    if kind == "only_one":
        del calls[rng.randrange(len(calls))]
        return format_tool_calls(calls)
    if kind in ("wrong_function", "spurious_call"):
        wrong = [t for t in draft.offered if not calls or t.name != calls[0]["name"]]
        if not wrong:
            return None
        tool = rng.choice(wrong)
        known = calls[0]["arguments"] if calls else {}
        return format_tool_calls([{"name": tool.name, "arguments": _guess_arguments(tool, known, rng)}])
    i = rng.randrange(len(calls))
    params = {p.name: p for p in draft.calls[i].tool.params}
    args = calls[i]["arguments"]
    if kind == "missing_required":
        names = [n for n in args if params[n].required]
        if not names:
            return None
        del args[rng.choice(names)]
    elif kind == "wrong_type":
        names = [n for n in args if params[n].type in ("integer", "number", "boolean", "array")]
        if not names:
            return None
        name = rng.choice(names)
        value = args[name]
        args[name] = ", ".join(map(str, value)) if isinstance(value, list) else str(value).lower()
    else:  # wrong_value
        name = rng.choice(list(args))
        wrong = _wrong_value(params[name], args[name], draft.calls[i].accepted[name], rng)
        if wrong is None:
            return None
        args[name] = wrong
    return format_tool_calls(calls)


def _wrong_value(param: Param, value: Any, accepted: list[Any], rng: random.Random) -> Any:
    """A plausible slip: a flipped flag, a dropped list item, a nearby number, another value of the pool."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, list):
        dropped = rng.randrange(len(value))
        return [v for j, v in enumerate(value) if j != dropped]
    if isinstance(value, int | float):  # off by one, by ten, or a digit lost
        slips = [value + 1, value - 1] + ([value + 10, value - 10] if abs(value) >= 20 else [])
        slips += [value // 10] if abs(value) >= 100 else []
        wrong = rng.choice(slips)
        return round(wrong, 2) if isinstance(value, float) else wrong
    for _ in range(20):
        candidate, _, _ = sample_value(param, rng)
        if normalize_string(str(candidate)) not in {normalize_string(str(a)) for a in accepted}:
            return candidate
    return None


def _guess_arguments(tool: ToolSpec, known: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Required arguments for a wrongly chosen tool, as a confused model fills them: a same-named value from
    the request, else a request value of the same type, else an invented one."""
    args = {}
    spare = [v for v in known.values() if not isinstance(v, bool)]
    for p in tool.params:
        if not p.required:
            continue
        if p.name in known:
            args[p.name] = known[p.name]
            continue
        same_type = [v for v in spare if _json_type(v) == p.type or (p.type == "number" and _json_type(v) == "integer")]
        args[p.name] = same_type[0] if same_type else sample_value(p, rng)[0]
        if same_type:
            spare.remove(same_type[0])
    return args


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    return "number" if isinstance(value, float) else "array"


BUILTIN_DATA.register("tool_use", generate)


# --- glaive (LLaMA-Factory ShareGPT) tool conversations -> canonical SFT rows ---------------------------------


def glaive_to_sft(row: dict[str, Any]) -> list[dict[str, Any]]:
    """One SFT row per assistant turn: prompt = tools system message + the turns before it; completion = the
    `<tool_call>` line(s) of a `function_call` turn or the text of a `gpt` turn. Observations become `tool`
    messages. An optional `system` field is put before the tool listing. Assistant turns before any user turn
    give no row."""
    conversations = row.get("conversations") if isinstance(row, dict) else None
    if not isinstance(conversations, list) or not conversations:
        raise LamdagentError("glaive row: 'conversations' must be a non-empty list of {'from', 'value'} turns")
    tools = _glaive_tools(row.get("tools", ""))
    system_text = row.get("system") or ""
    # Always the tools message, even with no tools: every tool-use prompt then looks the same.
    content = tools_system_message(tools)["content"]
    system = [{"role": "system", "content": f"{system_text.strip()}\n\n{content}" if system_text else content}]
    history: list[dict[str, str]] = []
    rows = []
    for k, turn in enumerate(conversations):
        role, value = (turn.get("from"), turn.get("value")) if isinstance(turn, dict) else (None, None)
        if not isinstance(value, str):
            raise LamdagentError(f"glaive row: turn {k} needs a string 'value'")
        if role == "human":
            history.append({"role": "user", "content": value})
        elif role == "observation":
            history.append({"role": "tool", "content": value})
        elif role in ("gpt", "function_call"):
            message = {"role": "assistant", "content": value if role == "gpt" else _glaive_calls(value, k)}
            if any(m["role"] == "user" for m in history):
                rows.append({"prompt": system + list(history), "completion": [message]})
            history.append(message)
        else:
            raise LamdagentError(
                f"glaive row: turn {k} has 'from' {role!r}; use human, gpt, function_call or observation"
            )
    return rows


def _glaive_tools(tools: Any) -> list[dict[str, Any]]:
    if isinstance(tools, str):
        if not tools.strip():
            return []
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError as e:
            raise LamdagentError(
                f"glaive row: 'tools' is not valid JSON ({e.msg}); give a JSON list of schemas"
            ) from None
    if not isinstance(tools, list) or not all(isinstance(t, dict) and "name" in t for t in tools):
        raise LamdagentError("glaive row: 'tools' must be a JSON list of function schemas with a 'name' each")
    return tools


def _glaive_calls(value: str, k: int) -> str:
    try:
        obj = json.loads(value)
    except json.JSONDecodeError as e:
        raise LamdagentError(f"glaive row: function_call turn {k} is not valid JSON ({e.msg})") from None
    calls = obj if isinstance(obj, list) else [obj]
    out = []
    for call in calls:
        args = call.get("arguments", {}) if isinstance(call, dict) else None
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError:
                args = None
        if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not isinstance(args, dict):
            raise LamdagentError(f"glaive row: function_call turn {k} needs {{'name': ..., 'arguments': {{...}}}}")
        out.append({"name": call["name"], "arguments": args})
    return format_tool_calls(out)
