"""News text to sentences, with character offsets so callers can highlight them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import pysbd

_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"[^\W_]")
# Whitespace and zero-width or invisible formatting characters, written out (no \s, no \w)
# so that Python, pydantic's Rust engine and JSON Schema's ECMA-262 read the class alike.
INVISIBLE_CHARACTERS = "\t\n\v\f\r \u0085\u00a0\u00ad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff"
VISIBLE_PATTERN = f"[^{INVISIBLE_CHARACTERS}]"  # a text to score holds one character outside the class
_VISIBLE = re.compile(VISIBLE_PATTERN)
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)|[^\n]\n")


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    start: int
    end: int

    @property
    def hash(self) -> str:
        return sentence_hash(self.text)


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[Sentence]:
    """Split an article into sentences.

    Each line is segmented on its own, so headlines, bylines and paragraphs never
    merge into their neighbours; pysbd handles abbreviations (U.S., Gen.) and
    quotes that close after the full stop. Lines with no word character (``___``)
    are dropped. ``text[s.start:s.end] == s.text`` for every sentence.
    """
    sentences: list[Sentence] = []
    for line in _LINE.finditer(text):
        block = line.group()
        if not _WORD.search(block):
            continue
        cursor = 0
        for segment in _segmenter().segment(block):
            piece = segment.strip()
            if not piece:
                continue
            offset = block.find(piece, cursor)
            if offset < 0:  # pysbd altered the text; fall back to the rest of the line
                offset, piece = cursor, block[cursor:].strip()
            cursor = offset + len(piece)
            if _WORD.search(piece):
                start = line.start() + offset
                sentences.append(Sentence(len(sentences), piece, start, start + len(piece)))
    return sentences


def estimated_sentences(text: str) -> int:
    """About how many sentences ``split_sentences`` finds (sentence ends and line breaks),
    counted in linear time: a limit checked before splitting, whose cost grows faster than
    the text on long lines of short sentences (8,000 on one line take 8 s)."""
    return sum(1 for piece in _SENTENCE_END.split(text) if _WORD.search(piece))


def has_visible_text(text: str) -> bool:
    """Whether ``text`` holds anything to score: not only whitespace or zero-width characters
    (the rule of the API's ``pattern`` and of ``stance predict``)."""
    return _VISIBLE.search(text) is not None


def has_word(text: str) -> bool:
    """Whether ``text`` holds a letter or digit: whitespace, zero-width characters or
    punctuation alone give the model nothing to score (and ``split_sentences`` drops them)."""
    return _WORD.search(text) is not None


def normalize_sentence(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def sentence_hash(text: str) -> str:
    """A short, stable fingerprint of a sentence, used to point labels at source text."""
    return hashlib.sha1(normalize_sentence(text).encode("utf-8")).hexdigest()[:16]


def context_windows(texts: Sequence[str], *, before: int, after: int) -> list[str]:
    """Each sentence joined with up to ``before`` sentences before it and ``after`` after it.

    This is what the alias gate reads: a target named once is then referred to by "it",
    "they", "the alliance" for a few sentences. Empty entries (unknown sentences) are skipped.
    """
    return [" ".join(t for t in texts[max(0, i - before) : i + after + 1] if t) for i in range(len(texts))]
