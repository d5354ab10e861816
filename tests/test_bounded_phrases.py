"""Long-form synthesis keeps every phrase bounded, whatever the text (issue 25, item 4).

Text is cut at sentences, clauses and words (``split_phrases``, at most ``max_chars``
characters); a phrase that still gives more than ``max_tokens`` tokens (a "word" of 20,000
letters, a string without spaces) is cut by phonemes: at a word break in reach, else before
a syllable (a stress mark), else at the bound (``split_token_ids``).
"""

import numpy as np
import pytest
import torch

from espnet_mvc.api import MVCSynthesizer
from espnet_mvc.text.phrases import split_phrases, split_token_ids

SP, DOT, STRESS = 100, 101, 102


def _pieces(ids, cuts):
    return [ids[c] for c in cuts]


def test_split_token_ids_prefers_words_then_syllables_then_the_bound():
    # words of 3 tokens and a space: cut after a space
    ids = [1, 2, 3, SP] * 10
    cuts = split_token_ids(ids, 10, word_breaks=[SP, DOT], syllables=[STRESS])
    pieces = _pieces(ids, cuts)
    assert sum(pieces, []) == ids
    assert all(len(p) <= 10 for p in pieces)
    assert all(p[-1] == SP for p in pieces[:-1])
    # no word break: cut before a stress mark (the start of a syllable)
    ids = [STRESS, 5, 5, 6, 6] * 20
    pieces = _pieces(ids, split_token_ids(ids, 12, [SP], [STRESS]))
    assert sum(pieces, []) == ids and all(len(p) <= 12 for p in pieces)
    assert all(p[0] == STRESS for p in pieces)
    # neither: cut at the bound exactly
    ids = list(range(1, 51))
    cuts = split_token_ids(ids, 16, [SP], [STRESS])
    assert [len(ids[c]) for c in cuts] == [16, 16, 16, 2]
    # a break too early in the window (first half) is not taken: pieces stay long
    ids = [SP] + [7] * 40
    assert [len(ids[c]) for c in split_token_ids(ids, 20, [SP], [])] == [20, 20, 1]
    # fits: one piece
    assert split_token_ids([1, 2, 3], 3) == [slice(0, 3)]
    with pytest.raises(ValueError):
        split_token_ids([1], 0)


@pytest.fixture(scope="module")
def tts():
    torch.set_num_threads(1)
    return MVCSynthesizer.from_pretrained("kokoro_en_mvc")


def test_text_without_breaks_is_cut_by_phonemes(tts):
    text = "a" * 20000
    assert split_phrases(text, 200) == [text]  # one "word": no break for the text level
    phrases = tts.phrase_ids(text, max_chars=200)
    whole = tts.text_to_ids(text)
    assert len(whole) > 4000
    assert all(len(p) <= 200 for p in phrases) and len(phrases) >= len(whole) // 200
    assert torch.equal(torch.cat(phrases), whole)  # nothing lost, nothing added
    stress = {tts.token_to_id["ˈ"], tts.token_to_id["ˌ"]}
    assert all(int(p[0]) in stress for p in phrases[1:])  # cut at syllables


def test_words_without_punctuation_are_cut_at_words(tts):
    words = ("one two three four five six seven eight nine ten " * 30).strip()
    phrases = tts.phrase_ids(words, max_chars=60)
    texts = split_phrases(words, 60)
    assert len(texts) > 10 and all(len(t) <= 60 for t in texts)
    assert all(len(p) <= 60 for p in phrases)
    assert torch.equal(torch.cat(phrases), torch.cat([tts.text_to_ids(t) for t in texts]))
    # a phrase that phonemizes longer than its letters is cut after a word break
    space = tts.token_to_id["<space>"]
    long = tts.phrase_ids(words, max_chars=60, max_tokens=20)
    assert all(len(p) <= 20 for p in long)
    text_ends = set(np.cumsum([len(tts.text_to_ids(t)) for t in texts]).tolist())
    joined = torch.cat(long)
    cuts = np.cumsum([len(p) for p in long])[:-1].tolist()
    assert cuts and all(int(joined[c - 1]) == space or c in text_ends for c in cuts)
    assert any(c not in text_ends for c in cuts)  # cut inside text phrases, at spaces


def test_punctuated_text_is_read_as_before(tts):
    text = ("It was the best of times, it was the worst of times, it was the age of wisdom, "
            "it was the age of foolishness. It was the epoch of belief; it was the epoch of "
            "incredulity. ") * 3
    phrases = tts.phrase_ids(text, max_chars=200)
    assert [p.tolist() for p in phrases] == [tts.text_to_ids(t).tolist()
                                             for t in split_phrases(text, 200)]


def test_long_form_synthesis_reads_bounded_pieces(tts):
    text = "a" * 600
    n = len(tts.phrase_ids(text, max_chars=60))
    assert n >= 3
    res = tts.synthesize_long(text, max_chars=60, progress=False, n_timesteps=1)
    assert res.extra["phrases"] == n and np.isfinite(res.wav).all()
    pieces = list(tts.stream_long(text, max_chars=60, chunked=False, n_timesteps=1))
    assert len(pieces) == n
    assert np.array_equal(np.concatenate(pieces), res.wav)
