"""MVC through ESPnet's own machinery: ``TTSTask`` build, training step on raw speech
(fbank + dio + energy + global_mvn, as in real training), and decoding through
``ESPnetTTSModel.inference`` / ``espnet2.bin.tts_inference.Text2Speech``.

Cases: single speaker with a reference for the style encoder, multi-speaker with ``sids``
(no style encoder), zero-shot style from reference audio, and MVC's own decode options
(``n_timesteps``, ``temperature``, ``alpha``, ``seed``, ``solver``) via ``decode_conf``.
"""

import math

import numpy as np
import pytest
import torch
import yaml
from conftest import FS, HOP, TOKENS

from espnet_mvc.tts.mvc import MVC


def _batch(make_speech, n_utts=2, sids=False):
    lengths = [int(FS * 0.5), int(FS * 0.37), int(FS * 0.44)][:n_utts]
    speech = torch.zeros(n_utts, max(lengths))
    for i, n in enumerate(lengths):
        speech[i, :n] = make_speech(n, f0=110.0 + 40 * i, seed=i)
    texts = [[2, 3, 4, 5, 6, 7], [4, 3, 2, 5], [7, 6, 5, 4, 3]][:n_utts]
    text = torch.zeros(n_utts, max(map(len, texts)), dtype=torch.long)
    for i, t in enumerate(texts):
        text[i, : len(t)] = torch.tensor(t)
    batch = dict(
        text=text,
        text_lengths=torch.tensor([len(t) for t in texts]),
        speech=speech,
        speech_lengths=torch.tensor(lengths),
    )
    if sids:
        batch["sids"] = torch.arange(n_utts).view(-1, 1) % 3
    return batch


def _vocoder_conf(tmp_path):
    """Griffin-Lim with few iterations (Text2Speech's fallback vocoder), for speed."""
    path = tmp_path / "griffin_lim.yaml"
    path.write_text(yaml.safe_dump({"griffin_lim_iters": 4}))
    return path


def _train_steps(model, args, batch, n_steps=2):
    """``n_steps`` optimizer steps with the optimizer that the config selects.

    Returns the last step's loss, stats and gradients. Two steps, because AdaLN's style
    projection and the flow estimator's output conv start at zero (so at the very first
    step no gradient reaches the style encoder or the estimator's inner layers yet).
    """
    from espnet2.tasks.tts import TTSTask

    optim = TTSTask.build_optimizers(args, model)[0]
    for _ in range(n_steps):
        loss, stats, grads = _step(model, optim, batch)
    return loss, stats, grads


def _step(model, optim, batch):
    model.train()
    loss, stats, weight = model(**batch)
    assert loss.dim() <= 1 and loss.numel() == 1
    assert torch.isfinite(loss).all(), stats
    optim.zero_grad()
    loss.sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    missing = sorted(n for n, g in grads.items() if g is None)
    assert not missing, f"parameters without gradient: {missing[:8]}"
    assert all(torch.isfinite(g).all() for g in grads.values())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optim.step()
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert changed, "the optimizer step changed no parameter"
    return loss, stats, grads


def _set_durations(mvc: MVC, frames_per_token: float = 4.0):
    """Make the (untrained) duration predictor predict ~``frames_per_token`` per token.

    An untrained predictor outputs log(d + 1) ~ 0, i.e. 1 frame per token, which hides the
    effect of ``alpha``; this sets the head as a trained model would roughly be.
    """
    with torch.no_grad():
        mvc.duration_predictor.proj.weight.mul_(0.01)
        mvc.duration_predictor.proj.bias.fill_(math.log(frames_per_token + 1.0))


@pytest.fixture(scope="module")
def single(tmp_path_factory, mvc_conf, make_speech, build_espnet, save_for_inference):
    """Tiny MVC with a reference style encoder, trained one step, saved for Text2Speech."""
    from espnet2.tasks.tts import TTSTask

    torch.manual_seed(0)
    workdir = tmp_path_factory.mktemp("mvc_single")
    batch = _batch(make_speech, 3)
    model, args = build_espnet(TTSTask, mvc_conf("mvc_tiny"), workdir, batch)
    loss, stats, grads = _train_steps(model, args, batch)
    _set_durations(model.tts)
    config, model_file = save_for_inference(model, args, workdir)
    return dict(model=model, args=args, batch=batch, stats=stats, grads=grads,
                config=config, model_file=model_file, workdir=workdir)


