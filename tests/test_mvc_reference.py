"""The reference encoder's band limit and the training-only random channel of references."""

import pytest
import torch

from espnet_mvc.nets.ssm import BiMambaStackConfig
from espnet_mvc.tts.mvc.style_encoder import MambaReferenceEncoder
from espnet_mvc.tts.mvc.training import random_reference


def _encoder(band_bins=None):
    torch.manual_seed(0)
    return MambaReferenceEncoder(odim=80, style_dim=16, channels=32, conv_layers=1,
                                 stack=BiMambaStackConfig(num_blocks=1, dropout=0.0),
                                 min_frames=8, band_bins=band_bins).eval()


@torch.no_grad()
def test_band_limited_encoder_ignores_the_top_bins():
    enc = _encoder(band_bins=68)
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(1, 40, 80, generator=g)
    lengths = torch.tensor([40])
    other_top = ref.clone()
    other_top[..., 68:] = torch.randn(1, 40, 12, generator=g) * 3 - 2  # e.g. a 16 kHz clip's floor
    torch.testing.assert_close(enc(ref, lengths), enc(other_top, lengths), atol=0, rtol=0)
    # ... while the band it reads still makes the style
    other_low = ref.clone()
    other_low[..., :10] += 1.0
    assert (enc(ref, lengths) - enc(other_low, lengths)).abs().max() > 1e-3
    # the full-band encoder reads the top bins (same weights)
    full = _encoder(None)
    assert (full(ref, lengths) - full(other_top, lengths)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="band_bins must be in 1..80"):
        _encoder(band_bins=81)


def _mvc(conf, ref_augment):
    from conftest import TOKENS

    from espnet_mvc.tts.mvc import MVC

    torch.manual_seed(0)
    return MVC(idim=len(TOKENS), odim=80, **dict(conf, ref_augment=ref_augment))


def test_random_channel_share_and_size(mvc_conf):
    conf = mvc_conf("mvc_tiny")["tts_conf"]
    feats = torch.zeros(400, 50, 80)
    lengths = torch.full((400,), 50)
    ref, ref_len = random_reference(_mvc(conf, 0.0), feats, lengths)
    assert ref.abs().max() == 0  # off: the crop itself
    torch.manual_seed(3)
    ref, ref_len = random_reference(_mvc(conf, 0.5), feats, lengths)
    offs = ref[:, 0]  # (B, odim): one curve per reference, the same in every frame
    torch.testing.assert_close(ref, offs[:, None].expand_as(ref))
    changed = offs.abs().amax(1) > 0
    assert 0.4 < changed.float().mean() < 0.6
    assert offs.abs().max() <= 1.05  # tilt 0.3 + ripple 0.15 + gain 0.3 at most (+ rounding)
    # smooth over the bins: neighbouring bins differ little, the ends a lot
    assert (offs[:, 1:] - offs[:, :-1]).abs().max() < 0.05
    assert (offs[changed, -1] - offs[changed, 0]).abs().mean() > 0.1
    with pytest.raises(ValueError, match="ref_augment is a share"):
        _mvc(conf, 1.5)
