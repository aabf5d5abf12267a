"""Seeded IFEval-style instruction-following data: prompts with one to three verifiable instructions.

Every completion is built to satisfy its instructions (the IFEval checkers in
`lamdagent.checkers.ifeval` judge it); a `preference` pair's rejected answer is the same answer
with one realistic slip (a bullet too few, a comma left in, the end phrase missing, capitals not kept).
Splits are disjoint by a hash of (base prompt, instructions, kwargs); `test` also holds rows whose topic,
phrasing or instruction pair never occurs in the other splits (`"heldout": true`).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lamdagent.checkers.ifeval import check_instruction, instruction_family
from lamdagent.data.builtin import BUILTIN_DATA, BuiltinSplit, HashSplits
from lamdagent.errors import LamdagentError

TOPICS = (
    "coffee", "rainy days", "public libraries", "bicycles", "the ocean", "gardening", "chess", "volcanoes",
    "recycling", "friendship", "space travel", "honeybees", "mountain hiking", "board games", "jazz music",
    "old maps", "city parks", "baking bread", "the moon", "trains", "desert plants", "winter sports",
    "podcasts", "origami", "street food", "owls", "kites", "lighthouses", "tea", "dinosaurs",
)  # fmt: skip
HELDOUT_TOPICS = ("submarines", "thunderstorms", "pottery", "penguins", "sailing", "birthday parties")

# (request, the answer's opening sentence); no commas, forbidden words or keywords, so any may be repeated.
PHRASINGS = (
    ("Write a short note about {t}.", "Here is a short note about {t}."),
    ("Describe {t} to a friend.", "Let me tell you about {t}."),
    ("Explain why people care about {t}.", "People care about {t} for many reasons."),
    ("Share a few thoughts on {t}.", "Here are a few thoughts on {t}."),
    ("Write a short blog post about {t}.", "Welcome to my blog post about {t}."),
    ("Give some tips for someone new to {t}.", "Here are some tips for anyone new to {t}."),
    ("Write a short story involving {t}.", "One morning a girl named Mia discovered {t}."),
    ("Write a letter to a friend about {t}.", "I am writing to tell you about {t}."),
    ("Summarize what people like about {t}.", "People like many things about {t}."),
    ("Write a product description for a book about {t}.", "This book is a friendly guide to {t}."),
)
HELDOUT_PHRASINGS = (
    ("Write a short speech about {t}.", "Thank you all for coming to hear me talk about {t}."),
    ("Write a diary entry about {t}.", "Today I spent some time thinking about {t}."),
    ("Write an advertisement for a class about {t}.", "Join our new class about {t} this spring."),
)

SENTENCES = (
    "People have been fascinated by {t} for a long time.",
    "Many people enjoy learning about {t}.",
    "A little time with {t} can brighten the day.",
    "It is easy to start exploring {t} on your own.",
    "Friends and family often share stories about {t}.",
    "Experts keep finding new things to say about {t}.",
    "Some people spend years studying {t}.",
    "Good books about {t} are easy to find.",
    "You can learn a lot about {t} in one afternoon.",
    "Children are often curious about {t}.",
    "There is always something new to discover about {t}.",
    "Talking about {t} is a nice way to meet people.",
    "Local clubs sometimes meet to discuss {t}.",
    "{T} can teach us to slow down and notice details.",
    "It is really worth reading about {t}.",
    "The best part of {t} is how it brings people together.",
    "{T} can be a great subject for a short conversation.",
    "Even a quick look at {t} can be very rewarding.",
    "People all over the world have their own views on {t}.",
    "It is important to approach {t} with an open mind.",
    "Learning about {t} is just plain fun.",
    "Some facts about {t} are truly amazing.",
    "{T} can spark a lot of questions.",
    "If you are curious, reading about {t} is a fine place to start.",
    "For many people, {t} can be a source of joy.",
    "In my view, {t} should get more attention.",
    "Over time, you may grow fond of {t}.",
    "Honestly, there is no wrong way to enjoy {t}.",
    "With a little practice, anyone can talk about {t} with confidence.",
)
FORBIDDEN = ("very", "really", "good", "important", "great", "just", "nice", "amazing")
FORBIDDEN_SLIPS = {
    "very": "It is very easy to enjoy {t}.",
    "really": "I really like {t}.",
    "good": "{T} can be good for the mind.",
    "important": "{T} can be important to many people.",
    "great": "{T} can be a great hobby.",
    "just": "It is not just a passing trend.",
    "nice": "It is nice to share {t} with others.",
    "amazing": "Some stories about {t} are amazing.",
}
KEYWORDS = (
    "history", "community", "patience", "future", "curiosity", "balance", "energy", "tradition",
    "science", "weekend", "memory", "season",
)  # fmt: skip
KEYWORD_SENTENCES = (
    "{T} and {k} go hand in hand.",
    "Many people link {t} with {k}.",
    "Thinking about {t} often leads to thoughts of {k}.",
    "There is a real connection between {t} and {k}.",
    "{K} plays a part in {t} as well.",
    "A conversation about {t} can turn to {k} quickly.",
)
PLACEHOLDER_SENTENCES = {
    1: ("You can reach me at [email] any time.", "Ask [name] for more details."),
    2: ("Send your questions to [name] at [email].", "Meet us at [address] on [date]."),
    3: ("Write to [name] at [address] before [date].", "Call [name] at [phone] or visit [website]."),
}
END_PHRASES = (
    "Is there anything else I can help with?",
    "Let me know if you have additional questions.",
    "Thank you for reading.",
    "That is all for now.",
    "Have a wonderful day.",
)
POSTSCRIPTS = ("I hope you enjoy {t} soon.", "Tell me what you think about {t}.", "More about {t} next time.")
TITLES = ("All About {Tt}", "A Few Words on {Tt}", "Notes on {Tt}", "Why {Tt}")
# No sentence of the banks starts with one of these, so a slipped answer cannot pass by chance.
FIRST_WORDS = ("also", "finally", "overall", "personally", "clearly", "surprisingly", "lately", "mostly")
SPLITTERS = ("SECTION", "Section", "PART", "Part")

LOWER, CAPITAL = "change_case:english_lowercase", "change_case:english_capital"
NO_COMMA, END, QUOTE = "punctuation:no_comma", "startend:end_checker", "startend:quotation"
PS, TITLE, JSON = "detectable_content:postscript", "detectable_format:title", "detectable_format:json_format"
BULLETS, HIGHLIGHTS = "detectable_format:number_bullet_lists", "detectable_format:number_highlighted_sections"
SECTIONS, PLACEHOLDERS = "detectable_format:multiple_sections", "detectable_content:number_placeholders"
WORDS, SENTS = "length_constraints:number_words", "length_constraints:number_sentences"
PARAS, NTH = "length_constraints:number_paragraphs", "length_constraints:nth_paragraph_first_word"
EXISTS, FORBID, FREQ = "keywords:existence", "keywords:forbidden_words", "keywords:frequency"
TWO, REPEAT = "combination:two_responses", "combination:repeat_prompt"

STRUCTURES = frozenset({BULLETS, PARAS, SECTIONS, TWO, NTH, JSON})  # at most one shapes the answer
WEIGHTS = {
    LOWER: 3, CAPITAL: 2, NO_COMMA: 3, END: 3, QUOTE: 2, PS: 2, TITLE: 3, BULLETS: 2, HIGHLIGHTS: 2,
    WORDS: 3, SENTS: 2, PARAS: 1, NTH: 1, EXISTS: 3, FORBID: 2, FREQ: 2, PLACEHOLDERS: 2, JSON: 1,
    TWO: 1, SECTIONS: 1, REPEAT: 1,
}  # fmt: skip
KINDS = tuple(WEIGHTS)
_CONFLICTS = {
    LOWER: {CAPITAL, SECTIONS},
    CAPITAL: {SECTIONS},
    JSON: {QUOTE, TITLE, PS, END, HIGHLIGHTS, REPEAT, PLACEHOLDERS},
    QUOTE: {REPEAT, TWO},
    PS: {END, NTH},
    TITLE: {NTH},
    HIGHLIGHTS: {BULLETS, NTH},
    REPEAT: {NTH},
}
# Pairs that occur only in held-out test rows: each instruction is trained, the combination is not.
HELDOUT_PAIRS = (
    frozenset({LOWER, END}),
    frozenset({NO_COMMA, BULLETS}),
    frozenset({TITLE, PS}),
    frozenset({QUOTE, WORDS}),
    frozenset({EXISTS, PARAS}),
)
# A (base prompt, instructions, kwargs) triple's hash fixes its split: 50% sft, 20% preference, 15% + 15%.
BUCKETS = HashSplits("instruction_following", {"sft": 10, "preference": 4, "validation": 3, "test": 3})
LENGTH_KINDS = (WORDS, SENTS)


def compatible(a: str, b: str) -> bool:
    """Whether two instructions can be satisfied by one natural answer."""
    if a == b or (a in STRUCTURES and b in STRUCTURES):
        return False
    return b not in _CONFLICTS.get(a, set()) and a not in _CONFLICTS.get(b, set())


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(template: str, topic: str, keyword: str = "") -> str:
    return template.format(t=topic, T=_cap(topic), Tt=topic.title(), k=keyword, K=_cap(keyword))


def _describe(kind: str, kw: dict[str, Any], rng: random.Random) -> str:
    """The instruction as the user states it (two wordings per kind, for variety)."""
    options: dict[str, tuple[str, ...]] = {
        LOWER: (
            "Your entire response should be in English and in all lowercase letters. No capital letters are allowed.",
            "Write your whole answer in lowercase letters only.",
        ),
        CAPITAL: (
            "Your entire response should be in English and in all capital letters.",
            "Write your whole answer in uppercase letters.",
        ),
        NO_COMMA: ("Do not use any commas in your response.", "Avoid commas entirely."),
        END: (
            "Finish your response with this exact phrase: {end_phrase} No other words should follow it.",
            "End your answer with the exact phrase '{end_phrase}'",
        ),
        QUOTE: ("Wrap your entire response in double quotation marks.", "Put your whole answer inside double quotes."),
        PS: (
            "At the end of your response add a postscript starting with {postscript_marker}",
            "Please add a postscript at the end that starts with {postscript_marker}",
        ),
        TITLE: (
            "Your answer must contain a title wrapped in double angular brackets such as <<my title>>.",
            "Give your answer a title in double angular brackets like <<title>>.",
        ),
        BULLETS: (
            "Your answer must contain exactly {num_bullets} bullet points in markdown (lines starting with * or -).",
            "Use exactly {num_bullets} markdown bullet points.",
        ),
        HIGHLIGHTS: (
            "Highlight at least {num_highlights} sections in your answer with markdown such as *highlighted section*.",
            "Mark at least {num_highlights} parts of your answer in italics using single asterisks.",
        ),
        WORDS: (
            "Answer with {relation} {num_words} words.",
            "Your response should contain {relation} {num_words} words.",
        ),
        SENTS: (
            "Your response should contain {relation} {num_sentences} sentences.",
            "Use {relation} {num_sentences} sentences.",
        ),
        PARAS: (
            "There should be {num_paragraphs} paragraphs. Paragraphs are separated with the markdown divider: ***",
            "Write exactly {num_paragraphs} paragraphs and put *** between them.",
        ),
        NTH: (
            "There should be {num_paragraphs} paragraphs separated by blank lines. Paragraph {nth_paragraph} "
            "must start with the word {first_word}.",
            "Write {num_paragraphs} paragraphs separated by two new lines and begin paragraph {nth_paragraph} "
            "with the word '{first_word}'.",
        ),
        EXISTS: ("Include the keywords {kw_list} in the response.", "Make sure to use the words {kw_list}."),
        FORBID: (
            "Do not include the words {forbidden_list} in the response.",
            "Never use the words {forbidden_list}.",
        ),
        FREQ: (
            "In your response the word {keyword} should appear {relation} {frequency} times.",
            "Use the word '{keyword}' {relation} {frequency} times.",
        ),
        PLACEHOLDERS: (
            "The response must contain at least {num_placeholders} placeholders in square brackets such as [address].",
            "Include at least {num_placeholders} placeholders like [name] in square brackets.",
        ),
        JSON: ("Wrap your entire output in JSON format.", "Answer in JSON only."),
        TWO: (
            "Give two different responses separated by six asterisk symbols: ******.",
            "Write two different answers and put ****** between them and nowhere else.",
        ),
        SECTIONS: (
            "Your response must have {num_sections} sections. Mark the beginning of each section with "
            "{section_spliter} X such as: {section_spliter} 1",
            "Split your answer into {num_sections} sections labelled {section_spliter} 1 and so on.",
        ),
        REPEAT: (
            "First repeat the first sentence of this request word for word without change and then give your answer.",
            "Begin by repeating the first sentence of this request exactly and then answer it.",
        ),
    }
    values = dict(kw)
    if "keywords" in kw:
        values["kw_list"] = " and ".join(kw["keywords"])
    if "forbidden_words" in kw:
        values["forbidden_list"] = " or ".join(kw["forbidden_words"])
    return rng.choice(options[kind]).format(**values)


def _sample_kwargs(kind: str, rng: random.Random, base_prompt: str, taken: set[str]) -> dict[str, Any]:
    """Kwargs in IFEval's schema; `taken` keeps keywords and forbidden words apart across instructions."""
    if kind == END:
        return {"end_phrase": rng.choice(END_PHRASES)}
    if kind == PS:
        return {"postscript_marker": rng.choice(("P.S.", "P.P.S"))}
    if kind == BULLETS:
        return {"num_bullets": rng.randint(2, 4)}
    if kind == HIGHLIGHTS:
        return {"num_highlights": rng.randint(1, 3)}
    if kind == WORDS:
        if rng.random() < 0.5:
            return {"relation": "less than", "num_words": rng.choice((40, 50, 60, 80, 100))}
        return {"relation": "at least", "num_words": rng.choice((20, 30, 40, 50))}
    if kind == SENTS:
        if rng.random() < 0.5:
            return {"relation": "less than", "num_sentences": rng.randint(3, 6)}
        return {"relation": "at least", "num_sentences": rng.randint(2, 5)}
    if kind == PARAS:
        return {"num_paragraphs": rng.randint(2, 3)}
    if kind == NTH:
        n = rng.randint(2, 3)
        return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": rng.choice(FIRST_WORDS)}
    if kind == EXISTS:
        words = rng.sample([k for k in KEYWORDS if k not in taken], rng.randint(1, 2))
        taken.update(words)
        return {"keywords": words}
    if kind == FORBID:
        words = rng.sample(FORBIDDEN, 2)
        return {"forbidden_words": words}
    if kind == FREQ:
        keyword = rng.choice([k for k in KEYWORDS if k not in taken])
        taken.add(keyword)
        relation = rng.choice(("at least", "less than"))
        return {"keyword": keyword, "frequency": rng.randint(2, 3), "relation": relation}
    if kind == PLACEHOLDERS:
        return {"num_placeholders": rng.randint(1, 3)}
    if kind == SECTIONS:
        return {"num_sections": rng.randint(2, 3), "section_spliter": rng.choice(SPLITTERS)}
    if kind == REPEAT:
        return {"prompt_to_repeat": base_prompt}
    return {}


