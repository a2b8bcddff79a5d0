"""News-grade sentence splitting, character offsets and the sentence fingerprint."""

from __future__ import annotations

from itertools import pairwise

import pytest
from stance.models import Sentence, context_windows, sentence_hash, split_sentences

ARTICLE = """Serbia rejects NATO membership bid

BELGRADE (AP) — The U.S. ambassador met Gen. Mark Smith on Monday. Dr. Ana Jones was not there.
“We will never join the alliance,” he said. The Kremlin welcomed the decision.
___
Second paragraph starts here. It has two sentences.
"""


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def assert_offsets(text: str, sentences: list[Sentence]) -> None:
    for i, s in enumerate(sentences):
        assert s.index == i
        assert text[s.start : s.end] == s.text, (s, text[s.start : s.end])
    starts = [s.start for s in sentences]
    assert starts == sorted(starts), "sentences must come in reading order"
    for a, b in pairwise(sentences):
        assert a.end <= b.start, "sentences must not overlap"


def test_article_is_split_into_expected_sentences():
    assert texts(ARTICLE) == [
        "Serbia rejects NATO membership bid",
        "BELGRADE (AP) — The U.S. ambassador met Gen. Mark Smith on Monday.",
        "Dr. Ana Jones was not there.",
        "“We will never join the alliance,” he said.",
        "The Kremlin welcomed the decision.",
        "Second paragraph starts here.",
        "It has two sentences.",
    ]
    assert_offsets(ARTICLE, split_sentences(ARTICLE))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The U.S. and the U.K. agreed. Moscow objected.", ["The U.S. and the U.K. agreed.", "Moscow objected."]),
        ("Gen. Smith spoke. Dr. Brown listened.", ["Gen. Smith spoke.", "Dr. Brown listened."]),
        ("The E.U. said no. NATO agreed.", ["The E.U. said no.", "NATO agreed."]),
        (
            "Sen. Smith and Mr. Brown met in Washington on Friday. They talked.",
            ["Sen. Smith and Mr. Brown met in Washington on Friday.", "They talked."],
        ),
        ("He paid $3.5 billion. It was 5 p.m. in Kyiv.", ["He paid $3.5 billion.", "It was 5 p.m. in Kyiv."]),
    ],
)
def test_abbreviations_and_numbers_do_not_end_a_sentence(text, expected):
    assert texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the quote closes after the full stop, and the attribution stays with it
        (
            "“We will never join NATO.” he said. The Kremlin welcomed it.",
            ["“We will never join NATO.” he said.", "The Kremlin welcomed it."],
        ),
        (
            "He said: “We will never join NATO.” The Kremlin welcomed it.",
            ["He said: “We will never join NATO.”", "The Kremlin welcomed it."],
        ),
        (
            "“Russia is a threat,” Gen. Mark Milley said. The U.S. Army agreed.",
            ["“Russia is a threat,” Gen. Mark Milley said.", "The U.S. Army agreed."],
        ),
        ('He said "no." She said "yes."', ['He said "no."', 'She said "yes."']),
    ],
)
def test_quotes_closing_after_the_full_stop(text, expected):
    assert texts(text) == expected
    assert_offsets(text, split_sentences(text))


def test_headline_without_full_stop_stays_on_its_own_line():
    text = "NATO ministers gather in Brussels\nForeign ministers met on Tuesday. They talked."
    assert texts(text) == ["NATO ministers gather in Brussels", "Foreign ministers met on Tuesday.", "They talked."]


def test_lines_never_merge_even_without_punctuation():
    text = "By Jane Doe\nAssociated Press\n\nThe bloc agreed"
    assert texts(text) == ["By Jane Doe", "Associated Press", "The bloc agreed"]


@pytest.mark.parametrize("separator", ["___", "***", "---", "• ", "   ", "* * *"])
def test_separator_lines_without_words_are_dropped(separator):
    text = f"First part.\n{separator}\nSecond part."
    assert texts(text) == ["First part.", "Second part."]
    assert_offsets(text, split_sentences(text))


def test_empty_and_blank_text_give_no_sentences():
    assert split_sentences("") == []
    assert split_sentences("\n\n  \n") == []
    assert split_sentences("___\n___") == []


@pytest.mark.parametrize(
    "text",
    [
        ARTICLE,
        "Yes. Yes. Yes.",  # repeated sentences on one line must get distinct offsets
        "  leading spaces. trailing  ",
        "Line one.\r\nLine two.\r\n",
        "Tab\tseparated. Non\u00a0breaking space here. Done.",
        "Text  with   spaces.  Another   one.",
        "Wait... what? Really!",
        "(Reuters) - NATO said so. [Photo: AP]\n\n\n1. First item\n2. Second item",
    ],
)
def test_offsets_slice_the_original_text(text):
    sentences = split_sentences(text)
    assert sentences
    assert_offsets(text, sentences)


def test_repeated_sentences_get_their_own_offsets():
    sentences = split_sentences("Yes. Yes. Yes.")
    assert [(s.start, s.end) for s in sentences] == [(0, 4), (5, 9), (10, 14)]


def test_sentence_hash_is_the_hash_of_its_text():
    sentence = split_sentences("NATO met. The EU agreed.")[1]
    assert sentence.hash == sentence_hash("The EU agreed.")


def test_sentence_hash_is_stable_under_whitespace_and_unicode_normalisation():
    reference = sentence_hash("NATO said no to the plan.")
    assert len(reference) == 16
    assert all(c in "0123456789abcdef" for c in reference)
    for variant in [
        "  NATO said no to the plan.\n",
        "NATO  said\tno to\nthe plan.",
        "NATO\u00a0said no to the plan.",  # no-break space
        "ＮＡＴＯ said no to the plan.",  # full-width letters fold under NFKC
    ]:
        assert sentence_hash(variant) == reference, variant


def test_sentence_hash_differs_for_different_sentences():
    sentences = texts(ARTICLE)
    hashes = [sentence_hash(s) for s in sentences]
    assert len(set(hashes)) == len(sentences)
    assert sentence_hash("NATO said no.") != sentence_hash("NATO said yes.")
    assert sentence_hash("NATO said no.") != sentence_hash("nato said no.")  # case is part of the text


def test_context_windows_join_neighbours_within_the_article():
    texts = ["a", "b", "c", "d", "e"]
    assert context_windows(texts, before=1, after=0) == ["a", "a b", "b c", "c d", "d e"]
    assert context_windows(texts, before=3, after=2) == ["a b c", "a b c d", "a b c d e", "a b c d e", "b c d e"]
    assert context_windows(texts, before=0, after=0) == texts
    assert context_windows(["a", "", "c"], before=1, after=1) == ["a", "a c", "c"]
    assert context_windows([], before=3, after=2) == []
