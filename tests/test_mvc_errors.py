"""Bad input gives a clear error (the message is asserted), on the bare model and through
ESPnet's ``Text2Speech`` where the input arrives as text / waveform."""

import re

import numpy as np
import pytest
import torch
from conftest import FS, TOKENS

from espnet_mvc.tts.mvc import MVC

IDIM = len(TOKENS)


@pytest.fixture(scope="module")
def tiny_conf(mvc_conf):
    return mvc_conf("mvc_tiny")["tts_conf"]


@pytest.fixture(scope="module")
def mvc(tiny_conf):
    torch.manual_seed(0)
    return MVC(idim=IDIM, odim=80, **tiny_conf).eval()


@pytest.fixture(scope="module")
def multispk(tiny_conf):
    torch.manual_seed(0)
    return MVC(idim=IDIM, odim=80, **dict(tiny_conf, spks=3, style_encoder="none")).eval()


@pytest.fixture(scope="module")
def ref():
    """A valid (non-constant, long enough) normalised reference mel (T_ref, 80)."""
    return torch.randn(40, 80, generator=torch.Generator().manual_seed(0))


TEXT = torch.tensor([2, 3, 4, 5])


def _raises(exc, pattern, fn, *args, **kwargs):
    with pytest.raises(exc, match=pattern) as info:
        fn(*args, **kwargs)
    return info


# ---------------------------------------------------------------- text
def test_empty_text(mvc, ref):
    _raises(ValueError, "empty text", mvc.inference, torch.zeros(0, dtype=torch.long),
            feats=ref)


def test_only_unknown_symbols(mvc, ref):
    _raises(ValueError, r"only unknown symbols \(<unk>\)", mvc.inference,
            torch.tensor([1, 1, 1]), feats=ref)
    # some unknown symbols among known ones are fine
    out = mvc.inference(torch.tensor([2, 1, 3]), feats=ref)
    assert out["duration"].shape == (3,)


@pytest.mark.parametrize("bad", [[2, IDIM], [2, 100], [-1, 3]])
def test_token_id_out_of_range(mvc, ref, bad):
    _raises(ValueError, re.escape(f"token ids must be in [0, {IDIM})"), mvc.inference,
            torch.tensor(bad), feats=ref)


# ---------------------------------------------------------------- reference
def test_reference_too_short(mvc):
    enc = mvc.style_encoder
    assert enc.min_frames >= enc.receptive_field
    short = torch.randn(enc.min_frames - 1, 80)
    _raises(ValueError, rf"reference too short: {enc.min_frames - 1} frames.*at least "
            rf"{enc.min_frames} frames", mvc.inference, TEXT, feats=short)
    # exactly min_frames is accepted
    mvc.inference(TEXT, feats=torch.randn(enc.min_frames, 80))


def test_min_frames_never_below_receptive_field(tiny_conf):
    conf = dict(tiny_conf)
    conf["style_encoder_conf"] = dict(conf["style_encoder_conf"], min_frames=1, conv_layers=3)
    m = MVC(idim=IDIM, odim=80, **conf).eval()
    enc = m.style_encoder
    assert enc.receptive_field == 13 and enc.min_frames == 13
    _raises(ValueError, "reference too short: 12 frames", m.inference, TEXT,
            feats=torch.randn(12, 80))


@pytest.mark.parametrize("value", [0.0, -4.0, 1.5])
def test_silent_reference(mvc, value):
    _raises(ValueError, "silent or constant", mvc.inference, TEXT,
            feats=torch.full((40, 80), value))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_reference(mvc, ref, bad):
    x = ref.clone()
    x[5, 7] = bad
    _raises(ValueError, "NaN or Inf", mvc.inference, TEXT, feats=x)


def test_reference_wrong_bins(mvc):
    _raises(ValueError, r"reference features must be \(batch, frames, 80\), got \(1, 40, 60\)",
            mvc.inference, TEXT, feats=torch.randn(40, 60))


def test_missing_reference_for_cloning_model(mvc):
    _raises(ValueError, "clones a voice.*reference", mvc.inference, TEXT)


# ---------------------------------------------------------------- training input
def test_training_feats_wrong_bins(mvc):
    text, tl = torch.tensor([[2, 3, 4]]), torch.tensor([3])
    _raises(ValueError, "feats have 60 bins but the model was built for odim=80",
            mvc.forward, text, tl, torch.randn(1, 30, 60), torch.tensor([30]))


def test_training_missing_sids(multispk):
    text, tl = torch.tensor([[2, 3, 4]]), torch.tensor([3])
    _raises(ValueError, "multi-speaker: pass sids", multispk.forward, text, tl,
            torch.randn(1, 30, 80), torch.tensor([30]))