@dataclass(frozen=True)
class IFExample:
    """One generated prompt with its instructions, a satisfying answer and (for preference) a slip."""

    id: str
    topic: str
    base_prompt: str
    opener: str
    instruction_ids: list[str]
    kwargs: list[dict[str, Any]]
    prompt: str
    chosen: str
    rejected: str | None = None
    violated: str | None = None
    heldout: bool = False
    style: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.prompt}]


def _chunks(items: list[str], n: int) -> list[list[str]]:
    """Split into n consecutive non-empty runs, as even as possible."""
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


class _Builder:
    """Renders an answer for fixed instructions and style; `violate` names the one instruction to slip on."""

    def __init__(self, ex: IFExample, violate: str | None) -> None:
        self.ex, self.violate = ex, violate
        self.kw = dict(zip(ex.instruction_ids, ex.kwargs, strict=True))
        self.style = ex.style

    def has(self, kind: str) -> bool:
        return kind in self.kw

    def slips(self, kind: str) -> bool:
        return self.violate == kind

    def _filler(self) -> list[str]:
        topic, style = self.ex.topic, self.style
        forbidden = set(self.kw.get(FORBID, {}).get("forbidden_words", ()))
        pool = []
        for template in style["order"]:
            text = _fill(SENTENCES[template], topic)
            if "," in text and self.has(NO_COMMA):
                continue
            if any(re.search(rf"\b{w}\b", text, flags=re.IGNORECASE) for w in forbidden):
                continue
            pool.append(text)
        return pool

    def _specials(self) -> list[str]:
        """Sentences that carry an instruction (keywords, placeholders) or its slip; always included."""
        topic, style, out = self.ex.topic, self.style, []
        if self.slips(NO_COMMA):
            out.append(_fill(SENTENCES[style["comma_sentence"]], topic))
        if self.slips(FORBID):
            out.append(_fill(FORBIDDEN_SLIPS[self.kw[FORBID]["forbidden_words"][0]], topic))
        if self.has(EXISTS):
            words = self.kw[EXISTS]["keywords"]
            if self.slips(EXISTS):
                words = words[:-1]
            out += [_fill(KEYWORD_SENTENCES[i], topic, w) for i, w in zip(style["kw_templates"], words, strict=False)]
        if self.has(FREQ):
            spec = self.kw[FREQ]
            count = spec["frequency"] if spec["relation"] == "at least" else spec["frequency"] - 1
            if self.slips(FREQ):
                count += -1 if spec["relation"] == "at least" else 1
            templates = style["freq_templates"][:count]
            out += [_fill(KEYWORD_SENTENCES[i], topic, spec["keyword"]) for i in templates]
        if self.has(PLACEHOLDERS):
            n = self.kw[PLACEHOLDERS]["num_placeholders"] - (1 if self.slips(PLACEHOLDERS) else 0)
            if n:
                out.append(PLACEHOLDER_SENTENCES[n][style["placeholder_pick"]])
        return out

    def render(self, n_filler: int) -> str | None:
        """The full answer with `n_filler` generic sentences, or None where the shape needs more."""
        filler = self._filler()
        if n_filler > len(filler):
            return None
        # A stable order by a keyed hash: adding or dropping a sentence leaves the others in place, so a
        # chosen/rejected pair differs only around the slip.
        rest = sorted(
            self._specials() + filler[:n_filler],
            key=lambda s: hashlib.sha1(f"{self.style['shuffle']}:{s}".encode()).digest(),
        )
        sentences = [self.ex.opener, *rest]
        if self.has(HIGHLIGHTS):
            n = self.kw[HIGHLIGHTS]["num_highlights"] - (1 if self.slips(HIGHLIGHTS) else 0)
            if len(sentences) < n:
                return None
            for i in range(n):
                sentences[i] = f"*{sentences[i]}*"
        body = self._shape(sentences)
        if body is None:
            return None
        return self._decorate(body)

    def _shape(self, sentences: list[str]) -> str | None:
        style, kw = self.style, self.kw
        if self.has(BULLETS):
            n = kw[BULLETS]["num_bullets"] + (style["bullet_slip"] if self.slips(BULLETS) else 0)
            if len(sentences) < n:
                return None
            intro = sentences[: len(sentences) - n]
            if self.has(QUOTE) and not intro:
                return None
            lines = [f"{style['bullet']} {s}" for s in sentences[len(intro) :]]
            return "\n".join(([" ".join(intro)] if intro else []) + lines)
        if self.has(PARAS):
            n = kw[PARAS]["num_paragraphs"] + (style["para_slip"] if self.slips(PARAS) else 0)
            if len(sentences) < n:
                return None
            return "\n\n***\n\n".join(" ".join(c) for c in _chunks(sentences, n))
        if self.has(SECTIONS):
            n = kw[SECTIONS]["num_sections"] - (1 if self.slips(SECTIONS) else 0)
            if len(sentences) < n:
                return None
            splitter = kw[SECTIONS]["section_spliter"]
            return "\n\n".join(f"{splitter} {i + 1}\n" + " ".join(c) for i, c in enumerate(_chunks(sentences, n)))
        if self.has(TWO):
            if len(sentences) < 2:
                return None
            first, second = (" ".join(c) for c in _chunks(sentences, 2))
            return f"{first}\n\n{second}" if self.slips(TWO) else f"{first}\n******\n{second}"
        if self.has(NTH):
            spec = kw[NTH]
            n = spec["num_paragraphs"]
            if len(sentences) < n:
                return None
            chunks = _chunks(sentences, n)
            target = spec["nth_paragraph"] - 1
            if self.slips(NTH):
                target = (target + 1) % n
            first = chunks[target][0]
            first = first if first.startswith("I ") else first[:1].lower() + first[1:]
            chunks[target][0] = f"{_cap(spec['first_word'])} {first}"
            return "\n\n".join(" ".join(c) for c in chunks)
        if self.has(JSON):
            payload = json.dumps({"answer": " ".join(sentences)}, ensure_ascii=False)
            if self.slips(JSON):
                return "Here is my answer in JSON format:\n" + payload
            return f"```json\n{payload}\n```" if style["fence"] else payload
        if len(sentences) >= 4:
            cut = min(2 + style["paragraph_cut"] % 3, len(sentences) - 1)
            return " ".join(sentences[:cut]) + "\n\n" + " ".join(sentences[cut:])
        return " ".join(sentences)

    def _decorate(self, body: str) -> str:
        ex, kw, style = self.ex, self.kw, self.style
        text = body
        if self.has(TITLE):
            title = _fill(TITLES[style["title"]], ex.topic)
            if not self.slips(TITLE):
                text = f"<<{title}>>\n\n{text}"
            elif style["title_slip"]:
                text = f"# {title}\n\n{text}"
        if self.has(REPEAT):
            if self.slips(REPEAT):
                text = f"You asked me to {ex.base_prompt[:1].lower()}{ex.base_prompt[1:]}\n\n{text}"
            else:
                text = f"{ex.base_prompt}\n\n{text}"
        if self.has(PS):
            line = _fill(POSTSCRIPTS[style["postscript"]], ex.topic)
            marker = "Note:" if self.slips(PS) else kw[PS]["postscript_marker"]
            if not (self.slips(PS) and style["ps_slip_omits"]):
                text += f"\n\n{marker} {line}"
        if self.has(END):
            phrase = kw[END]["end_phrase"]
            if not self.slips(END):
                # A blank line would add a paragraph where paragraphs are counted by blank lines.
                text += ("\n\n" if style["end_newline"] and not self.has(NTH) else " ") + phrase
            elif not style["end_slip_omits"]:
                text += f" {phrase} Good luck with everything!"
        if self.has(LOWER) and not self.slips(LOWER):
            text = text.lower()
        if self.has(CAPITAL) and not self.slips(CAPITAL):
            text = text.upper()
        if self.has(QUOTE):
            if not self.slips(QUOTE):
                text = f'"{text}"'
            elif style["quote_slip_opens"]:
                text = f'"{text}'
        return text

    def lengths_ok(self, text: str) -> bool:
        """Length instructions hold (or, for the slipped one, fail): the shape is then settled by length."""
        for kind in LENGTH_KINDS:
            if self.has(kind) and check_instruction(kind, text, self.kw[kind]) == self.slips(kind):
                return False
        return True

    def build(self, preferred: int) -> tuple[str, int] | None:
        """The answer with the number of generic sentences nearest `preferred` that fits, and that number."""
        for n in sorted(range(0, 14), key=lambda k: (abs(k - preferred), k)):
            text = self.render(n)
            if text is not None and self.lengths_ok(text):
                return text, n
        return None