def test_build_through_tts_task(single):
    from espnet2.layers.global_mvn import GlobalMVN
    from espnet2.tts.espnet_model import ESPnetTTSModel
    from espnet2.tts.feats_extract.dio import Dio
    from espnet2.tts.feats_extract.energy import Energy
    from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

    model = single["model"]
    assert isinstance(model, ESPnetTTSModel)
    assert isinstance(model.tts, MVC)
    assert isinstance(model.feats_extract, LogMelFbank)
    assert isinstance(model.pitch_extract, Dio)
    assert isinstance(model.energy_extract, Energy)
    for norm in (model.normalize, model.pitch_normalize, model.energy_normalize):
        assert isinstance(norm, GlobalMVN)
    assert model.tts.idim == len(TOKENS)
    assert model.tts.odim == 80 == model.feats_extract.output_size()
    assert model.tts.use_gst


def test_train_step_losses_and_gradients(single):
    stats = single["stats"]
    # pitch / energy losses exist only if dio / energy targets reached the model
    for key in ("prior", "diff", "dur", "align", "bin", "pitch", "energy"):
        value = float(stats[f"{key}_loss"])
        assert math.isfinite(value), (key, value)
    assert float(stats["loss"]) > 0
    grads = single["grads"]
    for part in ("text_encoder", "duration_predictor", "prosody_predictor",
                 "style_encoder", "decoder", "aligner", "mu_proj"):
        norm = sum(float(g.norm()) for n, g in grads.items() if n.startswith(f"tts.{part}."))
        assert norm > 0, f"no gradient reaches {part}"


def _text2speech(single, tmp_path, **kw):
    from espnet2.bin.tts_inference import Text2Speech

    return Text2Speech(
        train_config=single["config"], model_file=single["model_file"],
        vocoder_config=_vocoder_conf(tmp_path), **kw,
    )


def _check_output(out, n_tokens):
    feat = out["feat_gen"]
    dur = out["duration"]
    assert feat.dim() == 2 and feat.shape[1] == 80
    assert dur.shape == (n_tokens,)
    assert int(dur.min()) >= 1
    assert feat.shape[0] == int(dur.sum())
    assert torch.isfinite(feat).all()
    assert out["feat_gen_denorm"].shape == feat.shape
    assert out["pitch"].shape == (feat.shape[0], 1)
    assert out["energy"].shape == (feat.shape[0], 1)
    wav = out["wav"]
    assert wav.dim() == 1 and torch.isfinite(torch.as_tensor(wav)).all()
    # Griffin-Lim: one hop per frame (up to one frame of istft edge)
    assert abs(wav.shape[0] - feat.shape[0] * HOP) <= HOP


def test_text2speech_single_speaker_reference(single, tmp_path, make_speech):
    tts = _text2speech(single, tmp_path)
    assert tts.use_speech and not tts.use_sids
    ref = single["batch"]["speech"][0, : single["batch"]["speech_lengths"][0]]
    # text as a string goes through ESPnet's preprocessor (phn tokens, space-separated)
    out = tts("a b c d e", speech=ref)
    _check_output(out, 5)
    # the string was tokenized to the expected ids: same result from the id tensor
    out_ids = tts(torch.tensor([2, 3, 4, 5, 6]), speech=ref, decode_conf={"seed": 3})
    out_str = tts("a b c d e", speech=ref, decode_conf={"seed": 3})
    torch.testing.assert_close(out_ids["feat_gen"], out_str["feat_gen"])
    # ~4 frames per token (see _set_durations)
    assert 15 <= out["feat_gen"].shape[0] <= 25


def test_esp_model_inference_matches_text2speech(single, tmp_path):
    """ESPnetTTSModel.inference (fbank + global_mvn of the reference) = Text2Speech."""
    model = single["model"].eval()
    ref = single["batch"]["speech"][1, : single["batch"]["speech_lengths"][1]]
    text = torch.tensor([2, 4, 6, 3])
    out = model.inference(text, speech=ref, use_teacher_forcing=False, seed=5)
    _check_output(dict(out, wav=torch.zeros(out["feat_gen"].shape[0] * HOP)), 4)
    out2 = _text2speech(single, tmp_path)(text, speech=ref, decode_conf={"seed": 5})
    torch.testing.assert_close(out["feat_gen"], out2["feat_gen"])