def test_inference_missing_sids(multispk):
    _raises(ValueError, "multi-speaker: pass sids", multispk.inference, TEXT)
    out = multispk.inference(TEXT, sids=torch.tensor([2]))
    assert out["feat_gen"].shape[1] == 80


# ---------------------------------------------------------------- decode options
@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_alpha_must_be_positive(mvc, ref, alpha):
    _raises(ValueError, r"alpha \(speaking rate\) must be > 0", mvc.inference, TEXT,
            feats=ref, alpha=alpha)


@pytest.mark.parametrize("steps", [-1, -2])
def test_n_timesteps_must_not_be_negative(mvc, ref, steps):
    _raises(ValueError, r"n_timesteps must be >= 0 \(0: the prior mean only\)", mvc.inference,
            TEXT, feats=ref, n_timesteps=steps)


def test_zero_timesteps_is_the_prior_decode(mvc, ref):
    out = mvc.inference(TEXT, feats=ref, n_timesteps=0, seed=0)
    torch.testing.assert_close(out["feat_gen"], out["prior"])
    four = mvc.inference(TEXT, feats=ref, n_timesteps=4, seed=0)
    assert four["feat_gen"].shape == out["feat_gen"].shape


def test_bad_solver(mvc, ref):
    _raises(ValueError, r"solver must be one of \('euler', 'midpoint'\), got 'rk4'",
            mvc.inference, TEXT, feats=ref, solver="rk4")


def test_negative_temperature(mvc, ref):
    _raises(ValueError, "temperature must be >= 0", mvc.inference, TEXT, feats=ref,
            temperature=-0.1)


# ---------------------------------------------------------------- config
@pytest.mark.parametrize(
    "key,value,pattern",
    [
        ("text_encoder", "transformer", r"unknown text_encoder 'transformer'; choose from \['bimamba'\]"),
        ("duration_predictor", "lstm", r"unknown duration_predictor 'lstm'; choose from \['temporal_bimamba'\]"),
        ("prosody_predictor", "variance", r"unknown prosody_predictor 'variance'"),
        ("style_encoder", "gst", r"unknown style_encoder 'gst'; choose from \['mamba_reference'\]"),
        ("decoder", "grad_tts", r"unknown decoder 'grad_tts'; choose from \['cfm'\]"),
        ("aligner", "mas", r"unknown aligner 'mas'; choose from \['jets'\]"),
        ("length_regulator", "nearest", r"length_regulator must be one of \('repeat', 'gaussian'\)"),
        ("fusion", "sum", r"fusion must be one of \('gated', 'concat'\), got 'sum'"),
    ],
)
def test_unknown_component_names(tiny_conf, key, value, pattern):
    _raises(ValueError, pattern, MVC, idim=IDIM, odim=80, **dict(tiny_conf, **{key: value}))


def test_bad_solver_in_config(tiny_conf):
    conf = dict(tiny_conf)
    conf["decoder_conf"] = dict(conf["decoder_conf"], solver="heun3")
    _raises(ValueError, "solver must be one of", MVC, idim=IDIM, odim=80, **conf)


def test_model_without_aligner_needs_durations(tiny_conf, mvc):
    """``aligner: none`` (how inference builds models): the same model less the aligner's
    weights; training then needs external durations and says so."""
    torch.manual_seed(0)
    bare = MVC(idim=IDIM, odim=80, **dict(tiny_conf, aligner="none"))
    assert bare.aligner is None
    full = set(mvc.state_dict())
    assert set(bare.state_dict()) == {k for k in full if not k.startswith("aligner.")} != full
    text, feats = TEXT[None], torch.randn(1, 12, 80, generator=torch.Generator().manual_seed(1))
    lengths = dict(text_lengths=torch.tensor([4]), feats_lengths=torch.tensor([12]))
    _raises(ValueError, r"no aligner \(aligner: none\): training needs external durations",
            bare, text=text, feats=feats, **lengths)
    loss, stats, _ = bare(text=text, feats=feats, durations=torch.tensor([[3, 3, 3, 3]]),
                          durations_lengths=torch.tensor([4]), **lengths)
    assert torch.isfinite(loss)


def test_unknown_component_through_tts_task(tmp_path, mvc_conf, build_espnet):
    from espnet2.tasks.tts import TTSTask

    conf = mvc_conf("mvc_tiny")
    conf["tts_conf"]["decoder"] = "grad_tts"
    conf["normalize"] = conf["pitch_normalize"] = conf["energy_normalize"] = None
    _raises(ValueError, "unknown decoder 'grad_tts'", build_espnet, TTSTask, conf, tmp_path, {})


