"""Model size of the paper configuration (``conf/mvc_base.yaml``).

The paper's "conditioning encoder" (text encoder + duration predictor + prosody predictor,
``MVC.conditioning_encoder()``) is ~21M parameters; it must stay in [19M, 23M] with the
vocabulary of a typical phoneme token list (~80 symbols). Sizes of the building blocks
(DESIGN.md §2: one Mamba ~0.44M, one gated block ~1.07M at d_model 256) are checked too,
so a regression points at the part that changed.
"""

import pytest
import torch.nn as nn

from espnet_mvc.nets.ssm import GatedBiMambaBlock, Mamba
from espnet_mvc.tts.mvc import MVC

VOCAB = 80  # e.g. ESPnet's espeak-ng phoneme token list for LJSpeech: 70-90 entries


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def base(mvc_conf):
    conf = mvc_conf("mvc_base")
    feats_conf = conf["feats_extract_conf"]
    return MVC(idim=VOCAB, odim=feats_conf["n_mels"], **conf["tts_conf"])


def test_base_config_is_the_paper_shape(base, mvc_conf):
    conf = mvc_conf("mvc_base")["tts_conf"]
    assert conf["adim"] == 256 and conf["d_state"] == 16 and conf["expand"] == 2
    for part in ("text_encoder", "duration_predictor", "prosody_predictor"):
        blocks = [m for m in getattr(base, part).modules() if isinstance(m, GatedBiMambaBlock)]
        assert len(blocks) == 6, part
        assert all(b.fusion == "gated" and b.norm.style_dim == 128 for b in blocks), part


def test_conditioning_encoder_parameter_count(base):
    enc = base.conditioning_encoder()
    assert set(enc.keys()) == {"text_encoder", "duration_predictor", "prosody_predictor"}
    n = _count(enc)
    assert 19_000_000 <= n <= 23_000_000, f"conditioning encoder has {n / 1e6:.2f}M parameters"
    # the three stacks share it about equally (none is a stub)
    for part in enc.values():
        assert 0.25 < _count(part) / n < 0.42


def test_building_block_sizes():
    assert 0.40e6 < _count(Mamba(256, d_state=16, d_conv=4, expand=2)) < 0.48e6
    assert 1.0e6 < _count(GatedBiMambaBlock(256, 128, "gated", 16, 4, 2)) < 1.15e6


def test_concat_ablation_is_comparable_in_size(base, mvc_conf):
    concat = MVC(idim=VOCAB, odim=80, **mvc_conf("mvc_concat")["tts_conf"])
    n_base, n_concat = _count(base.conditioning_encoder()), _count(concat.conditioning_encoder())
    assert n_concat != n_base  # AdaLN projections are gone
    assert abs(n_concat - n_base) / n_base < 0.1, (n_base, n_concat)


def test_tiny_is_tiny(mvc_conf):
    tiny = MVC(idim=VOCAB, odim=80, **mvc_conf("mvc_tiny")["tts_conf"])
    assert _count(tiny) < 500_000
