"""benchmark quality's real-voice scores (issue 22) on hand-made embeddings: similarity to
the own reference, margin over the other real people, the identification share, the ceiling,
which sentences each person reads, and the line that says how to build a missing set."""

from pathlib import Path

import numpy as np
import pytest

from espnet_mvc.benchmarks import quality


def test_realvoice_scores_on_hand_made_embeddings():
    e = np.eye(5)
    real = {"A": e[0], "B": e[1], "C": e[2]}
    teacher = {"T": e[3], "U": e[4]}
    outs = [0.8 * e[0] + 0.6 * e[3],   # A: own 0.8, others 0, 0; teacher T 0.6 -> own wins
            0.6 * e[1] + 0.8 * e[3],   # B: own 0.6; teacher T 0.8 wins
            0.6 * e[2] + 0.8 * e[0]]   # C: own 0.6; real A 0.8 wins
    s = quality.realvoice_scores(outs, ["A", "B", "C"], real, teacher)
    assert s["sim"] == pytest.approx((0.8 + 0.6 + 0.6) / 3)
    assert s["margin"] == pytest.approx((0.8 + 0.6 + (0.6 - 0.4)) / 3)
    assert s["id"] == pytest.approx(1 / 3)
    # the teacher references count for the id share only, not for the margin
    s2 = quality.realvoice_scores(outs, ["A", "B", "C"], real, {})
    assert s2["margin"] == pytest.approx(s["margin"]) and s2["id"] == pytest.approx(2 / 3)
    assert quality.own_minus_others(outs[2], "C", real) == pytest.approx(0.2)
    assert quality.realvoice_ceiling({"A": e[0], "B": e[1]},
                                      {"A": 0.6 * e[0] + 0.8 * e[1], "B": e[1]}) == 0.8


def test_realvoice_items_share_out_the_heldout_sentences():
    held = [quality.HeldoutItem(utt, "s", "seen", text, Path("r"), Path("c"))
            for utt, text in (("b1", "two"), ("a1", "one"), ("c1", "three"), ("a2", "one"))]
    assert quality.heldout_sentences(held) == ["one", "two", "three"]
    clips = [dict(person=p, role=r, path=f"/{p}_{r}.flac") for p in ("y", "x")
             for r in ("ref", "ceiling")]
    items = quality.realvoice_items(clips, ["one", "two", "three"], 2)
    assert [(i.person, i.text, str(i.ref)) for i in items] == [
        ("x", "one", "/x_ref.flac"), ("x", "two", "/x_ref.flac"),
        ("y", "three", "/y_ref.flac"), ("y", "one", "/y_ref.flac")]


def test_quality_says_how_to_build_a_missing_set(tmp_path):
    clips, note = quality.load_realvoice(str(tmp_path / "none-here"))
    assert clips is None and "local/realvoice.sh" in note and note.startswith("#")
    assert quality.load_realvoice("none")[0] is None