def _draw_style(rng: random.Random) -> dict[str, Any]:
    """Every random choice of rendering, drawn once so a chosen/rejected pair differs only in the slip."""
    order = list(range(len(SENTENCES)))
    rng.shuffle(order)
    comma_ids = [i for i, s in enumerate(SENTENCES) if "," in s]
    return {
        "order": order,
        "comma_sentence": rng.choice(comma_ids),
        "kw_templates": rng.sample(range(len(KEYWORD_SENTENCES)), 2),
        "freq_templates": rng.sample(range(len(KEYWORD_SENTENCES)), 3),
        "placeholder_pick": rng.randrange(2),
        "shuffle": rng.randrange(2**31),
        "n_filler": rng.randint(1, 5),
        "bullet": rng.choice("*-"),
        "bullet_slip": rng.choice((-1, 1)),
        "para_slip": rng.choice((-1, 1)),
        "fence": rng.random() < 0.5,
        "paragraph_cut": rng.randrange(100),
        "title": rng.randrange(len(TITLES)),
        "title_slip": rng.random() < 0.5,
        "postscript": rng.randrange(len(POSTSCRIPTS)),
        "ps_slip_omits": rng.random() < 0.5,
        "end_newline": rng.random() < 0.5,
        "end_slip_omits": rng.random() < 0.5,
        "quote_slip_opens": rng.random() < 0.5,
    }


