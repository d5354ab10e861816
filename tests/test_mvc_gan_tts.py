"""MVC as the text2mel of ESPnet's ``joint_text2wav`` under ``--tts_task gan_tts``.

``GANTTSTask`` builds ``ESPnetGANTTSModel(tts=JointText2Wav(text2mel_type=mvc, HiFi-GAN
generator, HiFi-GAN multi-scale multi-period discriminator))`` from a full config (raw
speech -> fbank / dio / energy + global_mvn inside the model). One generator step and one
discriminator step with the task's two optimizers give finite losses and gradients, and
inference returns a waveform of T_feats * hop samples.
"""

import math

import pytest
import torch
from conftest import FS, HOP

from espnet_mvc.tts.mvc import MVC

SEGMENT = 8  # frames per vocoder training segment


def _gan_conf(mvc_conf, **text2mel_update):
    tiny = mvc_conf("mvc_tiny")
    text2mel = dict(tiny["tts_conf"], **text2mel_update)
    conf = {k: v for k, v in tiny.items() if not k.startswith(("tts", "optim", "scheduler"))}
    conf.update(
        tts="joint_text2wav",
        tts_conf=dict(
            text2mel_type="mvc",
            text2mel_params=text2mel,
            vocoder_type="hifigan_generator",
            vocoder_params=dict(
                out_channels=1, channels=32, global_channels=-1, kernel_size=7,
                upsample_scales=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
                resblock_kernel_sizes=[3], resblock_dilations=[[1, 3]],
                use_additional_convs=False, use_weight_norm=True,
            ),
            discriminator_type="hifigan_multi_scale_multi_period_discriminator",
            discriminator_params=dict(
                scales=1,
                scale_downsample_pooling="AvgPool1d",
                scale_downsample_pooling_params=dict(kernel_size=4, stride=2, padding=2),
                scale_discriminator_params=dict(
                    in_channels=1, out_channels=1, kernel_sizes=[15, 41, 5, 3], channels=8,
                    max_downsample_channels=32, max_groups=4, bias=True,
                    downsample_scales=[2, 2, 1], use_weight_norm=True,
                ),
                follow_official_norm=False,
                periods=[2, 3],
                period_discriminator_params=dict(
                    in_channels=1, out_channels=1, kernel_sizes=[5, 3], channels=4,
                    downsample_scales=[3, 1], max_downsample_channels=16, bias=True,
                    use_weight_norm=True,
                ),
            ),
            mel_loss_params=dict(fs=FS, n_fft=1024, hop_length=HOP, win_length=None,
                                 window="hann", n_mels=80, fmin=0, fmax=None),
            segment_size=SEGMENT,
            sampling_rate=FS,
        ),
        optim="adam",
        optim_conf=dict(lr=2.0e-4, betas=[0.8, 0.99]),
        optim2="adam",
        optim2_conf=dict(lr=2.0e-4, betas=[0.8, 0.99]),
    )
    return conf


def _batch(make_speech):
    lengths = [int(0.5 * FS), int(0.42 * FS)]
    speech = torch.zeros(2, max(lengths))
    for i, n in enumerate(lengths):
        speech[i, :n] = make_speech(n, f0=130.0 + 45 * i, seed=i)
    return dict(
        text=torch.tensor([[2, 3, 4, 5, 6], [6, 5, 4, 0, 0]]),
        text_lengths=torch.tensor([5, 3]),
        speech=speech,
        speech_lengths=torch.tensor(lengths),
    )


@pytest.fixture(scope="module")
def gan(tmp_path_factory, mvc_conf, make_speech, build_espnet):
    from espnet2.tasks.gan_tts import GANTTSTask

    torch.manual_seed(0)
    batch = _batch(make_speech)
    model, args = build_espnet(
        GANTTSTask, _gan_conf(mvc_conf), tmp_path_factory.mktemp("mvc_gan"), batch
    )
    return model, args, batch


def _grad_norms(module):
    return {n: p.grad for n, p in module.named_parameters() if p.requires_grad}


def test_gan_tts_builds_joint_text2wav(gan):
    from espnet2.gan_tts.espnet_model import ESPnetGANTTSModel
    from espnet2.gan_tts.hifigan import HiFiGANGenerator
    from espnet2.gan_tts.joint import JointText2Wav

    model, _, _ = gan
    assert isinstance(model, ESPnetGANTTSModel)
    assert isinstance(model.tts, JointText2Wav)
    assert isinstance(model.tts.generator["text2mel"], MVC)
    assert isinstance(model.tts.generator["vocoder"], HiFiGANGenerator)
    assert model.tts.generator["vocoder"].upsample_factor == HOP
    assert model.pitch_extract is not None and model.energy_extract is not None