# ---------------------------------------------------------------- through Text2Speech
@pytest.fixture(scope="module")
def text2speech(tmp_path_factory, mvc_conf, make_speech, build_espnet, save_for_inference):
    """Text2Speech over an untrained tiny cloning model and a multi-speaker one."""
    from espnet2.bin.tts_inference import Text2Speech
    from espnet2.tasks.tts import TTSTask

    n = int(0.5 * FS)
    batch = dict(text=torch.tensor([[2, 3, 4]]), text_lengths=torch.tensor([3]),
                 speech=make_speech(n)[None], speech_lengths=torch.tensor([n]))
    out = {}
    for name, update in (("clone", {}), ("multispk", dict(spks=3, style_encoder="none"))):
        workdir = tmp_path_factory.mktemp(f"t2s_{name}")
        conf = mvc_conf("mvc_tiny")
        conf["tts_conf"].update(update)
        torch.manual_seed(0)
        model, args = build_espnet(TTSTask, conf, workdir, batch)
        config, model_file = save_for_inference(model, args, workdir)
        voc = workdir / "gl.yaml"
        voc.write_text("griffin_lim_iters: 2\n")
        out[name] = Text2Speech(train_config=config, model_file=model_file,
                                vocoder_config=voc)
    out["ref"] = make_speech(int(0.6 * FS), f0=150.0, seed=3)
    return out


def test_t2s_empty_and_unknown_text(text2speech):
    tts, ref = text2speech["clone"], text2speech["ref"]
    # ESPnet's phn tokenizer turns "" into [<unk>]: the model names both causes
    info = _raises(ValueError, r"only unknown symbols", tts, "", speech=ref)
    assert "empty" in str(info.value)
    _raises(ValueError, r"only unknown symbols", tts, "zz qq xx", speech=ref)
    assert tts("a zz b", speech=ref)["duration"].shape == (3,)


def test_t2s_zero_waveform_is_silent(text2speech):
    tts = text2speech["clone"]
    _raises(ValueError, "silent or constant", tts, "a b c", speech=torch.zeros(FS))
    _raises(ValueError, "silent or constant", tts, "a b c", speech=np.zeros(FS, np.float32))


def test_t2s_nan_waveform(text2speech):
    tts = text2speech["clone"]
    wav = text2speech["ref"].clone()
    wav[1000:1010] = float("nan")
    _raises(ValueError, "NaN or Inf", tts, "a b c", speech=wav)


def test_t2s_short_reference(text2speech):
    tts = text2speech["clone"]
    min_frames = tts.tts.style_encoder.min_frames
    wav = text2speech["ref"][: 256 * (min_frames - 4)]
    _raises(ValueError, "reference too short", tts, "a b c", speech=wav)


def test_t2s_missing_reference_and_sids(text2speech):
    # ESPnet checks these before the model (use_gst / spks): its own messages
    _raises(RuntimeError, "Missing required argument: 'speech'", text2speech["clone"], "a b")
    _raises(RuntimeError, "Missing required argument: 'sids'", text2speech["multispk"], "a b")


def test_t2s_bad_decode_options(text2speech):
    tts, ref = text2speech["clone"], text2speech["ref"]
    _raises(ValueError, "alpha", tts, "a b", speech=ref, decode_conf={"alpha": 0.0})
    _raises(ValueError, "n_timesteps must be >= 0", tts, "a b", speech=ref,
            decode_conf={"n_timesteps": -1})
    _raises(ValueError, "solver must be one of", tts, "a b", speech=ref,
            decode_conf={"solver": "dpm++"})


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_duration_scale_must_be_positive(tiny_conf, scale):
    _raises(ValueError, r"duration_scale must be > 0", MVC, idim=IDIM, odim=80,
            **dict(tiny_conf, duration_scale=scale))


def test_cached_viterbi_equals_espnet():
    """The aligner's Viterbi (ESPnet's search, numba-cached) gives ESPnet's durations and
    binarisation loss exactly."""
    from espnet2.gan_tts.jets.alignments import viterbi_decode as espnet_viterbi

    from espnet_mvc.tts.mvc.aligner import viterbi_decode

    g = torch.Generator().manual_seed(0)
    log_p = torch.log_softmax(torch.randn(3, 40, 12, generator=g), -1)
    text_lengths, feats_lengths = torch.tensor([12, 7, 9]), torch.tensor([40, 33, 9])
    ds, loss = viterbi_decode(log_p, text_lengths, feats_lengths)
    want_ds, want_loss = espnet_viterbi(log_p, text_lengths, feats_lengths)
    assert torch.equal(ds, want_ds) and torch.equal(loss, want_loss)
    assert torch.equal(ds.sum(1).long(), feats_lengths)