def test_decode_conf_reaches_mvc(single, tmp_path):
    tts = _text2speech(single, tmp_path)
    ref = single["batch"]["speech"][0, : single["batch"]["speech_lengths"][0]]
    text = "a b c d e f"
    opts = {"n_timesteps": 3, "temperature": 0.5, "alpha": 1.5, "seed": 1}
    calls = []
    hook = tts.tts.decoder.estimator.register_forward_hook(lambda *a: calls.append(1))
    try:
        slow = tts(text, speech=ref, decode_conf=opts)
        assert len(calls) == 3, "n_timesteps=3 must give 3 Euler evaluations"
        calls.clear()
        tts(text, speech=ref, decode_conf=dict(opts, solver="midpoint"))
        assert len(calls) == 6, "midpoint: 2 evaluations per step"
    finally:
        hook.remove()
    normal = tts(text, speech=ref, decode_conf=dict(opts, alpha=1.0))
    _check_output(slow, 6)
    _check_output(normal, 6)
    n_slow, n_normal = slow["feat_gen"].shape[0], normal["feat_gen"].shape[0]
    assert n_slow > n_normal
    assert 1.3 < n_slow / n_normal < 1.7, (n_slow, n_normal)
    # seeds: same seed -> identical, different seed -> different
    again = tts(text, speech=ref, decode_conf=opts)
    torch.testing.assert_close(slow["feat_gen"], again["feat_gen"], rtol=0, atol=0)
    other = tts(text, speech=ref, decode_conf=dict(opts, seed=2))
    assert other["feat_gen"].shape == slow["feat_gen"].shape
    assert (other["feat_gen"] - slow["feat_gen"]).abs().max() > 1e-3
    # temperature 0: deterministic whatever the seed
    t0a = tts(text, speech=ref, decode_conf=dict(opts, temperature=0.0, seed=1))
    t0b = tts(text, speech=ref, decode_conf=dict(opts, temperature=0.0, seed=2))
    torch.testing.assert_close(t0a["feat_gen"], t0b["feat_gen"])


def test_reference_audio_sets_the_style(single, tmp_path, make_speech):
    """Zero-shot: an unseen reference waveform changes the output; the same one does not."""
    tts = _text2speech(single, tmp_path)
    ref_a = make_speech(int(FS * 0.6), f0=95.0, seed=7)
    ref_b = make_speech(int(FS * 0.6), f0=230.0, seed=8)
    text = "f e d c"
    opts = {"seed": 11}
    out_a = tts(text, speech=ref_a, decode_conf=opts)
    out_a2 = tts(text, speech=ref_a.numpy(), decode_conf=opts)  # numpy input as well
    out_b = tts(text, speech=ref_b, decode_conf=opts)
    _check_output(out_a, 4)
    torch.testing.assert_close(out_a["feat_gen"], out_a2["feat_gen"])
    assert out_a["feat_gen"].shape == out_b["feat_gen"].shape  # durations set by _set_durations
    assert (out_a["feat_gen"] - out_b["feat_gen"]).abs().max() > 1e-4
    # the style vector itself: reference-dependent, finite
    mvc = tts.tts
    feats = [tts.model.normalize(tts.model.feats_extract(r[None])[0])[0] for r in (ref_a, ref_b)]
    styles = [mvc.style_encoder(f, torch.tensor([f.shape[1]])) for f in feats]
    assert styles[0].shape == (1, mvc.style_dim)
    assert (styles[0] - styles[1]).abs().max() > 1e-4


@pytest.fixture(scope="module")
def multispk(tmp_path_factory, mvc_conf, make_speech, build_espnet, save_for_inference):
    from espnet2.tasks.tts import TTSTask

    torch.manual_seed(1)
    workdir = tmp_path_factory.mktemp("mvc_multispk")
    conf = mvc_conf("mvc_tiny")
    conf["tts_conf"].update(spks=3, style_encoder="none")
    batch = _batch(make_speech, 3, sids=True)
    model, args = build_espnet(TTSTask, conf, workdir, batch)
    loss, stats, grads = _train_steps(model, args, batch)
    _set_durations(model.tts)
    config, model_file = save_for_inference(model, args, workdir)
    return dict(model=model, args=args, batch=batch, stats=stats, grads=grads,
                config=config, model_file=model_file)