def test_generator_and_discriminator_steps(gan):
    from espnet2.tasks.gan_tts import GANTTSTask

    model, args, batch = gan
    optim_g, optim_d = GANTTSTask.build_optimizers(args, model)
    model.train()
    gen, disc = model.tts.generator, model.tts.discriminator

    # two generator steps: the first one's zero-initialised AdaLN / flow output layers
    # block gradients to the style encoder and the estimator's inner layers (see
    # test_mvc_espnet._train_steps); the second one reaches every part
    for _ in range(2):
        out = model(**batch, forward_generator=True)
        assert out["optim_idx"] == 0
        loss = out["loss"]
        assert torch.isfinite(loss).all(), out["stats"]
        optim_g.zero_grad()
        optim_d.zero_grad()
        loss.backward()
        optim_g.step()
    stats = out["stats"]
    # JointText2Wav's generator terms + MVC's own terms (pitch/energy: dio/energy targets)
    for key in ("loss", "text2mel_loss", "mel_loss", "adv_loss", "feat_match_loss",
                "prior_loss", "diff_loss", "dur_loss", "pitch_loss", "energy_loss"):
        assert key in stats, (key, sorted(stats))
        assert math.isfinite(float(stats[key])), (key, stats[key])
    g_grads = _grad_norms(gen)
    assert all(g is not None and torch.isfinite(g).all() for g in g_grads.values())
    for part in ("text2mel.text_encoder.", "text2mel.style_encoder.", "text2mel.decoder.",
                 "text2mel.aligner.", "vocoder."):
        assert sum(float(g.norm()) for n, g in g_grads.items() if n.startswith(part)) > 0, part

    # discriminator step
    optim_g.zero_grad()
    optim_d.zero_grad()
    out = model(**batch, forward_generator=False)
    assert out["optim_idx"] == 1
    assert torch.isfinite(out["loss"]).all(), out["stats"]
    for key in ("discriminator_loss", "real_loss", "fake_loss"):
        assert math.isfinite(float(out["stats"][key]))
    out["loss"].backward()
    d_grads = _grad_norms(disc)
    assert all(g is not None and torch.isfinite(g).all() for g in d_grads.values())
    assert sum(float(g.norm()) for g in d_grads.values()) > 0
    before = {n: p.detach().clone() for n, p in disc.named_parameters()}
    optim_d.step()
    assert any(not torch.equal(p, before[n]) for n, p in disc.named_parameters())


def test_joint_inference_wav_length(gan, make_speech):
    model, _, _ = gan
    model.eval()
    text2mel = model.tts.generator["text2mel"]
    ref = make_speech(int(0.6 * FS), f0=160.0, seed=4)
    with torch.no_grad():
        ref_feats = model.normalize(model.feats_extract(ref[None])[0])[0][0]
        out = model.tts.inference(torch.tensor([2, 3, 4, 5]), feats=ref_feats,
                                  n_timesteps=2, seed=0)
    n_frames = out["feat_gen"].shape[0]
    assert out["feat_gen"].shape == (n_frames, text2mel.odim)
    assert n_frames == int(out["duration"].sum())
    wav = out["wav"].view(-1)
    assert wav.numel() == n_frames * HOP
    assert torch.isfinite(wav).all()


def test_text2speech_on_gan_model_multispeaker(tmp_path, mvc_conf, make_speech, build_espnet,
                                               save_for_inference):
    """ESPnet's Text2Speech rebuilds a gan_tts model through TTSTask (joint_text2wav is an
    inference-only choice there): sids reach MVC and the joint HiFi-GAN gives the wav."""
    from espnet2.bin.tts_inference import Text2Speech
    from espnet2.tasks.gan_tts import GANTTSTask

    torch.manual_seed(0)
    batch = dict(_batch(make_speech), sids=torch.tensor([[0], [2]]))
    conf = _gan_conf(mvc_conf, spks=3, style_encoder="none")
    model, args = build_espnet(GANTTSTask, conf, tmp_path, batch)
    model.train()
    out = model(**batch, forward_generator=True)
    assert torch.isfinite(out["loss"]).all()
    config, model_file = save_for_inference(model, args, tmp_path)
    tts = Text2Speech(train_config=config, model_file=model_file)
    assert tts.use_sids
    res = tts("a b c", sids=torch.tensor([1]), decode_conf={"seed": 0, "n_timesteps": 2})
    n_frames = int(res["duration"].sum())
    assert res["feat_gen"].shape == (n_frames, 80)
    assert res["wav"].numel() == n_frames * HOP


def test_text2speech_on_gan_model_with_reference(tmp_path, gan, save_for_inference,
                                                 make_speech):
    from espnet2.bin.tts_inference import Text2Speech

    model, args, _ = gan
    config, model_file = save_for_inference(model, args, tmp_path)
    tts = Text2Speech(train_config=config, model_file=model_file)
    assert tts.use_speech  # the joint wrapper exposes its text2mel's use_gst
    opts = {"seed": 0, "n_timesteps": 2}
    ref = make_speech(int(0.6 * FS), f0=160.0, seed=4)
    res = tts("a b c", speech=ref, decode_conf=opts)
    n_frames = int(res["duration"].sum())
    assert res["feat_gen"].shape == (n_frames, 80)
    assert res["wav"].numel() == n_frames * HOP
    # the reference reaches the style encoder: another voice, another output
    other = tts("a b c", speech=make_speech(int(0.6 * FS), f0=90.0, seed=9), decode_conf=opts)
    if other["feat_gen"].shape == res["feat_gen"].shape:
        assert (other["feat_gen"] - res["feat_gen"]).abs().max() > 1e-5
    with pytest.raises(RuntimeError, match="Missing required argument: 'speech'"):
        tts("a b c")
