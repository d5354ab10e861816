"""The project's one resampler, padding mask, mel-cepstral distance, Kaldi reader and
data-dir writer: each gives the values of the copies it replaced (scipy's polyphase filter,
ESPnet's masks, the streaming MCD formula, the three writers' bytes)."""

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly

from espnet_mvc.inference.reference_audio import resample
from espnet_mvc.metrics.mcd import _mcd_db, mcd_from_features, mcd_from_log_mels
from espnet_mvc.nets.masks import valid_mask
from espnet_mvc.recipe import datadir

ROOT = Path(__file__).resolve().parents[1]
RATES = [(22050, 16000), (22050, 24000), (48000, 22050), (16000, 44100)]


# ---------------------------------------------------------------- silence trimming


def _clips(n: int):
    """Sound in silence: noise bursts, tones, fades, with and without a noise floor."""
    rng = np.random.default_rng(1)
    for i in range(n):
        length = int(rng.integers(300, 60000))
        wav = np.zeros(length, np.float32)
        a, b = sorted(rng.integers(0, length, 2))
        if i % 4 == 1:
            wav[a:b] = np.sin(np.arange(b - a) * rng.uniform(0.01, 1)) * rng.uniform(1e-3, 1)
        else:
            wav[a:b] = rng.standard_normal(b - a) * rng.uniform(1e-4, 1)
        if i % 4 != 3:
            wav += (rng.standard_normal(length) * 10 ** rng.uniform(-7, -2)).astype(np.float32)
        if i % 4 == 2:
            wav *= np.linspace(0, 1, length, dtype=np.float32) ** 3
        yield wav


def test_trim_silence_cuts_where_librosa_does():
    import librosa

    from espnet_mvc.inference.reference_audio import trim_silence

    clips = list(_clips(200))
    clips += [sf_read(f) for f in sorted((ROOT / "espnet_mvc/pretrained").rglob("*.flac"))[:20]]
    for wav in clips:
        expected, _ = librosa.effects.trim(wav, top_db=40, frame_length=1024, hop_length=256)
        np.testing.assert_array_equal(trim_silence(wav, 22050), expected if expected.size else wav)


def sf_read(path):
    import soundfile as sf

    return sf.read(str(path), dtype="float32")[0]


# ---------------------------------------------------------------- resampler