def _pick_kinds(rng: random.Random, allow: Callable[[frozenset[str]], bool]) -> list[str] | None:
    n = rng.choices((1, 2, 3), weights=(4, 4, 2))[0]
    kinds: list[str] = []
    for _ in range(n):
        options = [k for k in KINDS if all(compatible(k, c) for c in kinds)]
        if not options:
            break
        kinds.append(rng.choices(options, weights=[WEIGHTS[k] for k in options])[0])
    return kinds if allow(frozenset(kinds)) else None


def _has_heldout_pair(kinds: frozenset[str]) -> bool:
    return any(pair <= kinds for pair in HELDOUT_PAIRS)


def _try_example(rng: random.Random, split: str, index: int, heldout: str | None) -> IFExample | None:
    """One candidate; None when it falls in another split's bucket or cannot be rendered."""
    topics: tuple[str, ...]
    phrasings: tuple[tuple[str, str], ...]
    if heldout == "base":
        topics, phrasings = TOPICS + HELDOUT_TOPICS, PHRASINGS + HELDOUT_PHRASINGS
    else:
        topics, phrasings = TOPICS, PHRASINGS
    topic, (request, opener) = rng.choice(topics), rng.choice(phrasings)
    if heldout == "base" and topic not in HELDOUT_TOPICS and (request, opener) not in HELDOUT_PHRASINGS:
        return None
    allow = _has_heldout_pair if heldout == "combo" else (lambda kinds: not _has_heldout_pair(kinds))
    kinds = _pick_kinds(rng, allow)
    if not kinds:
        return None
    base_prompt = _fill(request, topic)
    taken: set[str] = set()
    kwargs = [_sample_kwargs(k, rng, base_prompt, taken) for k in kinds]
    prompt = " ".join([base_prompt] + [_describe(k, kw, rng) for k, kw in zip(kinds, kwargs, strict=True)])
    if not heldout and BUCKETS.split_of([base_prompt, kinds, kwargs]) != split:
        return None
    ex = IFExample(
        id=f"if-{split}-{index:05d}",
        topic=topic,
        base_prompt=base_prompt,
        opener=_fill(opener, topic),
        instruction_ids=kinds,
        kwargs=kwargs,
        prompt=prompt,
        chosen="",
        heldout=heldout is not None,
        style=_draw_style(rng),
    )
    built = _Builder(ex, None).build(ex.style["n_filler"])
    if built is None:
        return None
    chosen, n_filler = built
    if split != "preference":
        return replace(ex, chosen=chosen)
    violated = rng.choice(kinds)
    slipped = _Builder(ex, violated).build(n_filler)
    if slipped is None:
        return None
    return replace(ex, chosen=chosen, rejected=slipped[0], violated=violated)


