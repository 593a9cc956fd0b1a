"""Transcript normalisation and edit counts for word and character error rates.

Casing, punctuation and the spelling of numbers must not count as recognition
errors, so reference and hypothesis both go through :func:`normalize_text`
(digits are spelled out: "25" and "twenty five" compare equal). Error rates
over a corpus are sums of edits over sums of reference lengths, never a mean
of per-utterance rates; :class:`EditCounts` carries the sums.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}
_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at "}


def number_to_words(n: int) -> str:
    """Cardinal English words for a non-negative integer ("105" -> "one hundred five")."""
    if n < 0:
        raise ValueError(f"negative number {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    for scale, word in _SCALES:
        if n >= scale:
            head, rest = divmod(n, scale)
            return f"{number_to_words(head)} {word}" + ("" if rest == 0 else " " + number_to_words(rest))
    raise AssertionError("unreachable")


def _year_or_cardinal(n: int) -> str:
    # Four-digit numbers 1100-1999 are read as years ("nineteen ninety") in running speech.
    if 1100 <= n <= 1999 and n % 100 != 0:
        high, low = divmod(n, 100)
        return f"{number_to_words(high)} " + (f"oh {_ONES[low]}" if low < 10 else number_to_words(low))
    return number_to_words(n)


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def _spell_number(match: re.Match) -> str:
    whole, frac, suffix = match.group(1).replace(",", ""), match.group(2), match.group(3)
    words = _year_or_cardinal(int(whole)) if frac is None and len(whole) == 4 else number_to_words(int(whole))
    if frac is not None:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    if suffix:
        words = _ordinal(words)
    return f" {words} "


_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(st|nd|rd|th)?\b")


def normalize_text(text: str) -> str:
    """Lower-case words without punctuation, numbers spelled out, single spaces.

    Apostrophes inside words are kept ("it's"); hyphens split words.
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    for sym, word in _SYMBOLS.items():
        text = text.replace(sym, word)
    text = _NUMBER.sub(_spell_number, text)
    text = re.sub(r"[^\w\s']|_", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, not apostrophes
    return " ".join(text.split())


@dataclass(frozen=True)
class EditCounts:
    """Edits (substitutions + deletions + insertions) against a reference of ``length`` units."""

    edits: int
    length: int

    @property
    def rate(self) -> float:
        if self.length == 0:
            raise ValueError("error rate of an empty reference is undefined")
        return self.edits / self.length


def _require_jiwer():
    try:
        import jiwer
    except ImportError as err:
        raise ImportError("word error rates need jiwer: pip install 'dasb[asr]'") from err
    return jiwer


Normalizer = Callable[[str], str]


def word_edits(reference: str, hypothesis: str, normalize: Normalizer = normalize_text) -> EditCounts:
    """Word-level edit counts of normalised ``hypothesis`` against normalised ``reference``."""
    return _edits(_require_jiwer().process_words, normalize(reference), normalize(hypothesis), str.split)


def char_edits(reference: str, hypothesis: str, normalize: Normalizer = normalize_text) -> EditCounts:
    """Character-level edit counts (spaces included) after normalisation."""
    return _edits(_require_jiwer().process_characters, normalize(reference), normalize(hypothesis), list)


def _edits(process: Callable, ref: str, hyp: str, units: Callable[[str], list]) -> EditCounts:
    if not ref:  # every hypothesis unit is an insertion; jiwer refuses empty references
        return EditCounts(len(units(hyp)), 0)
    out = process(ref, hyp)
    return EditCounts(out.substitutions + out.deletions + out.insertions, len(units(ref)))
