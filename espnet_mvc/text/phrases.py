"""Long text as bounded phrases, for long-form synthesis (PyTorch's and ONNX's alike; the
fades between phrases are :mod:`espnet_mvc.inference.fades`).

This module imports neither torch nor ESPnet.
"""

import re
from typing import Callable, Dict, List, Sequence, TypeVar


def split_phrases(text: str, max_chars: int = 200) -> List[str]:
    """Cut long text into phrases: sentences, then clauses, then word groups.

    Every phrase is at most ``max_chars`` long (unless a single word is longer), and the
    phrases joined with spaces give the input back up to whitespace. Long-form synthesis
    (``phrase_ids`` of both synthesizers) then cuts a phrase that phonemizes to more than its
    bound by phonemes (:func:`split_token_ids`), so that no text, with breaks or without,
    makes a phrase longer than the bound.
    """
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return []
    sentences = re.split(r"(?<=[.!?;:…])\s+", text)
    phrases: List[str] = []
    for sentence in sentences:
        if len(sentence) <= max_chars:
            phrases.append(sentence)
            continue
        current = ""
        for clause in re.split(r"(?<=[,–—])\s+", sentence):
            for word in clause.split(" ") if len(clause) > max_chars else [clause]:
                candidate = f"{current} {word}".strip()
                if len(candidate) > max_chars and current:
                    phrases.append(current)
                    current = word
                else:
                    current = candidate
        if current:
            phrases.append(current)
    return [p for p in phrases if p.strip()]


# tokens after which a phrase may be cut (a word or clause ends), and before which it may be
# cut when no word ends in reach (a stress mark starts a syllable)
WORD_BREAK_TOKENS = {"<space>", " ", "|", "_", ",", ".", "?", "!", ";", ":", "…", "—", "–", "-"}
SYLLABLE_TOKENS = {"ˈ", "ˌ"}


def split_token_ids(ids: Sequence[int], max_tokens: int, word_breaks: Sequence[int] = (),
                    syllables: Sequence[int] = ()) -> List[slice]:
    """Cut a phrase's token ids into pieces of at most ``max_tokens``: the second level of
    :func:`split_phrases`, for text that has no break in reach (one word of any length, a
    string of letters, a phrase whose words phonemize to more tokens than it has letters).

    Each piece ends after the last word break (``word_breaks``: space and punctuation ids)
    in the second half of its window, else before the last syllable start (``syllables``:
    stress-mark ids) there, else at ``max_tokens`` exactly.

    Returns:
        List[slice]: consecutive slices covering ``ids`` (one, ``slice(0, len)``, when the
        phrase fits).
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    ids = list(ids)
    breaks, sylls = set(word_breaks), set(syllables)
    out: List[slice] = []
    start, n = 0, len(ids)
    while n - start > max_tokens:
        end = start + max_tokens
        lo = start + max(1, max_tokens // 2)
        cut = next((i + 1 for i in range(end - 1, lo - 2, -1) if ids[i] in breaks), None)
        if cut is None:
            cut = next((i for i in range(end - 1, lo - 1, -1) if ids[i] in sylls), end)
        out.append(slice(start, cut))
        start = cut
    out.append(slice(start, n))
    return out


Ids = TypeVar("Ids")  # a 1-D LongTensor or int64 array: what the text_to_ids given returns


def phrase_token_ids(text: str, text_to_ids: Callable[[str], Ids], token_to_id: Dict[str, int],
                     max_chars: int = 200, max_tokens: int = 0) -> List[Ids]:
    """Long text as the token ids of bounded phrases: :func:`split_phrases` at ``max_chars``
    characters, each phrase read by ``text_to_ids``, then :func:`split_token_ids` at
    ``max_tokens`` tokens (0: ``max_chars``), breaking at the word-break and syllable tokens
    of ``token_to_id``."""
    max_tokens = int(max_tokens) or max_chars
    breaks = [i for t, i in token_to_id.items() if t in WORD_BREAK_TOKENS]
    sylls = [i for t, i in token_to_id.items() if t in SYLLABLE_TOKENS]
    out: List[Ids] = []
    for phrase in split_phrases(text, max_chars):
        ids = text_to_ids(phrase)
        out.extend(ids[s] for s in split_token_ids(ids.tolist(), max_tokens, breaks, sylls))
    return out
