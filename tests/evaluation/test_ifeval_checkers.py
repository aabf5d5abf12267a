"""The offline IFEval checkers: every instruction kind on hand-written answers, strict and loose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamdagent.checkers.ifeval import (
    INSTRUCTIONS,
    check_instruction,
    count_sentences,
    count_words,
    follows_loose,
    follows_strict,
    ifeval_metrics,
    loose_variants,
)
from lamdagent.errors import LamdagentError

EN = "The weather was calm this morning and the children walked to school together before the bell rang."

# (instruction id, kwargs, an answer that follows it, an answer that does not)
CASES = [
    ("punctuation:no_comma", {}, "I like tea and cake.", "I like tea, and cake."),
    ("change_case:english_lowercase", {}, EN.lower(), EN),
    (
        "change_case:english_lowercase",
        {},
        EN.lower(),
        "le temps était calme ce matin et les enfants ont marché ensemble.",
    ),
    ("change_case:english_capital", {}, EN.upper(), EN),
    (
        "change_case:english_capital",
        {},
        "WELCOME TO MY BLOG POST ABOUT HONEYBEES. PEOPLE ALL OVER THE WORLD HAVE THEIR OWN VIEWS ON HONEYBEES.",
        "LE TEMPS ÉTAIT CALME CE MATIN ET LES ENFANTS ONT MARCHÉ ENSEMBLE JUSQU'À L'ÉCOLE.",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_relation": "at least", "capital_frequency": 2},
        "This is VERY IMPORTANT news.",
        "This is VERY quiet news.",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_relation": "less than", "capital_frequency": 2},
        "This is VERY quiet news.",
        "This is VERY IMPORTANT news.",
    ),
    ("language:response_language", {"language": "de"}, "Das ist ein schöner Tag und wir gehen im Park spazieren.", EN),
    ("language:response_language", {"language": "hi"}, "यह एक सुंदर दिन है और हम पार्क में घूमने जा रहे हैं।", EN),
    (
        "length_constraints:number_words",
        {"relation": "less than", "num_words": 5},
        "Only four words here.",
        "Here are five whole words.",
    ),
    (
        "length_constraints:number_words",
        {"relation": "at least", "num_words": 5},
        "Here are five whole words.",
        "Only four words here.",
    ),
    (
        "length_constraints:number_sentences",
        {"relation": "less than", "num_sentences": 3},
        "Dr. Smith went home. He slept.",
        "One. Two! Three?",
    ),
    (
        "length_constraints:number_sentences",
        {"relation": "at least", "num_sentences": 3},
        "One. Two! Three?",
        "P.S. this counts once. Then this.",
    ),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "First part.\n***\nSecond part.", "One part."),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "***\nFirst part.\n***\nSecond part.\n***",
        "First part.\n***\n\n***\nSecond part.",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        'First we plan.\n\n"Then, we build.',
        "First we plan.\n\nAfter that we build.",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 3, "nth_paragraph": 1, "first_word": "first"},
        "First one.\n\nTwo.\n\nThree.",
        "First one.\n\nTwo.",
    ),
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 2},
        "Dear [name], meet me at [place].",
        "Dear [name], meet me there.",
    ),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Bye.\n\nP.S. Call me.", "Bye.\n\nPS call me."),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Bye.\nP.P.S Call me.", "Bye.\nP.S. Call me."),
    (
        "detectable_format:number_bullet_lists",
        {"num_bullets": 2},
        "Points:\n* one\n- two",
        "Points:\n* one\n* two\n* three",
    ),
    (
        "detectable_format:number_bullet_lists",
        {"num_bullets": 2},
        "* one\n* two\n**bold** is not a bullet",
        "* one",
    ),
    (
        "detectable_format:constrained_response",
        {},
        "I thought about it. My answer is maybe.",
        "I think the answer is yes.",
    ),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*one* and **two**",
        "*one* and ** ** and *\nbroken*",
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "SECTION 1\nIntro.\nSECTION 2\nBody.",
        "SECTION 1\nIntro.\nSection 2\nBody.",
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', 'Here it is: {"a": 1}'),
    ("detectable_format:json_format", {}, '{"a": 1}', "{'a': 1}"),
    ("detectable_format:title", {}, "<<My Poem>>\nRoses are red.", "<< >>\nRoses are red."),
    ("combination:two_responses", {}, "Answer one.\n******\nAnswer two.", "Answer one.\n******\nAnswer one."),
    ("combination:two_responses", {}, "Answer one.\n******\nAnswer two.\n******", "One.\n******\n\n******\nTwo."),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a poem about cats."},
        "write a poem about cats. Cats are soft.",
        "Sure! Write a poem about cats. Cats are soft.",
    ),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        '"Done. Any other questions?"',
        "Any other questions? Bye.",
    ),
    ("startend:quotation", {}, '  "Hello there."  ', '"Hello there.'),
    ("keywords:existence", {"keywords": ["apple", "pie"]}, "An Apple PIE recipe.", "An apple tart recipe."),
    (
        "keywords:frequency",
        {"keyword": "cat", "relation": "at least", "frequency": 2},
        "The cat saw a Category of cats.",
        "The cat slept.",
    ),
    (
        "keywords:frequency",
        {"keyword": "cat", "relation": "less than", "frequency": 2},
        "The cat slept.",
        "The cat saw another cat.",
    ),
    ("keywords:forbidden_words", {"forbidden_words": ["red", "blue"]}, "A reddish sky.", "A Red sky."),
    (
        "keywords:letter_frequency",
        {"letter": "z", "let_relation": "at least", "let_frequency": 2},
        "Zany zebra.",
        "Lazy dog.",
    ),
    (
        "keywords:letter_frequency",
        {"letter": "#", "let_relation": "at least", "let_frequency": 2},
        "#fun #sun",
        "#fun only",
    ),
]


@pytest.mark.parametrize(("instruction", "kwargs", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_each_instruction_passes_and_fails(instruction: str, kwargs: dict, good: str, bad: str) -> None:
    assert check_instruction(instruction, good, kwargs)
    assert not check_instruction(instruction, bad, kwargs)


def test_every_instruction_kind_has_a_case() -> None:
    assert {c[0] for c in CASES} == set(INSTRUCTIONS.names())


def test_empty_answer_never_follows() -> None:
    assert not check_instruction("punctuation:no_comma", "  \n")
    assert not check_instruction("keywords:forbidden_words", "", {"forbidden_words": ["x"]})


@pytest.mark.parametrize(
    ("instruction", "kwargs", "answer"),
    [
        ("change_case:english_lowercase", {}, "Sure! Here it is:\n" + EN.lower()),
        ("punctuation:no_comma", {}, "Sure, here it is:\nno commas in this part at all"),
        ("detectable_format:json_format", {}, 'Here is the JSON:\n{"a": 1}'),
        ("startend:end_checker", {"end_phrase": "Bye."}, "Hello there. Bye.\nLet me know if you need more!"),
        ("startend:quotation", {}, '"**Hello** there."\n*Hope this helps!*'),
        ("combination:repeat_prompt", {"prompt_to_repeat": "Tell me a joke."}, "**Tell me a joke.** Knock knock."),
    ],
)
def test_loose_forgives_what_strict_does_not(instruction: str, kwargs: dict, answer: str) -> None:
    assert follows_strict(answer, [instruction], [kwargs]) == [False]
    assert follows_loose(answer, [instruction], [kwargs]) == [True]


def test_loose_variants_are_the_eight_of_ifeval() -> None:
    variants = loose_variants("first *a*\nmiddle\nlast")
    assert variants[:4] == ["first *a*\nmiddle\nlast", "middle\nlast", "first *a*\nmiddle", "middle"]
    assert variants[4] == "first a\nmiddle\nlast"
    assert len(variants) == 8


def test_sentence_and_word_counts() -> None:
    assert count_sentences("") == 0
    assert count_sentences("no terminator at all") == 1
    assert count_sentences("Mr. Lee met Dr. Ray at 3.5 p.m. today. They talked.") == 2
    assert count_sentences("Wait... what?! Yes.") == 3
    assert count_sentences("1. Apples\n2. Pears.") == 1
    assert count_sentences('"Hi." She said "bye." Done') == 3
    assert count_words("It's 3 o'clock, isn't it?") == 8  # \w+ runs, as IFEval's RegexpTokenizer


def test_metrics_prompt_and_instruction_level() -> None:
    strict = [[True, False], [True]]
    loose = [[True, True], [True]]
    m = ifeval_metrics(strict, loose)
    assert m == {
        "prompt_level_strict_acc": 0.5,
        "prompt_level_loose_acc": 1.0,
        "inst_level_strict_acc": pytest.approx(2 / 3),
        "inst_level_loose_acc": 1.0,
    }
    assert ifeval_metrics([], [])["inst_level_strict_acc"] == 0.0


def test_bad_references_are_one_line_errors() -> None:
    with pytest.raises(LamdagentError, match="unknown IFEval instruction 'made:up'"):
        check_instruction("made:up", "text")
    with pytest.raises(LamdagentError, match="needs the kwarg 'num_words'"):
        check_instruction("length_constraints:number_words", "text", {"relation": "at least"})
    with pytest.raises(LamdagentError, match="relation 'about'"):
        check_instruction("length_constraints:number_words", "text", {"relation": "about", "num_words": 3})
    with pytest.raises(LamdagentError, match="one kwargs object per instruction"):
        follows_strict("text", ["punctuation:no_comma"], [])


def test_real_ifeval_file_is_fully_supported(benchmarks_dir: Path) -> None:
    rows = [json.loads(line) for line in (benchmarks_dir / "ifeval" / "input_data.jsonl").open()]
    ids = {i for row in rows for i in row["instruction_id_list"]}
    assert len(rows) == 541
    assert ids <= set(INSTRUCTIONS.names())
    answer = "a plain short answer without any special formatting."
    for row in rows:  # every instruction runs on its real kwargs without an error
        results = follows_loose(answer, row["instruction_id_list"], row["kwargs"])
        assert len(results) == len(row["instruction_id_list"])
