"""ESPnet's ``LogMelFbank`` built without librosa's filters (:mod:`espnet_mvc.espnet.features`).

* :func:`mel_filterbank` gives ``librosa.filters.mel``'s float32 values exactly, for the
  options ESPnet's ``LogMel`` passes (slaney and HTK scales, with and without ``fmax``).
* :func:`log_mel_fbank` returns ESPnet's own ``LogMelFbank``, equal to
  ``LogMelFbank(**conf)`` in class, attributes, buffers, ``repr`` and features.
"""

import warnings

import librosa
import numpy as np
import pytest
import torch
from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

from espnet_mvc.espnet.features import log_mel_fbank, mel_filterbank

MEL_OPTIONS = [
    dict(sr=24000, n_fft=1024, n_mels=80, fmin=0, fmax=12000, htk=False),  # kokoro_en
    dict(sr=22050, n_fft=1024, n_mels=80, fmin=80, fmax=7600, htk=False),  # ESPnet's default
    dict(sr=16000, n_fft=512, n_mels=80, fmin=0, fmax=8000.0, htk=True),
    dict(sr=44100, n_fft=2048, n_mels=128, fmin=0, fmax=None, htk=False),
    dict(sr=8000, n_fft=256, n_mels=40, fmin=20.5, fmax=3999, htk=False),
]


@pytest.mark.parametrize("options", MEL_OPTIONS, ids=lambda o: f"{o['sr']}-{o['htk']}")
def test_mel_filterbank_is_librosas(options):
    ref = librosa.filters.mel(**options)
    mine = mel_filterbank(**options)
    assert mine.dtype == ref.dtype == np.float32 and mine.shape == ref.shape
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-6)
    assert np.array_equal(mine, ref)  # the same arithmetic: the same bits


def test_mel_filterbank_warns_of_empty_filters_like_librosa():
    options = dict(sr=8000, n_fft=64, n_mels=64, fmin=0, fmax=4000)
    with pytest.warns(UserWarning, match="Empty filters"):
        ref = librosa.filters.mel(**options)
    with pytest.warns(UserWarning, match="Empty filters"):
        mine = mel_filterbank(**options)
    assert np.array_equal(mine, ref)


FBANK_CONFS = [
    dict(fs=24000, n_fft=1024, hop_length=300, win_length=1024, fmin=0, fmax=12000,
         n_mels=80),  # the shipped model's feats_extract_conf
    dict(),  # LogMelFbank's defaults
    dict(fs="22.05k", n_fft=512, hop_length=128, win_length=None, fmin=None, fmax=None,
         n_mels=40, htk=True, log_base=None, center=False, normalized=True),
]


def _attributes(module: torch.nn.Module) -> dict:
    return {k: v for k, v in vars(module).items()
            if not k.startswith("_") and k != "training"}


@pytest.mark.parametrize("conf", FBANK_CONFS, ids=["shipped", "defaults", "other"])
def test_log_mel_fbank_is_espnets(conf):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogMelFbank(**conf)
    mine = log_mel_fbank(**conf)
    assert type(mine) is LogMelFbank
    assert repr(mine) == repr(ref)
    pairs = list(zip(mine.named_modules(), ref.named_modules(), strict=True))
    for (name, a), (name_ref, b) in pairs:
        assert name == name_ref and type(a) is type(b), name
        assert _attributes(a) == _attributes(b), name
        assert list(a._buffers) == list(b._buffers), name
        assert a._non_persistent_buffers_set == b._non_persistent_buffers_set, name
    sa, sb = mine.state_dict(), ref.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k
    assert mine.get_parameters() == ref.get_parameters()
    assert mine.output_size() == ref.output_size()
    torch.manual_seed(0)
    speech, lengths = torch.randn(2, 9000), torch.tensor([9000, 6000])
    (fa, la), (fb, lb) = mine(speech, lengths), ref(speech, lengths)
    assert torch.equal(fa, fb) and torch.equal(la, lb)
