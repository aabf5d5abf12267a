"""IFEval instruction checkers (Zhou et al. 2023), written to run fully offline.

lm-eval's own checkers import nltk and download its `punkt_tab` sentence model at import time, which fails
without internet; here sentences are split by rules (`count_sentences`), words are `\\w+` runs (what IFEval's
`RegexpTokenizer(r"\\w+")` counts) and language is detected with `langdetect` (seeded, so deterministic).
Each checker takes the answer and the instruction's kwargs as they appear in IFEval's `input_data.jsonl`.

Where this differs from the published code, on purpose: keywords are matched literally (not as regular
expressions); a non-letter in `letter_frequency` (one prompt asks for four `#`) is counted as written, where
IFEval silently swaps in a random letter; the nth paragraph is counted among non-empty paragraphs; and
`english_capital` tells the language from the lower-cased text (see there). Checked against lm-eval's
checkers on 22,000 (instruction, answer) pairs, those that need no nltk data: only the `#` case differs.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.registry import Registry

Checker = Callable[[str, dict[str, Any]], bool]
INSTRUCTIONS: Registry[Checker] = Registry("IFEval instruction")

# Tokens that end with a period without ending a sentence (lower case, without the final period).
ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "u.s",
        "u.k", "u.n", "inc", "ltd", "co", "corp", "no", "fig", "approx", "dept", "est", "jan", "feb", "mar", "apr",
        "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "p.s", "p.p.s", "ph.d", "b.a", "m.a",
    }
)  # fmt: skip
_BOUNDARY = re.compile(r"(?:\.{3,}|…|[.!?]+)[\"'”’)\]]*(?=\s|$)")


def count_words(text: str) -> int:
    """Words as IFEval counts them: runs of word characters."""
    return len(re.findall(r"\w+", text))


def count_sentences(text: str) -> int:
    """Sentences ended by `.`, `!`, `?` or an ellipsis, as punkt splits English prose.

    A period does not end a sentence after a known abbreviation (`Dr.`, `e.g.`, `P.S.`), a single letter
    (an initial) or a list number at the start of a line; line breaks alone do not end one either.
    """
    count, start = 0, 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if match.group().startswith(".") and not match.group().startswith("..."):
            before = text[start : match.start()]
            token = before.split()[-1].lstrip("\"'“‘([").lower() if before.split() else ""
            line_start = before.rfind("\n") + 1
            numbered_item = token.isdigit() and not before[line_start:].strip().removesuffix(token).strip()
            if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()) or numbered_item:
                continue
        if text[start:end].strip(" \t\n\"'“”‘’()[]"):
            count += 1
        start = end
    return count + (1 if re.search(r"\w", text[start:]) else 0)


@cache
def _language_detector() -> Callable[[str], str]:
    try:
        import langdetect
    except ImportError:
        raise LamdagentError(
            "IFEval language checks need the `langdetect` package; run `pip install langdetect`"
        ) from None
    langdetect.DetectorFactory.seed = 0  # langdetect samples at random unless seeded
    return langdetect.detect


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text, or None where no language can be told (IFEval then counts a pass)."""
    detect = _language_detector()
    try:
        return detect(text)
    except Exception:  # noqa: BLE001 - langdetect raises its own exception type on text with no features
        return None


def _arg(kwargs: dict[str, Any], key: str, instruction: str) -> Any:
    value = kwargs.get(key)
    if value is None:
        raise LamdagentError(f"IFEval instruction {instruction!r} needs the kwarg {key!r}; add it to kwargs")
    return value


def _compare(count: int, relation: str, bound: int, instruction: str) -> bool:
    if relation == "less than":
        return count < bound
    if relation == "at least":
        return count >= bound
    raise LamdagentError(
        f"IFEval instruction {instruction!r}: relation {relation!r} is unknown; use 'less than' or 'at least'"
    )


def _register(name: str) -> Callable[[Checker], Checker]:
    return INSTRUCTIONS.decorator(name)


@_register("language:response_language")
def _response_language(text: str, kw: dict[str, Any]) -> bool:
    detected = detect_language(text)
    return detected is None or detected == _arg(kw, "language", "language:response_language")


@_register("length_constraints:number_sentences")
def _number_sentences(text: str, kw: dict[str, Any]) -> bool:
    name = "length_constraints:number_sentences"
    return _compare(count_sentences(text), _arg(kw, "relation", name), int(_arg(kw, "num_sentences", name)), name)


@_register("length_constraints:number_words")
def _number_words(text: str, kw: dict[str, Any]) -> bool:
    name = "length_constraints:number_words"
    return _compare(count_words(text), _arg(kw, "relation", name), int(_arg(kw, "num_words", name)), name)


@_register("length_constraints:number_paragraphs")
def _number_paragraphs(text: str, kw: dict[str, Any]) -> bool:
    """Paragraphs are separated by `***`; an empty paragraph is allowed only at either end."""
    wanted = int(_arg(kw, "num_paragraphs", "length_constraints:number_paragraphs"))
    parts = re.split(r"\s?\*\*\*\s?", text)
    count = len(parts)
    for index, part in enumerate(parts):
        if not part.strip():
            if index not in (0, len(parts) - 1):
                return False
            count -= 1
    return count == wanted


