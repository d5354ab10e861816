"""Padded-batch equivalence: an item inside a padded batch gets exactly the output it gets
alone (atol 1e-5), for every component that runs at inference and for the whole inference.

The untrained model's zero-initialised layers (AdaLN style projections, the flow
estimator's output conv) are re-initialised at random first: at zero they would hide any
padding leak through the style or the estimator. Lengths are odd and mixed so that the
U-Net's half-rate level sees the boundary cases.
"""

import pytest
import torch
from conftest import TOKENS
from mvc_testing import randomize_zero_inits

from espnet_mvc.tts.mvc import MVC, DecodeOptions

ATOL = 1e-5
TEXT_LENS = [7, 3, 10]
REF_LENS = [21, 40, 17]


def _pad(seqs, value=0):
    out = torch.full((len(seqs), max(s.shape[0] for s in seqs), *seqs[0].shape[1:]), value,
                     dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out, torch.tensor([s.shape[0] for s in seqs])


def _make_mvc(conf):
    torch.manual_seed(0)
    m = randomize_zero_inits(MVC(idim=len(TOKENS), odim=80, **conf).eval())
    with torch.no_grad():
        # a few frames per token, varying by token
        m.duration_predictor.proj.bias.fill_(1.4)
    return m


@pytest.fixture(scope="module")
def mvc(mvc_conf):
    return _make_mvc(mvc_conf("mvc_tiny")["tts_conf"])


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(1)
    texts = [torch.randint(2, len(TOKENS) - 1, (n,), generator=g) for n in TEXT_LENS]
    refs = [torch.randn(n, 80, generator=g) for n in REF_LENS]
    return texts, refs


def _styles(mvc, refs):
    single = [mvc.style_encoder(r[None], torch.tensor([r.shape[0]])) for r in refs]
    ref, ref_lengths = _pad(refs)
    return single, mvc.style_encoder(ref, ref_lengths)


@torch.no_grad()
def test_style_encoder(mvc, data):
    single, batched = _styles(mvc, data[1])
    for i, s in enumerate(single):
        torch.testing.assert_close(batched[i : i + 1], s, atol=ATOL, rtol=0)
    assert (single[0] - single[1]).abs().max() > 1e-3  # the reference matters


@torch.no_grad()
def test_text_encoder_and_duration_predictor(mvc, data):
    texts, refs = data
    styles, style_b = _styles(mvc, refs)
    text, tl = _pad(texts)
    hs_b = mvc.encode_text(text, tl, style_b)
    logd_b = mvc.duration_predictor(hs_b, tl, style_b)
    for i, t in enumerate(texts):
        n = t.shape[0]
        hs = mvc.encode_text(t[None], torch.tensor([n]), styles[i])
        logd = mvc.duration_predictor(hs, torch.tensor([n]), styles[i])
        torch.testing.assert_close(hs_b[i, :n], hs[0], atol=ATOL, rtol=0)
        torch.testing.assert_close(logd_b[i, :n], logd[0], atol=ATOL, rtol=0)
        assert hs_b[i, n:].abs().max() == 0 if n < text.shape[1] else True
        assert logd_b[i, n:].abs().max() == 0 if n < text.shape[1] else True


@torch.no_grad()
def test_prosody_predictor(mvc, data):
    _, refs = data
    styles, style_b = _styles(mvc, refs)
    g = torch.Generator().manual_seed(2)
    lens = [13, 30, 5]
    frames = [torch.randn(n, mvc.adim, generator=g) for n in lens]
    h, fl = _pad(frames)
    c_b, f0_b, e_b = mvc.prosody_predictor(h, fl, style_b)
    for i, x in enumerate(frames):
        n = lens[i]
        c, f0, e = mvc.prosody_predictor(x[None], torch.tensor([n]), styles[i])
        torch.testing.assert_close(c_b[i, :n], c[0], atol=ATOL, rtol=0)
        torch.testing.assert_close(f0_b[i, :n], f0[0], atol=ATOL, rtol=0)
        torch.testing.assert_close(e_b[i, :n], e[0], atol=ATOL, rtol=0)
        assert c_b[i, n:].abs().sum() == 0


@torch.no_grad()
@pytest.mark.parametrize("t", [0.0, 0.37, 0.9])
def test_decoder_estimator(mvc, data, t):
    _, refs = data
    styles, style_b = _styles(mvc, refs)
    g = torch.Generator().manual_seed(3)
    lens = [13, 30, 6]  # odd / even around the U-Net's stride-2 level
    xs = [torch.randn(80, n, generator=g) for n in lens]
    mus = [torch.randn(80, n, generator=g) for n in lens]
    x_b = _pad([x.T for x in xs])[0].transpose(1, 2)
    mu_b = _pad([m.T for m in mus])[0].transpose(1, 2)
    mask_b = (torch.arange(max(lens))[None] < torch.tensor(lens)[:, None]).float()[:, None]
    est = mvc.decoder.estimator
    v_b = est(x_b, mask_b, mu_b, torch.full((3,), t), style_b)
    for i, n in enumerate(lens):
        v = est(xs[i][None], torch.ones(1, 1, n), mus[i][None], torch.full((1,), t), styles[i])
        assert v.abs().max() > 1e-3  # non-trivial (re-initialised output layer)
        torch.testing.assert_close(v_b[i, :, :n], v[0], atol=ATOL, rtol=0)
        assert v_b[i, :, n:].abs().sum() == 0


@torch.no_grad()
def _batched_inference(mvc, texts, refs, seeds, n_timesteps=3, temperature=0.667, alpha=1.0):
    """MVC.inference for a padded batch, assembled from the same components."""
    text, tl = _pad(texts)
    ref, rl = _pad(refs)
    style = mvc.encode_style(ref, rl, None, None, None, validate=True)
    hs = mvc.encode_text(text, tl, style)
    log_d = mvc.duration_predictor(hs, tl, style)
    text_mask = torch.arange(text.shape[1])[None] < tl[:, None]
    ds = mvc.duration_predictor.to_durations(log_d, alpha) * text_mask  # no frames for padding
    h = mvc.length_regulator(hs, ds, tl)
    fl = ds.sum(1)
    mu, f0, energy = mvc.decoder_condition(h, fl, style)
    t_max = mu.shape[1]
    mask = (torch.arange(t_max)[None] < fl[:, None]).float()[:, None]
    noise = torch.zeros(len(texts), 80, t_max)
    for i, s in enumerate(seeds):  # the noise MVC.inference draws for seed s
        gen = torch.Generator().manual_seed(s)
        noise[i, :, : fl[i]] = torch.randn(1, 80, int(fl[i]), generator=gen)[0]
    options = DecodeOptions(n_timesteps=n_timesteps, temperature=temperature, solver="euler")
    mel = mvc.decoder.sample(mu.transpose(1, 2), mask, style, options, noise)
    return dict(feat_gen=mel.transpose(1, 2), duration=ds, pitch=f0, energy=energy, prior=mu,
                lengths=fl)


@pytest.mark.parametrize("regulator", ["repeat", "gaussian"])
@torch.no_grad()
def test_whole_inference_item_vs_padded_batch(mvc, mvc_conf, data, regulator):
    if regulator != "repeat":
        mvc = _make_mvc(dict(mvc_conf("mvc_tiny")["tts_conf"], length_regulator=regulator))
    assert mvc.length_regulator.kind == regulator
    texts, refs = data
    seeds = [11, 12, 13]
    batched = _batched_inference(mvc, texts, refs, seeds)
    lengths = batched["lengths"]
    assert len(set(lengths.tolist())) == 3, lengths  # genuinely different frame counts
    for i, (t, r, s) in enumerate(zip(texts, refs, seeds)):
        out = mvc.inference(t, feats=r, seed=s, n_timesteps=3)
        n_tok, n = t.shape[0], int(lengths[i])
        assert torch.equal(batched["duration"][i, :n_tok], out["duration"])
        assert out["feat_gen"].shape == (n, 80)
        for key in ("feat_gen", "pitch", "energy", "prior"):
            torch.testing.assert_close(batched[key][i, :n], out[key], atol=ATOL, rtol=0,
                                       msg=lambda m, k=key, j=i: f"item {j} {k}: {m}")
        assert batched["feat_gen"][i, n:].abs().sum() == 0


def test_gaussian_regulator_trains(mvc_conf):
    """The ``gaussian`` length regulator option also trains (padded batch, finite grads)."""
    torch.manual_seed(0)
    m = MVC(idim=len(TOKENS), odim=80,
            **dict(mvc_conf("mvc_tiny")["tts_conf"], length_regulator="gaussian"))
    text, tl = _pad([torch.tensor([2, 3, 4, 5]), torch.tensor([6, 5])])
    feats, fl = _pad([torch.randn(23, 80), torch.randn(12, 80)])
    loss, stats, _ = m(text, tl, feats, fl)
    loss.backward()
    assert torch.isfinite(loss), stats
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
