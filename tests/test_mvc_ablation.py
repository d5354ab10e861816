"""The fusion ablation (``conf/mvc_concat.yaml``): it differs from the paper config only
in ``fusion`` / ``adaln``, builds through ESPnet's ``TTSTask`` and trains a step, and the
two switches really change the module structure (and the computation)."""

import math

import pytest
import torch
import torch.nn as nn
from conftest import FS

from espnet_mvc.nets.ssm import GatedBiMambaBlock
from espnet_mvc.nets.ssm.adaln import AdaLN
from espnet_mvc.tts.mvc import MVC

STACKS = ("text_encoder", "duration_predictor", "prosody_predictor")


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_concat_config_differs_only_in_fusion_and_adaln(mvc_conf):
    base, concat = _flatten(mvc_conf("mvc_base")), _flatten(mvc_conf("mvc_concat"))
    assert set(base) == set(concat)
    diff = {k: (base[k], concat[k]) for k in base if base[k] != concat[k]}
    assert diff == {"tts_conf.fusion": ("gated", "concat"), "tts_conf.adaln": (True, False)}


def test_concat_config_builds_and_trains_one_step(tmp_path, mvc_conf, make_speech,
                                                  build_espnet):
    from espnet2.tasks.tts import TTSTask

    lengths = [int(0.45 * FS), int(0.35 * FS)]
    speech = torch.zeros(2, max(lengths))
    for i, n in enumerate(lengths):
        speech[i, :n] = make_speech(n, f0=120.0 + 60 * i, seed=i)
    batch = dict(text=torch.tensor([[2, 3, 4, 5], [5, 6, 7, 0]]),
                 text_lengths=torch.tensor([4, 3]), speech=speech,
                 speech_lengths=torch.tensor(lengths))
    torch.manual_seed(0)
    model, args = build_espnet(TTSTask, mvc_conf("mvc_concat"), tmp_path, batch)
    mvc = model.tts
    assert isinstance(mvc, MVC) and not mvc.adaln
    optim = TTSTask.build_optimizers(args, model)[0]
    model.train()
    loss, stats, _ = model(**batch)
    assert torch.isfinite(loss).all(), stats
    assert all(math.isfinite(float(v)) for v in stats.values()), stats
    optim.zero_grad()
    loss.sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # the ablation's style path (added to the stack inputs) is trained
    for name in ("tts.style_to_text.weight", "tts.style_to_frames.weight"):
        assert float(grads[name].norm()) > 0, name
    before = mvc.style_to_text.weight.detach().clone()
    optim.step()
    assert not torch.equal(before, mvc.style_to_text.weight)


@pytest.fixture(scope="module")
def pair(mvc_conf):
    """Paper (gated + AdaLN) and ablation (concat + plain LayerNorm) at the tiny size."""
    tiny = mvc_conf("mvc_tiny")["tts_conf"]
    torch.manual_seed(0)
    paper = MVC(idim=9, odim=80, **tiny).eval()
    torch.manual_seed(0)
    ablation = MVC(idim=9, odim=80, **dict(tiny, fusion="concat", adaln=False)).eval()
    return paper, ablation


def _stack_blocks(mvc):
    return [(part, b) for part in STACKS for b in getattr(mvc, part).modules()
            if isinstance(b, GatedBiMambaBlock)]


def test_fusion_and_adaln_change_the_structure(pair, mvc_conf):
    paper, ablation = pair
    for part, block in _stack_blocks(paper):
        assert block.fusion == "gated", part
        assert isinstance(block.norm, AdaLN) and block.norm.style_dim == paper.style_dim
        assert hasattr(block.norm, "to_scale_shift") and not block.norm.norm.elementwise_affine
    for part, block in _stack_blocks(ablation):
        assert block.fusion == "concat", part
        assert block.norm.style_dim is None and not hasattr(block.norm, "to_scale_shift")
        assert block.norm.norm.elementwise_affine  # plain LayerNorm with its own affine
    assert not hasattr(paper, "style_to_text") and not hasattr(paper, "style_to_frames")
    assert isinstance(ablation.style_to_text, nn.Linear)
    assert isinstance(ablation.style_to_frames, nn.Linear)
    names_p = {n for n, _ in paper.named_parameters()}
    names_a = {n for n, _ in ablation.named_parameters()}
    assert any("to_scale_shift" in n for n in names_p - names_a)
    assert {"style_to_text.weight", "style_to_frames.weight"} <= names_a - names_p
    # the same holds at the paper size
    base = MVC(idim=80, odim=80, **mvc_conf("mvc_concat")["tts_conf"])
    assert all(b.fusion == "concat" and b.norm.style_dim is None for _, b in _stack_blocks(base))


def test_fusion_switch_changes_the_computation():
    torch.manual_seed(0)
    gated = GatedBiMambaBlock(16, None, "gated", 4, 4, 2).eval()
    concat = GatedBiMambaBlock(16, None, "concat", 4, 4, 2).eval()
    concat.load_state_dict(gated.state_dict())  # same parameters, different fusion
    x = torch.randn(2, 11, 16)
    lengths = torch.tensor([11, 7])
    with torch.no_grad():
        assert (gated(x, lengths) - concat(x, lengths)).abs().max() > 1e-3


def test_ablation_style_enters_without_adaln(pair):
    """adaln: false still conditions on the style (through the stack inputs)."""
    _, ablation = pair
    text, tl = torch.tensor([[2, 3, 4, 5]]), torch.tensor([4])
    with torch.no_grad():
        h1 = ablation.encode_text(text, tl, torch.randn(1, ablation.style_dim))
        h2 = ablation.encode_text(text, tl, torch.randn(1, ablation.style_dim))
    assert (h1 - h2).abs().max() > 1e-4
    ref = torch.randn(30, 80)
    out = ablation.inference(torch.tensor([2, 3, 4]), feats=ref, n_timesteps=2)
    assert out["feat_gen"].shape == (int(out["duration"].sum()), 80)