@_register("length_constraints:nth_paragraph_first_word")
def _nth_paragraph_first_word(text: str, kw: dict[str, Any]) -> bool:
    """Paragraphs are separated by blank lines; the nth one must start with the word (case and quotes ignored)."""
    name = "length_constraints:nth_paragraph_first_word"
    wanted = int(_arg(kw, "num_paragraphs", name))
    nth = int(_arg(kw, "nth_paragraph", name))
    first_word = str(_arg(kw, "first_word", name)).lower()
    paragraphs = [p.strip() for p in re.split(r"\n\n", text) if p.strip()]
    if len(paragraphs) != wanted or not 1 <= nth <= len(paragraphs):
        return False
    word = paragraphs[nth - 1].split()[0].lstrip("'\"")
    return re.split(r"[.,?!'\"]", word, maxsplit=1)[0].lower() == first_word


@_register("detectable_content:number_placeholders")
def _number_placeholders(text: str, kw: dict[str, Any]) -> bool:
    wanted = int(_arg(kw, "num_placeholders", "detectable_content:number_placeholders"))
    return len(re.findall(r"\[.*?\]", text)) >= wanted


@_register("detectable_content:postscript")
def _postscript(text: str, kw: dict[str, Any]) -> bool:
    marker = str(_arg(kw, "postscript_marker", "detectable_content:postscript")).strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.findall(pattern, text.lower(), flags=re.MULTILINE))


@_register("detectable_format:number_bullet_lists")
def _number_bullet_lists(text: str, kw: dict[str, Any]) -> bool:
    """Exactly n markdown bullets (`* item` or `- item` lines)."""
    wanted = int(_arg(kw, "num_bullets", "detectable_format:number_bullet_lists"))
    stars = re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", text, flags=re.MULTILINE)
    return len(stars) + len(dashes) == wanted


CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@_register("detectable_format:constrained_response")
def _constrained_response(text: str, kw: dict[str, Any]) -> bool:
    return any(option in text.strip() for option in CONSTRAINED_RESPONSES)


@_register("detectable_format:number_highlighted_sections")
def _number_highlighted_sections(text: str, kw: dict[str, Any]) -> bool:
    """At least n non-empty `*highlighted*` or `**highlighted**` spans on one line."""
    wanted = int(_arg(kw, "num_highlights", "detectable_format:number_highlighted_sections"))
    single = re.findall(r"\*[^\n\*]*\*", text)
    double = re.findall(r"\*\*[^\n\*]*\*\*", text)
    found = sum(1 for h in single if h.strip("*").strip()) + sum(
        1 for h in double if h.removeprefix("**").removesuffix("**").strip()
    )
    return found >= wanted


@_register("detectable_format:multiple_sections")
def _multiple_sections(text: str, kw: dict[str, Any]) -> bool:
    """At least n sections, each opened by the splitter and a number (`SECTION 1`), case-sensitive."""
    name = "detectable_format:multiple_sections"
    splitter = str(_arg(kw, "section_spliter", name)).strip()
    wanted = int(_arg(kw, "num_sections", name))
    sections = re.split(r"\s?" + re.escape(splitter) + r"\s?\d+\s?", text)
    return len(sections) - 1 >= wanted


@_register("detectable_format:json_format")
def _json_format(text: str, kw: dict[str, Any]) -> bool:
    """The whole answer parses as JSON, optionally inside one markdown code fence."""
    body = text.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        if body.startswith(fence):
            body = body[len(fence) :]
            break
    body = body.removesuffix("```").strip()
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


@_register("detectable_format:title")
def _title(text: str, kw: dict[str, Any]) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", text))


@_register("combination:two_responses")
def _two_responses(text: str, kw: dict[str, Any]) -> bool:
    """Two different answers separated by `******`; an empty part is allowed only at either end."""
    parts = text.split("******")
    kept = []
    for index, part in enumerate(parts):
        if not part.strip():
            if index not in (0, len(parts) - 1):
                return False
        else:
            kept.append(part.strip())
    return len(kept) == 2 and kept[0] != kept[1]


@_register("combination:repeat_prompt")
def _repeat_prompt(text: str, kw: dict[str, Any]) -> bool:
    prompt = str(_arg(kw, "prompt_to_repeat", "combination:repeat_prompt"))
    return text.strip().lower().startswith(prompt.strip().lower())


@_register("startend:end_checker")
def _end_checker(text: str, kw: dict[str, Any]) -> bool:
    phrase = str(_arg(kw, "end_phrase", "startend:end_checker"))
    return text.strip().strip('"').lower().endswith(phrase.strip().lower())


@_register("startend:quotation")
def _quotation(text: str, kw: dict[str, Any]) -> bool:
    body = text.strip()
    return len(body) > 1 and body[0] == '"' and body[-1] == '"'