def examples(split: BuiltinSplit, n: int, seed: int) -> list[IFExample]:
    """`n` distinct examples of a split; a third of `test` is held out (new base prompt or instruction pair)."""
    BUCKETS.check(split)
    if not isinstance(n, int) or n < 0:
        raise LamdagentError(f"built-in dataset size n={n!r} is invalid; give a non-negative integer")
    rng = random.Random(f"instruction_following:{split}:{seed}")
    out: list[IFExample] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * (n + 10):
            raise LamdagentError(f"instruction_following: cannot draw {n} distinct {split!r} rows; ask for fewer")
        heldout = None
        if split == "test" and len(out) % 3 == 0:
            heldout = "base" if len(out) % 6 == 0 else "combo"
        ex = _try_example(rng, split, len(out), heldout)
        if ex is None or ex.prompt in seen:
            continue
        seen.add(ex.prompt)
        out.append(ex)
    return out


def generate(split: BuiltinSplit, n: int, seed: int) -> list[dict[str, Any]]:
    """Rows of the split in the canonical formats (see `lamdagent.data.builtin`)."""
    rows: list[dict[str, Any]] = []
    for ex in examples(split, n, seed):
        if split == "sft":
            rows.append({"prompt": ex.messages, "completion": [{"role": "assistant", "content": ex.chosen}]})
        elif split == "preference":
            rows.append(
                {
                    "prompt": ex.messages,
                    "chosen": [{"role": "assistant", "content": ex.chosen}],
                    "rejected": [{"role": "assistant", "content": ex.rejected}],
                }
            )
        else:
            rows.append(
                {
                    "id": ex.id,
                    "messages": ex.messages,
                    "reference": {"instruction_id_list": ex.instruction_ids, "kwargs": ex.kwargs},
                    "category": instruction_family(ex.instruction_ids),
                    "heldout": ex.heldout,
                }
            )
    return rows


def alpaca_to_sft(row: dict[str, Any]) -> dict[str, Any]:
    """An Alpaca row `{instruction, input, output}` as a prompt/completion SFT row (input below the instruction)."""
    for key in ("instruction", "output"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise LamdagentError(f"alpaca row has no text in {key!r}; each row needs 'instruction' and 'output'")
    extra = row.get("input") or ""
    if not isinstance(extra, str):
        raise LamdagentError("alpaca row field 'input' must be text; use an empty string when there is none")
    prompt = row["instruction"].strip() + (f"\n\n{extra.strip()}" if extra.strip() else "")
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "completion": [{"role": "assistant", "content": row["output"].strip()}],
    }


BUILTIN_DATA.register("instruction_following", generate)