def test_multispeaker_sids(multispk, tmp_path):
    from espnet2.bin.tts_inference import Text2Speech

    mvc = multispk["model"].tts
    assert mvc.style_encoder is None and not mvc.use_gst
    assert mvc.spks == 3
    assert float(multispk["grads"]["tts.sid_emb.weight"].norm()) > 0
    tts = Text2Speech(train_config=multispk["config"], model_file=multispk["model_file"],
                      vocoder_config=_vocoder_conf(tmp_path))
    assert tts.use_sids and not tts.use_speech
    outs = [tts("a b c d", sids=np.array([s]), decode_conf={"seed": 0}) for s in (0, 2)]
    for out in outs:
        _check_output(out, 4)
    # the speaker id is used: same seed and text, different speakers -> different mels
    assert (outs[0]["feat_gen"] - outs[1]["feat_gen"]).abs().max() > 1e-4
    again = tts("a b c d", sids=np.array([0]), decode_conf={"seed": 0})
    torch.testing.assert_close(outs[0]["feat_gen"], again["feat_gen"])


def test_text2speech_generic_options_map_to_mvc(single, tmp_path):
    """Text2Speech's own speed_control_alpha / noise_scale reach MVC (alpha / temperature)."""
    ref = single["batch"]["speech"][0, : single["batch"]["speech_lengths"][0]]
    normal = _text2speech(single, tmp_path)
    slow = _text2speech(single, tmp_path, speed_control_alpha=1.5)
    quiet = _text2speech(single, tmp_path, noise_scale=0.0)
    text = "a b c d e f"
    n_normal = normal(text, speech=ref, decode_conf={"seed": 0})["feat_gen"].shape[0]
    n_slow = slow(text, speech=ref, decode_conf={"seed": 0})["feat_gen"].shape[0]
    assert n_slow > n_normal
    a = quiet(text, speech=ref, decode_conf={"seed": 1})["feat_gen"]
    b = quiet(text, speech=ref, decode_conf={"seed": 2})["feat_gen"]
    torch.testing.assert_close(a, b)  # no sampler noise: the seed no longer matters


def test_spembs_and_lids(tmp_path, mvc_conf, make_speech, build_espnet, save_for_inference):
    """External speaker embeddings + language ids (no reference encoder), end to end."""
    from espnet2.bin.tts_inference import Text2Speech
    from espnet2.tasks.tts import TTSTask

    torch.manual_seed(2)
    conf = mvc_conf("mvc_tiny")
    conf["tts_conf"].update(spk_embed_dim=6, langs=2, style_encoder="none")
    batch = _batch(make_speech, 2)
    batch.update(spembs=torch.randn(2, 6), lids=torch.tensor([[0], [1]]))
    model, args = build_espnet(TTSTask, conf, tmp_path, batch)
    loss, stats, grads = _train_steps(model, args, batch)
    assert float(grads["tts.spemb_proj.weight"].norm()) > 0
    assert float(grads["tts.lid_emb.weight"].norm()) > 0
    config, model_file = save_for_inference(model, args, tmp_path)
    tts = Text2Speech(train_config=config, model_file=model_file,
                      vocoder_config=_vocoder_conf(tmp_path))
    assert tts.use_spembs and tts.use_lids and not tts.use_speech
    spemb = np.random.default_rng(0).standard_normal(6).astype(np.float32)
    outs = [tts("a b c", spembs=spemb, lids=np.array([lid]), decode_conf={"seed": 0})
            for lid in (0, 1)]
    _check_output(outs[0], 3)
    assert (outs[0]["feat_gen"] - outs[1]["feat_gen"]).abs().max() > 1e-5
    with pytest.raises(RuntimeError, match="Missing required argument: 'lids'"):
        tts("a b c", spembs=spemb)
    with pytest.raises(ValueError, match="needs speaker embeddings: pass spembs"):
        model.tts.inference(torch.tensor([2, 3]), lids=torch.tensor([0]))