@_register("change_case:capital_word_frequency")
def _capital_word_frequency(text: str, kw: dict[str, Any]) -> bool:
    name = "change_case:capital_word_frequency"
    capitals = sum(1 for word in re.findall(r"\w+", text) if word.isupper())
    return _compare(capitals, _arg(kw, "capital_relation", name), int(_arg(kw, "capital_frequency", name)), name)


@_register("change_case:english_capital")
def _english_capital(text: str, kw: dict[str, Any]) -> bool:
    """Language is told on the lower-cased text: langdetect reads all-caps English as German about one time
    in ten (its profiles are mixed-case), which IFEval as published counts as a failure."""
    return text.isupper() and detect_language(text.lower()) in ("en", None)


@_register("change_case:english_lowercase")
def _english_lowercase(text: str, kw: dict[str, Any]) -> bool:
    return text.islower() and detect_language(text) in ("en", None)


@_register("keywords:existence")
def _existence(text: str, kw: dict[str, Any]) -> bool:
    keywords = _arg(kw, "keywords", "keywords:existence")
    return all(re.search(re.escape(k), text, flags=re.IGNORECASE) for k in keywords)


@_register("keywords:frequency")
def _frequency(text: str, kw: dict[str, Any]) -> bool:
    """Occurrences of the keyword anywhere (as a substring, case ignored), as IFEval counts them."""
    name = "keywords:frequency"
    keyword = str(_arg(kw, "keyword", name))
    count = len(re.findall(re.escape(keyword), text, flags=re.IGNORECASE))
    return _compare(count, _arg(kw, "relation", name), int(_arg(kw, "frequency", name)), name)


@_register("keywords:forbidden_words")
def _forbidden_words(text: str, kw: dict[str, Any]) -> bool:
    words = _arg(kw, "forbidden_words", "keywords:forbidden_words")
    return not any(re.search(r"\b" + re.escape(w) + r"\b", text, flags=re.IGNORECASE) for w in words)


@_register("keywords:letter_frequency")
def _letter_frequency(text: str, kw: dict[str, Any]) -> bool:
    name = "keywords:letter_frequency"
    letter = str(_arg(kw, "letter", name)).lower()
    count = collections.Counter(text.lower())[letter]
    return _compare(count, _arg(kw, "let_relation", name), int(_arg(kw, "let_frequency", name)), name)


@_register("punctuation:no_comma")
def _no_comma(text: str, kw: dict[str, Any]) -> bool:
    return "," not in text


def instruction_family(instruction_ids: Sequence[str]) -> str:
    """The family of a prompt's first instruction (`change_case`, `keywords`, ...): its report category."""
    return instruction_ids[0].split(":")[0] if instruction_ids else "none"


def check_instruction(instruction_id: str, response: str, kwargs: dict[str, Any] | None = None) -> bool:
    """Strict check of one instruction; an empty answer never follows anything."""
    checker = INSTRUCTIONS.get(instruction_id)
    clean = {k: v for k, v in (kwargs or {}).items() if v is not None}
    return bool(response.strip()) and checker(response, clean)


def loose_variants(response: str) -> list[str]:
    """IFEval's loose answers: as is, without its first line, its last line, or both; each also without `*`."""
    lines = response.split("\n")
    cut = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return cut + [c.replace("*", "") for c in cut]


def follows_strict(
    response: str, instruction_ids: Sequence[str], kwargs: Sequence[dict[str, Any] | None]
) -> list[bool]:
    """Per instruction: followed by the answer as written."""
    _check_lengths(instruction_ids, kwargs)
    return [check_instruction(i, response, k) for i, k in zip(instruction_ids, kwargs, strict=True)]


def follows_loose(response: str, instruction_ids: Sequence[str], kwargs: Sequence[dict[str, Any] | None]) -> list[bool]:
    """Per instruction: followed by any loose variant (forgives a preamble, a sign-off and markdown stars)."""
    _check_lengths(instruction_ids, kwargs)
    variants = loose_variants(response)
    return [any(check_instruction(i, v, k) for v in variants) for i, k in zip(instruction_ids, kwargs, strict=True)]


def _check_lengths(instruction_ids: Sequence[str], kwargs: Sequence[Any]) -> None:
    if len(instruction_ids) != len(kwargs):
        raise LamdagentError(
            f"IFEval reference has {len(instruction_ids)} instruction ids but {len(kwargs)} kwargs; "
            "give one kwargs object per instruction id"
        )


def ifeval_metrics(strict: Sequence[Sequence[bool]], loose: Sequence[Sequence[bool]]) -> dict[str, float]:
    """Prompt level: all of a prompt's instructions followed; instruction level: each one counted alone."""

    def prompt_level(results: Sequence[Sequence[bool]]) -> float:
        return sum(all(r) for r in results) / len(results) if results else 0.0

    def inst_level(results: Sequence[Sequence[bool]]) -> float:
        flat = [x for r in results for x in r]
        return sum(flat) / len(flat) if flat else 0.0

    return {
        "prompt_level_strict_acc": prompt_level(strict),
        "prompt_level_loose_acc": prompt_level(loose),
        "inst_level_strict_acc": inst_level(strict),
        "inst_level_loose_acc": inst_level(loose),
    }