@pytest.mark.parametrize("sr_in, sr_out", RATES)
def test_resample_is_polyphase_in_the_dtype_asked_for(sr_in, sr_out):
    x = np.random.default_rng(0).standard_normal(sr_in // 2).astype(np.float32)
    g = math.gcd(sr_in, sr_out)
    # float32 (reference clips, stage 2): the filter runs in float32, as both copies did
    y = resample(x, sr_in, sr_out)
    assert y.dtype == np.float32 and len(y) == math.ceil(len(x) * sr_out / sr_in)
    np.testing.assert_array_equal(y, resample_poly(x, sr_out // g, sr_in // g))
    # float64 (the metrics): float32 input too is filtered in float64, as the metrics did
    y64 = resample(x, sr_in, sr_out, dtype=np.float64)
    assert y64.dtype == np.float64
    np.testing.assert_array_equal(y64, resample_poly(x.astype(np.float64), sr_out // g, sr_in // g))


def test_resample_returns_the_input_when_the_rates_match():
    x = np.zeros(100, np.float32)
    assert resample(x, 16000, 16000) is x
    assert resample(x, 16000, 16000, dtype=np.float64) is x


def test_stage2_worker_uses_the_one_resampler():
    from espnet_mvc.recipe import format_wav as fw

    assert Path(fw.resample.__code__.co_filename) == (
        ROOT / "espnet_mvc" / "inference" / "reference_audio.py")
    x = np.random.default_rng(1).standard_normal(22050).astype(np.float32)
    np.testing.assert_array_equal(fw.resample(x, 22050, 16000), resample(x, 22050, 16000))


# ---------------------------------------------------------------- padding mask


@pytest.mark.parametrize("lengths, max_len", [([5, 3, 1, 7], 7), ([2, 2], 2), ([4, 1, 3], 6)])
def test_valid_mask_equals_espnets_masks(lengths, max_len):
    from espnet.nets.pytorch_backend.nets_utils import make_non_pad_mask, make_pad_mask

    lens = torch.tensor(lengths)
    mask = valid_mask(lens, max_len)
    assert mask.dtype == torch.bool and mask.shape == (len(lengths), max_len)
    assert torch.equal(mask, ~make_pad_mask(lens, maxlen=max_len))
    if max_len == max(lengths):
        assert torch.equal(mask, make_non_pad_mask(lens))
    for b, n in enumerate(lengths):  # True exactly on the first n frames
        assert mask[b].sum() == n and mask[b, :n].all()


def test_gaussian_upsampling_and_aligner_see_espnets_masks():
    from espnet2.gan_tts.jets.alignments import viterbi_decode
    from espnet.nets.pytorch_backend.nets_utils import make_non_pad_mask, make_pad_mask

    from espnet_mvc.tts.mvc.aligner import JETSAligner
    from espnet_mvc.tts.mvc.length_regulator import TokenToFrame

    torch.manual_seed(0)
    text_lengths = torch.tensor([5, 3, 2])
    hs = torch.randn(3, 5, 8)
    ds = torch.tensor([[1, 2, 3, 1, 2], [2, 2, 1, 0, 0], [3, 1, 0, 0, 0]])
    lr = TokenToFrame("gaussian")
    frames_per_utt = ds.sum(1)
    expected = lr.impl(hs, ds.float(), make_non_pad_mask(frames_per_utt),
                       make_non_pad_mask(text_lengths))
    assert torch.equal(lr(hs, ds, text_lengths), expected)

    aligner = JETSAligner(adim=8, odim=4).eval()
    feats, feats_lengths = torch.randn(3, 9, 4), torch.tensor([9, 6, 4])
    with torch.no_grad():
        log_p = aligner.alignment_module(hs, feats, text_lengths, feats_lengths,
                                         make_pad_mask(text_lengths))
        ds_ref, bin_ref = viterbi_decode(log_p, text_lengths, feats_lengths)
        fs_ref = aligner.forwardsum_loss(log_p, text_lengths, feats_lengths)
        ds_new, fs_new, bin_new = aligner(hs, feats, text_lengths, feats_lengths)
    assert torch.equal(ds_new, ds_ref.long())
    assert torch.equal(fs_new, fs_ref) and torch.equal(bin_new, bin_ref)


# ---------------------------------------------------------------- mel-cepstral distance


def streaming_mcd_as_it_was(mel_a, mel_b, order=24):
    """espnet_mvc.inference.streaming.mel_cepstral_distance before it became mcd_from_log_mels."""
    from scipy.fft import dct

    ca = dct(np.asarray(mel_a, np.float64), type=2, axis=-1, norm="ortho")[:, 1 : order + 1]
    cb = dct(np.asarray(mel_b, np.float64), type=2, axis=-1, norm="ortho")[:, 1 : order + 1]
    k = 10.0 / np.log(10.0) * np.sqrt(2.0)
    return float(np.mean(k * np.sqrt(np.sum((ca - cb) ** 2, axis=-1))))


def test_mcd_from_log_mels_gives_the_streaming_figures():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 80))
    b = a + 0.1 * rng.standard_normal((50, 80))
    assert mcd_from_log_mels(a, b) == streaming_mcd_as_it_was(a, b)
    assert mcd_from_log_mels(a, b, order=10) == streaming_mcd_as_it_was(a, b, order=10)
    assert mcd_from_log_mels(torch.tensor(a), torch.tensor(b)) == mcd_from_log_mels(a, b)
    assert mcd_from_log_mels(a, a) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        mcd_from_log_mels(a, b[:-1])


def test_mcd_from_features_is_the_same_formula_on_dtw_pairs():
    rng = np.random.default_rng(1)
    gen = SimpleNamespace(mcep=rng.standard_normal((12, 25)))
    ref = SimpleNamespace(mcep=rng.standard_normal((10, 25)))
    ix, iy = np.array([0, 1, 2, 4, 6, 8, 11]), np.array([0, 1, 1, 3, 5, 7, 9])
    diff = gen.mcep[ix, 1:] - ref.mcep[iy, 1:]
    k = 10.0 / np.log(10.0) * np.sqrt(2.0)
    as_it_was = float(np.mean(k * np.sqrt(np.sum(diff**2, axis=1))))
    assert mcd_from_features(gen, ref, (ix, iy)) == as_it_was
    with_c0 = _mcd_db(gen.mcep[ix], ref.mcep[iy])
    assert mcd_from_features(gen, ref, (ix, iy), include_c0=True) == with_c0


# ---------------------------------------------------------------- Kaldi reader


def test_read_kv_strict_names_the_line_and_lenient_goes_on(tmp_path):
    f = tmp_path / "wav.scp"
    f.write_text("u1 a.wav\nu2\n\nu3 c d.wav \nu1 dup.wav\n", encoding="utf-8")
    with pytest.raises(datadir.DataDirError, match=r"line 2: no value for 'u2'"):
        datadir.read_kv(f)
    warn = []
    keys, kv = datadir.read_kv(f, warn=warn)
    assert keys == ["u1", "u2", "u3"] and kv == {"u1": "a.wav", "u2": "", "u3": "c d.wav"}
    assert [w.split(": ", 1)[1] for w in warn] == [
        "line 2: no value for 'u2'", "line 3: empty line", "line 5: duplicate key 'u1'"]


# ---------------------------------------------------------------- data-dir writer


def test_write_datadir_bytes(tmp_path):
    utts = [dict(id=f"{spk}-{i}", wav=f"/w/{spk}{i}.wav", text=f"Hallo {i}.", spk=spk, lang="de",
                 ref=f"/r/{spk}.wav", text_phn="h a l o") for spk in ("b", "a") for i in (2, 1)]
    d = tmp_path / "set"
    (d / "old").mkdir(parents=True)  # replaced as a whole
    datadir.write_datadir(d, utts, {"text_phn": "text_phn"})
    ids = ["a-1", "a-2", "b-1", "b-2"]
    assert sorted(p.name for p in d.iterdir()) == [
        "ref.scp", "spk2utt", "text", "text_phn", "utt2lang", "utt2spk", "wav.scp"]
    wav_scp = "".join(f"{u} /w/{u.replace('-', '')}.wav\n" for u in ids)
    assert (d / "wav.scp").read_bytes() == wav_scp.encode()
    assert (d / "text").read_text() == "".join(f"{u} Hallo {u[-1]}.\n" for u in ids)
    assert (d / "utt2spk").read_text() == "a-1 a\na-2 a\nb-1 b\nb-2 b\n"
    assert (d / "spk2utt").read_text() == "a a-1 a-2\nb b-1 b-2\n"
    assert (d / "ref.scp").read_text() == "a-1 /r/a.wav\na-2 /r/a.wav\nb-1 /r/b.wav\nb-2 /r/b.wav\n"
    assert (d / "text_phn").read_text() == "".join(f"{u} h a l o\n" for u in ids)
    assert datadir.validate(d) == 4
    # no ref.scp unless every utterance has one
    utts[0]["ref"] = None
    datadir.write_datadir(d, utts)
    assert not (d / "ref.scp").exists() and not (d / "text_phn").exists()
